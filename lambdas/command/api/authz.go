package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/secure-smart-city/platform/fleetspec"
)

// callerRole returns the IAM role name in an assumed-role session ARN,
// arn:<partition>:sts::<account>:assumed-role/<name>/<session>, which is how API Gateway names
// an IAM-authorized caller using a role (the ARN has no role path). account is the API's own
// account: the resource policy already denies other accounts, and this check keeps a
// mistaken policy from admitting a role of the same name elsewhere.
func callerRole(arn, account string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" {
		return "", fmt.Errorf("caller %q is not an ARN", truncate(arn, 256))
	}
	if parts[2] != "sts" || !strings.HasPrefix(parts[5], "assumed-role/") {
		return "", fmt.Errorf("caller %s is not an assumed IAM role; only operator roles may call this API", truncate(arn, 256))
	}
	if account == "" || parts[4] != account {
		return "", fmt.Errorf("caller %s is not of this API's account %q", truncate(arn, 256), account)
	}
	name, session, ok := strings.Cut(strings.TrimPrefix(parts[5], "assumed-role/"), "/")
	if !ok || name == "" || session == "" {
		return "", fmt.Errorf("caller %q is not an assumed-role session ARN", truncate(arn, 256))
	}
	return name, nil
}

// operator finds the fleet's operator role that made the request, or says why there is none.
func (h *Handler) operator(ev events.APIGatewayProxyRequest) (fleetspec.Operator, string) {
	name, err := callerRole(ev.RequestContext.Identity.UserArn, ev.RequestContext.AccountID)
	if err != nil {
		return fleetspec.Operator{}, err.Error()
	}
	for _, op := range h.Fleet.Operators {
		// IAM role names are unique without regard to case, and the fleet file declares each
		// once; an exact match is what the resource policy's ARN patterns admit.
		if op.Role == name {
			return op, ""
		}
	}
	return fleetspec.Operator{}, fmt.Sprintf("role %s is not an operator role of this fleet", name)
}

// authorize says why op may not send command spec with params to a device of class, or ""
// when it may. A string param's value must be one the role lists for it, when the role lists
// any; a critical value (fleetspec.Field.Critical) only passes when the role lists it.
func authorize(op fleetspec.Operator, class fleetspec.DeviceClass, spec fleetspec.Command, params map[string]any) string {
	var perm *fleetspec.Permission
	for i := range op.Allow {
		if op.Allow[i].Class == class.ID {
			perm = &op.Allow[i]
		}
	}
	if perm == nil {
		return fmt.Sprintf("role %s may not send commands to class %s", op.Role, class.ID)
	}
	if !slices.Contains(perm.Commands, spec.Name) {
		return fmt.Sprintf("role %s may not send %s to class %s (it may send: %s)", op.Role, spec.Name, class.ID, strings.Join(perm.Commands, ", "))
	}
	for _, p := range spec.Params {
		s, ok := params[p.Name].(string)
		if !ok {
			continue
		}
		var allowed []string
		narrowed := false
		for _, pv := range perm.Values {
			if pv.Command == spec.Name && pv.Param == p.Name {
				allowed, narrowed = pv.Values, true
			}
		}
		switch {
		case narrowed && !slices.Contains(allowed, s):
			return fmt.Sprintf("role %s may not send %s with %s %q to class %s (it may use: %s)", op.Role, spec.Name, p.Name, s, class.ID, strings.Join(allowed, ", "))
		case !narrowed && slices.Contains(p.Critical, s):
			return fmt.Sprintf("%s %q of %s is a critical value for class %s, and role %s does not declare it", p.Name, s, spec.Name, class.ID, op.Role)
		}
	}
	return ""
}
