package api

import (
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

// TestOperatorScope plays operator roles sending commands outside their scope: each is
// refused with 403 and a reason, nothing is delivered, an audit record says why and a metric
// counts it; the same role inside its scope is served.
func TestOperatorScope(t *testing.T) {
	cases := []struct {
		name, role, thing, body string
		// status 202 for allowed; otherwise 403 with reason containing wantIn.
		status int
		wantIn string
	}{
		{"lighting operator dims a light", "lighting-operator", "sl-001", `{"command": "set-brightness", "level": 10}`, 202, ""},
		{"lighting operator reboots a light", "lighting-operator", "sl-001", `{"command": "reboot"}`, 403,
			"role lighting-operator may not send reboot to class street_light (it may send: set-light, set-brightness)"},
		{"lighting operator commands a signal", "lighting-operator", "ts-001", `{"command": "set-mode", "mode": "normal"}`, 403,
			"role lighting-operator may not send commands to class traffic_signal"},
		{"traffic operator sets normal", "traffic-operator", "ts-001", `{"command": "set-mode", "mode": "normal"}`, 202, ""},
		{"traffic operator sets flashing without declaring it", "traffic-operator", "ts-001", `{"command": "set-mode", "mode": "flashing"}`, 403,
			`mode "flashing" of set-mode is a critical value for class traffic_signal, and role traffic-operator does not declare it`},
		{"traffic operator switches a signal off", "traffic-operator", "ts-001", `{"command": "set-mode", "mode": "off"}`, 403,
			`mode "off" of set-mode is a critical value`},
		{"day shift limited to normal", "traffic-day-shift", "ts-001", `{"command": "set-mode", "mode": "off"}`, 403,
			`role traffic-day-shift may not send set-mode with mode "off" to class traffic_signal (it may use: normal)`},
		{"engineer declares flashing", operatorRole, "ts-001", `{"command": "set-mode", "mode": "flashing"}`, 202, ""},
		{"read-only role sends a command", "auditor", "sl-001", `{"command": "set-light", "on": true}`, 403,
			"role auditor may not send commands to class street_light"},
		{"role not in the fleet", "AdministratorAccess", "sl-001", `{"command": "set-light", "on": true}`, 403,
			"role AdministratorAccess is not an operator role of this fleet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture()
			status, body := f.do(t, as(post(c.thing, c.body), c.role))
			if status != c.status {
				t.Fatalf("status = %d, want %d (body %v)", status, c.status, body)
			}
			audits := f.audits(t)
			if c.status == 202 {
				if len(f.iot.publishes) != 1 || len(audits) != 2 || audits[1].Role != c.role {
					t.Errorf("allowed command: publishes %d, audit %+v", len(f.iot.publishes), audits)
				}
				return
			}
			if msg := body["message"].(string); !strings.Contains(msg, c.wantIn) || !strings.HasPrefix(msg, "forbidden: ") {
				t.Errorf("message %q does not give the reason %q", msg, c.wantIn)
			}
			if len(f.iot.publishes)+len(f.iot.shadows) != 0 {
				t.Error("an out-of-scope command was delivered")
			}
			if len(audits) != 1 || audits[0].Outcome != OutcomeForbidden || audits[0].Status != 403 || !strings.Contains(audits[0].Reason, c.wantIn) {
				t.Errorf("audit = %+v, want one forbidden record with the reason", audits)
			}
			reason := contract.ReasonOutOfScope
			if strings.Contains(c.wantIn, "not an operator role") {
				reason = contract.ReasonNotOperator
			}
			wantMetric(t, f, contract.MetricRefused, contract.DimensionReason, reason)
		})
	}
}

// TestCallersThatAreNotOperatorRoles: an IAM user, another account's role of the same name,
// a federated user and a malformed ARN are refused, for commands (audited) and reads.
func TestCallersThatAreNotOperatorRoles(t *testing.T) {
	for _, c := range []struct{ arn, wantIn string }{
		{"arn:aws:iam::123456789012:user/operator", "is not an assumed IAM role"},
		{"arn:aws:sts::999999999999:assumed-role/" + operatorRole + "/mallory", `is not of this API's account "123456789012"`},
		{"arn:aws:sts::123456789012:federated-user/bob", "is not an assumed IAM role"},
		{"arn:aws:sts::123456789012:assumed-role/" + operatorRole, "is not an assumed-role session ARN"},
		{"not-an-arn", "is not an ARN"},
	} {
		t.Run(c.arn, func(t *testing.T) {
			f := newFixture()
			ev := post("sl-001", `{"command": "reboot"}`)
			ev.RequestContext.Identity.UserArn = c.arn
			status, body := f.do(t, ev)
			if status != 403 || !strings.Contains(body["message"].(string), c.wantIn) {
				t.Errorf("POST: %d %v, want 403 with %q", status, body, c.wantIn)
			}
			if len(f.iot.publishes) != 0 {
				t.Error("delivered")
			}
			if a := f.audits(t); len(a) != 1 || a[0].Outcome != OutcomeForbidden || a[0].Caller != c.arn {
				t.Errorf("audit = %+v", a)
			}
			g := get("sl-001")
			g.RequestContext.Identity.UserArn = c.arn
			if status, _ := f.do(t, g); status != 403 {
				t.Errorf("GET: %d, want 403", status)
			}
			if len(f.db.gets) != 0 {
				t.Error("a refused read reached the state table")
			}
		})
	}
}

func TestCallerRole(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sts::123456789012:assumed-role/city-operator/alice":                  "city-operator",
		"arn:aws-us-gov:sts::123456789012:assumed-role/city-operator/alice@city.test": "city-operator",
		"arn:aws:sts::123456789012:assumed-role/a+b=c,d.e@f_g-h/s":                    "a+b=c,d.e@f_g-h",
	} {
		if got, err := callerRole(arn, testAccount); err != nil || got != want {
			t.Errorf("callerRole(%q) = %q, %v; want %q", arn, got, err, want)
		}
	}
	if _, err := callerRole("arn:aws:sts::123456789012:assumed-role/x/y", ""); err == nil {
		t.Error("an event without the API's account passed")
	}
}
