package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

// Env is the function's configuration.
type Env struct {
	StateTable, AuditTable string
	// FleetFile is the runtime fleet copy. Default: contract.FleetFile beside the executable.
	FleetFile string
	// DataEndpoint is the account's iot:Data-ATS host. Default: discovered at cold start.
	DataEndpoint string
	// ThingTypePrefix names the fleet's thing types. Required.
	ThingTypePrefix string
}

// thingTypePrefix is a fleet name and stage joined by "_" (fleetspec.(*Fleet).RulePrefix).
var thingTypePrefix = regexp.MustCompile(`^[a-z][a-z0-9_]{0,80}$`)

// ReadEnv reads the configuration through lookup (os.LookupEnv in main); executable is the
// running binary's path, from which the default fleet file resolves.
func ReadEnv(lookup func(string) (string, bool), executable string) (Env, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	e := Env{
		StateTable:      get(contract.EnvStateTable),
		AuditTable:      get(contract.EnvAuditTable),
		FleetFile:       get(contract.EnvFleetFile),
		DataEndpoint:    get(contract.EnvDataEndpoint),
		ThingTypePrefix: get(contract.EnvThingTypePrefix),
	}
	var missing []string
	if e.StateTable == "" {
		missing = append(missing, contract.EnvStateTable)
	}
	if e.AuditTable == "" {
		missing = append(missing, contract.EnvAuditTable)
	}
	if e.ThingTypePrefix == "" {
		missing = append(missing, contract.EnvThingTypePrefix)
	}
	if len(missing) > 0 {
		return Env{}, fmt.Errorf("environment variables not set: %s", strings.Join(missing, ", "))
	}
	if !thingTypePrefix.MatchString(e.ThingTypePrefix) {
		return Env{}, fmt.Errorf("environment variable %s: %q is not a thing type prefix (lowercase letters, digits and underscores, e.g. smartcity_dev)",
			contract.EnvThingTypePrefix, e.ThingTypePrefix)
	}
	if e.FleetFile == "" {
		e.FleetFile = filepath.Join(filepath.Dir(executable), contract.FleetFile)
	}
	e.DataEndpoint = strings.TrimSuffix(strings.TrimPrefix(e.DataEndpoint, "https://"), "/")
	return e, nil
}

// LoadFleet reads the runtime fleet copy ((*fleetspec.Fleet).RuntimeJSON) at path.
func LoadFleet(path string) (*fleetspec.Fleet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fleet file %s: %w", path, err)
	}
	f, err := fleetspec.ParseRuntime(data)
	if err != nil {
		return nil, fmt.Errorf("fleet file %s: %w", path, err)
	}
	return f, nil
}

// EndpointDescriber is the IoT control plane (an *iot.Client).
type EndpointDescriber interface {
	DescribeEndpoint(ctx context.Context, in *iot.DescribeEndpointInput, opts ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error)
}

// DataEndpoint returns configured when set, else asks IoT for the account's iot:Data-ATS
// endpoint. main calls it once at cold start and keeps the answer for the process lifetime,
// so the endpoint is never needed at synth and costs one call per execution environment.
func DataEndpoint(ctx context.Context, configured string, d EndpointDescriber) (string, error) {
	if configured != "" {
		return configured, nil
	}
	out, err := d.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: aws.String("iot:Data-ATS")})
	if err != nil {
		return "", fmt.Errorf("describe iot:Data-ATS endpoint: %w", err)
	}
	if out == nil || aws.ToString(out.EndpointAddress) == "" {
		return "", errors.New("describe iot:Data-ATS endpoint: empty answer")
	}
	return aws.ToString(out.EndpointAddress), nil
}
