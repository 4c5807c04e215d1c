// Package runbook lists and releases the things the platform quarantined: the operator's side
// of lambdas/remediation/quarantine. It talks to AWS IoT through one-method interfaces, so it
// is tested with in-memory fakes.
package runbook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// One-method views of the iot.Client.
type (
	// GroupLister lists a thing group's members.
	GroupLister interface {
		ListThingsInThingGroup(ctx context.Context, in *iot.ListThingsInThingGroupInput, optFns ...func(*iot.Options)) (*iot.ListThingsInThingGroupOutput, error)
	}
	// GroupRemover removes a thing from a thing group.
	GroupRemover interface {
		RemoveThingFromThingGroup(ctx context.Context, in *iot.RemoveThingFromThingGroupInput, optFns ...func(*iot.Options)) (*iot.RemoveThingFromThingGroupOutput, error)
	}
	// PrincipalLister lists a thing's principals.
	PrincipalLister interface {
		ListThingPrincipals(ctx context.Context, in *iot.ListThingPrincipalsInput, optFns ...func(*iot.Options)) (*iot.ListThingPrincipalsOutput, error)
	}
	// CertificateDescriber reads a certificate's status.
	CertificateDescriber interface {
		DescribeCertificate(ctx context.Context, in *iot.DescribeCertificateInput, optFns ...func(*iot.Options)) (*iot.DescribeCertificateOutput, error)
	}
	// CertificateUpdater changes a certificate's status.
	CertificateUpdater interface {
		UpdateCertificate(ctx context.Context, in *iot.UpdateCertificateInput, optFns ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error)
	}
)

// Runbook acts on one quarantine group.
type Runbook struct {
	// Group is the quarantine thing group, <fleet>_<stage>_quarantine.
	Group        string
	Members      GroupLister
	Remover      GroupRemover
	Principals   PrincipalLister
	Describe     CertificateDescriber
	Certificates CertificateUpdater
}

// GroupName is the quarantine group of a fleet's stage, as the Fleet stack names it.
func GroupName(rulePrefix string) string { return rulePrefix + "_quarantine" }

var (
	thingName = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	certARN   = regexp.MustCompile(`^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:cert/([0-9a-f]{64})$`)
)

// Entry is one quarantined thing and its certificates' statuses.
type Entry struct {
	Thing        string
	Certificates []Certificate
}

// Certificate is one of a thing's X.509 certificates.
type Certificate struct {
	ID     string
	Status iottypes.CertificateStatus
}

// List returns the group's members, sorted, with their certificates.
func (r *Runbook) List(ctx context.Context) ([]Entry, error) {
	things, err := r.members(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(things))
	for _, t := range things {
		certs, err := r.certificates(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Thing: t, Certificates: certs})
	}
	return out, nil
}

// Print writes entries as a table: one line per thing, its certificates and statuses.
func Print(w io.Writer, group string, entries []Entry) {
	if len(entries) == 0 {
		fmt.Fprintf(w, "%s: no quarantined things\n", group)
		return
	}
	fmt.Fprintf(w, "%s: %d quarantined\n", group, len(entries))
	for _, e := range entries {
		var certs []string
		for _, c := range e.Certificates {
			certs = append(certs, c.ID[:12]+"…("+string(c.Status)+")")
		}
		if len(certs) == 0 {
			certs = []string{"no certificate"}
		}
		fmt.Fprintf(w, "%s\t%s\n", e.Thing, strings.Join(certs, " "))
	}
}

// Release removes things from the quarantine group. Every name is checked first: a name that
// is not a thing name or not in the group stops the command before anything changes. With
// reactivate, the released things' INACTIVE certificates become ACTIVE again (the quarantine
// function deactivates only under DEACTIVATE_CERTIFICATES; revoked ones stay revoked).
func (r *Runbook) Release(ctx context.Context, w io.Writer, things []string, reactivate bool) error {
	if len(things) == 0 {
		return errors.New("release: name at least one thing")
	}
	members, err := r.members(ctx)
	if err != nil {
		return err
	}
	var bad []string
	for _, t := range things {
		switch {
		case !thingName.MatchString(t):
			bad = append(bad, fmt.Sprintf("%q is not a thing name", t))
		case !slices.Contains(members, t):
			bad = append(bad, fmt.Sprintf("%s is not in %s", t, r.Group))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("release: nothing changed: %s", strings.Join(bad, "; "))
	}
	for _, t := range things {
		if _, err := r.Remover.RemoveThingFromThingGroup(ctx, &iot.RemoveThingFromThingGroupInput{
			ThingGroupName: aws.String(r.Group), ThingName: aws.String(t),
		}); err != nil {
			return fmt.Errorf("release %s: %w", t, err)
		}
		fmt.Fprintf(w, "released %s from %s\n", t, r.Group)
		if !reactivate {
			continue
		}
		certs, err := r.certificates(ctx, t)
		if err != nil {
			return err
		}
		for _, c := range certs {
			if c.Status != iottypes.CertificateStatusInactive {
				continue
			}
			if _, err := r.Certificates.UpdateCertificate(ctx, &iot.UpdateCertificateInput{
				CertificateId: aws.String(c.ID), NewStatus: iottypes.CertificateStatusActive,
			}); err != nil {
				return fmt.Errorf("reactivate certificate %s of %s: %w", c.ID, t, err)
			}
			fmt.Fprintf(w, "reactivated certificate %s of %s\n", c.ID, t)
		}
	}
	return nil
}

func (r *Runbook) members(ctx context.Context) ([]string, error) {
	pages := iot.NewListThingsInThingGroupPaginator(r.Members, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String(r.Group)})
	var out []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", r.Group, err)
		}
		out = append(out, page.Things...)
	}
	slices.Sort(out)
	return out, nil
}

func (r *Runbook) certificates(ctx context.Context, thing string) ([]Certificate, error) {
	pages := iot.NewListThingPrincipalsPaginator(r.Principals, &iot.ListThingPrincipalsInput{ThingName: aws.String(thing)})
	var out []Certificate
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list principals of %s: %w", thing, err)
		}
		for _, p := range page.Principals {
			m := certARN.FindStringSubmatch(p)
			if m == nil {
				continue
			}
			d, err := r.Describe.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(m[1])})
			if err != nil {
				return nil, fmt.Errorf("describe certificate %s: %w", m[1], err)
			}
			status := iottypes.CertificateStatus("UNKNOWN")
			if d.CertificateDescription != nil {
				status = d.CertificateDescription.Status
			}
			out = append(out, Certificate{ID: m[1], Status: status})
		}
	}
	return out, nil
}
