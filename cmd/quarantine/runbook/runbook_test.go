package runbook

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"
)

const (
	group  = "smartcity_prod_quarantine"
	certA  = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	certB  = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	certR  = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	prefix = "arn:aws:iot:eu-west-1:123456789012:cert/"
)

// fakeIoT is the registry: group members (one per page), thing principals and certificate
// statuses.
type fakeIoT struct {
	members    map[string][]string
	principals map[string][]string
	status     map[string]iottypes.CertificateStatus
	removed    []string
	err        error
}

func newFake() *fakeIoT {
	return &fakeIoT{
		members: map[string][]string{group: {"sl-002", "sl-001", "ts-009"}},
		principals: map[string][]string{
			"sl-001": {prefix + certA, "eu-west-1:cognito-id"},
			"sl-002": {prefix + certB},
			"ts-009": {prefix + certR},
		},
		status: map[string]iottypes.CertificateStatus{certA: iottypes.CertificateStatusInactive, certB: iottypes.CertificateStatusActive,
			certR: iottypes.CertificateStatusRevoked},
	}
}

func (f *fakeIoT) ListThingsInThingGroup(_ context.Context, in *iot.ListThingsInThingGroupInput, _ ...func(*iot.Options)) (*iot.ListThingsInThingGroupOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	all := f.members[aws.ToString(in.ThingGroupName)]
	i := 0
	if in.NextToken != nil {
		i, _ = strconv.Atoi(*in.NextToken)
	}
	out := &iot.ListThingsInThingGroupOutput{}
	if i < len(all) {
		out.Things = all[i : i+1]
	}
	if i+1 < len(all) {
		out.NextToken = aws.String(strconv.Itoa(i + 1))
	}
	return out, nil
}

func (f *fakeIoT) RemoveThingFromThingGroup(_ context.Context, in *iot.RemoveThingFromThingGroupInput, _ ...func(*iot.Options)) (*iot.RemoveThingFromThingGroupOutput, error) {
	g, t := aws.ToString(in.ThingGroupName), aws.ToString(in.ThingName)
	f.members[g] = slices.DeleteFunc(f.members[g], func(s string) bool { return s == t })
	f.removed = append(f.removed, t)
	return &iot.RemoveThingFromThingGroupOutput{}, nil
}

func (f *fakeIoT) ListThingPrincipals(_ context.Context, in *iot.ListThingPrincipalsInput, _ ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error) {
	return &iot.ListThingPrincipalsOutput{Principals: f.principals[aws.ToString(in.ThingName)]}, nil
}

func (f *fakeIoT) DescribeCertificate(_ context.Context, in *iot.DescribeCertificateInput, _ ...func(*iot.Options)) (*iot.DescribeCertificateOutput, error) {
	id := aws.ToString(in.CertificateId)
	return &iot.DescribeCertificateOutput{CertificateDescription: &iottypes.CertificateDescription{CertificateId: aws.String(id), Status: f.status[id]}}, nil
}

func (f *fakeIoT) UpdateCertificate(_ context.Context, in *iot.UpdateCertificateInput, _ ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error) {
	f.status[aws.ToString(in.CertificateId)] = in.NewStatus
	return &iot.UpdateCertificateOutput{}, nil
}

func runbookOver(f *fakeIoT) *Runbook {
	return &Runbook{Group: group, Members: f, Remover: f, Principals: f, Describe: f, Certificates: f}
}

func TestList(t *testing.T) {
	f := newFake()
	entries, err := runbookOver(f).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Thing: "sl-001", Certificates: []Certificate{{certA, iottypes.CertificateStatusInactive}}},
		{Thing: "sl-002", Certificates: []Certificate{{certB, iottypes.CertificateStatusActive}}},
		{Thing: "ts-009", Certificates: []Certificate{{certR, iottypes.CertificateStatusRevoked}}},
	}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	var out bytes.Buffer
	Print(&out, group, entries)
	if !strings.Contains(out.String(), "smartcity_prod_quarantine: 3 quarantined\nsl-001\taaaaaaaaaaaa…(INACTIVE)\n") {
		t.Errorf("Print:\n%s", out.String())
	}
	out.Reset()
	Print(&out, group, nil)
	if out.String() != "smartcity_prod_quarantine: no quarantined things\n" {
		t.Errorf("Print empty: %q", out.String())
	}
	f.err = errors.New("throttled")
	if _, err := runbookOver(f).List(context.Background()); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Errorf("List with a failing registry: %v", err)
	}
}

func TestRelease(t *testing.T) {
	f := newFake()
	var out bytes.Buffer
	if err := runbookOver(f).Release(context.Background(), &out, []string{"sl-001", "ts-009"}, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sl-002"}, f.members[group]); diff != "" {
		t.Errorf("group after release (-want +got):\n%s", diff)
	}
	// The inactive certificate is active again; the revoked one stays revoked; another
	// thing's certificate is untouched.
	want := map[string]iottypes.CertificateStatus{certA: iottypes.CertificateStatusActive, certB: iottypes.CertificateStatusActive,
		certR: iottypes.CertificateStatusRevoked}
	if diff := cmp.Diff(want, f.status); diff != "" {
		t.Errorf("certificates (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), "released sl-001 from smartcity_prod_quarantine\nreactivated certificate "+certA+" of sl-001\n") {
		t.Errorf("output:\n%s", out.String())
	}

	// Without -reactivate certificates are left as they are.
	f = newFake()
	if err := runbookOver(f).Release(context.Background(), &out, []string{"sl-001"}, false); err != nil {
		t.Fatal(err)
	}
	if f.status[certA] != iottypes.CertificateStatusInactive {
		t.Errorf("certificate reactivated without -reactivate")
	}
}

// A bad name anywhere in the list changes nothing.
func TestReleaseChecksEveryNameFirst(t *testing.T) {
	for name, things := range map[string][]string{
		"not in the group": {"sl-001", "sl-999"},
		"not a thing name": {"sl-001", "sl 001/../x"},
		"nothing":          nil,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake()
			err := runbookOver(f).Release(context.Background(), &bytes.Buffer{}, things, false)
			if err == nil || len(f.removed) != 0 {
				t.Errorf("Release(%q) = %v, removed %v; want an error and nothing removed", things, err, f.removed)
			}
		})
	}
}

func TestGroupName(t *testing.T) {
	if got := GroupName("smartcity_prod"); got != "smartcity_prod_quarantine" {
		t.Errorf("GroupName = %q", got)
	}
}
