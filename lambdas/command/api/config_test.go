package api

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/lambdas/command/contract"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestReadEnv(t *testing.T) {
	got, err := ReadEnv(lookup(map[string]string{
		contract.EnvStateTable: "state", contract.EnvAuditTable: "audit", contract.EnvDataEndpoint: "https://abc-ats.iot.eu-west-1.amazonaws.com/",
		contract.EnvThingTypePrefix: "smartcity_dev",
	}), "/var/task/bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	want := Env{StateTable: "state", AuditTable: "audit", FleetFile: "/var/task/fleet.json", DataEndpoint: "abc-ats.iot.eu-west-1.amazonaws.com", ThingTypePrefix: "smartcity_dev"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err = ReadEnv(lookup(map[string]string{contract.EnvStateTable: "s", contract.EnvAuditTable: "a", contract.EnvFleetFile: "/opt/fleet.json", contract.EnvThingTypePrefix: "x_prod"}), "/var/task/bootstrap")
	if err != nil || got.FleetFile != "/opt/fleet.json" || got.DataEndpoint != "" {
		t.Errorf("got %+v, %v", got, err)
	}
	_, err = ReadEnv(lookup(nil), "/x")
	if err == nil || !strings.Contains(err.Error(), "STATE_TABLE, AUDIT_TABLE, THING_TYPE_PREFIX") {
		t.Errorf("missing variables: err = %v", err)
	}
	_, err = ReadEnv(lookup(map[string]string{contract.EnvStateTable: "s", contract.EnvAuditTable: "a", contract.EnvThingTypePrefix: "SmartCity-dev"}), "/x")
	if err == nil || !strings.Contains(err.Error(), `THING_TYPE_PREFIX: "SmartCity-dev" is not a thing type prefix`) {
		t.Errorf("bad prefix: err = %v", err)
	}
}

func TestLoadFleet(t *testing.T) {
	data, err := testFleet().RuntimeJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fleet.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFleet(path)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := f.Class("street_light"); !ok || len(c.Commands) != 3 {
		t.Errorf("class street_light = %+v, %v", c, ok)
	}
	if _, err := LoadFleet(filepath.Join(t.TempDir(), "missing.json")); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: err = %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFleet(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("invalid file: err = %v", err)
	}
}

type fakeDescriber struct {
	calls int
	addr  string
	err   error
}

func (f *fakeDescriber) DescribeEndpoint(_ context.Context, in *iot.DescribeEndpointInput, _ ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error) {
	f.calls++
	if aws.ToString(in.EndpointType) != "iot:Data-ATS" {
		return nil, errors.New("wrong endpoint type " + aws.ToString(in.EndpointType))
	}
	if f.err != nil {
		return nil, f.err
	}
	return &iot.DescribeEndpointOutput{EndpointAddress: aws.String(f.addr)}, nil
}

func TestDataEndpoint(t *testing.T) {
	d := &fakeDescriber{addr: "abc-ats.iot.eu-west-1.amazonaws.com"}
	got, err := DataEndpoint(context.Background(), "configured.example", d)
	if err != nil || got != "configured.example" || d.calls != 0 {
		t.Errorf("configured: %q, %v, %d calls", got, err, d.calls)
	}
	got, err = DataEndpoint(context.Background(), "", d)
	if err != nil || got != "abc-ats.iot.eu-west-1.amazonaws.com" || d.calls != 1 {
		t.Errorf("discovered: %q, %v, %d calls", got, err, d.calls)
	}
	d = &fakeDescriber{err: errors.New("AccessDeniedException")}
	if _, err := DataEndpoint(context.Background(), "", d); err == nil || !strings.Contains(err.Error(), "iot:Data-ATS") {
		t.Errorf("failure: err = %v", err)
	}
	if _, err := DataEndpoint(context.Background(), "", &fakeDescriber{}); err == nil {
		t.Error("an empty answer was accepted")
	}
}
