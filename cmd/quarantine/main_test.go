package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
)

// fakeClient serves one quarantine group with one member and records removals.
type fakeClient struct {
	group   string
	removed []string
}

func (f *fakeClient) ListThingsInThingGroup(_ context.Context, in *iot.ListThingsInThingGroupInput, _ ...func(*iot.Options)) (*iot.ListThingsInThingGroupOutput, error) {
	f.group = aws.ToString(in.ThingGroupName)
	return &iot.ListThingsInThingGroupOutput{Things: []string{"sl-old-town-001"}}, nil
}
func (f *fakeClient) RemoveThingFromThingGroup(_ context.Context, in *iot.RemoveThingFromThingGroupInput, _ ...func(*iot.Options)) (*iot.RemoveThingFromThingGroupOutput, error) {
	f.removed = append(f.removed, aws.ToString(in.ThingName))
	return &iot.RemoveThingFromThingGroupOutput{}, nil
}
func (f *fakeClient) ListThingPrincipals(context.Context, *iot.ListThingPrincipalsInput, ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error) {
	return &iot.ListThingPrincipalsOutput{}, nil
}
func (f *fakeClient) DescribeCertificate(context.Context, *iot.DescribeCertificateInput, ...func(*iot.Options)) (*iot.DescribeCertificateOutput, error) {
	return nil, errors.New("not called")
}
func (f *fakeClient) UpdateCertificate(context.Context, *iot.UpdateCertificateInput, ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error) {
	return nil, errors.New("not called")
}

func TestRun(t *testing.T) {
	f := &fakeClient{}
	connect := func(context.Context) (*fakeClient, error) { return f, nil }
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"list", "-fleet", "../../config/fleet.dev.json", "-stage", "dev"}, &out, &errOut, connect); err != nil {
		t.Fatalf("list: %v (%s)", err, errOut.String())
	}
	if f.group != "smartcity_dev_quarantine" || !strings.Contains(out.String(), "sl-old-town-001") {
		t.Errorf("list read %q and printed %q", f.group, out.String())
	}
	if err := run(context.Background(), []string{"release", "-group", "smartcity_dev_quarantine", "sl-old-town-001"}, &out, &errOut, connect); err != nil {
		t.Fatalf("release: %v (%s)", err, errOut.String())
	}
	if len(f.removed) != 1 || f.removed[0] != "sl-old-town-001" {
		t.Errorf("removed %v", f.removed)
	}
	for _, args := range [][]string{nil, {"purge"}, {"list"}, {"list", "-group", "g", "extra"}, {"release", "-bogus"}} {
		if err := run(context.Background(), args, &out, &errOut, connect); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	if err := run(context.Background(), []string{"list", "-fleet", "missing.json", "-stage", "dev"}, &out, &errOut, connect); err == nil || errors.Is(err, errUsage) {
		t.Errorf("missing fleet file: %v", err)
	}
}
