package test

import (
	"path/filepath"
	"strings"
	"testing"

	telcontract "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/stacks"
)

// TestIngestDeadLettersRetainedInProd: in prod every queue of every stack (rule error-action
// dead letters, the processor's stream on-failure queue, asynchronous functions' on-failure
// destinations, SNS dead letters) survives stack deletion and replacement; in dev the
// Ingestion stack's queues go with the stack.
func TestIngestDeadLettersRetainedInProd(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		t.Run(string(stage), func(t *testing.T) {
			s := synthOnce(t, stage)
			n := 0
			for name, tmpl := range s.templates {
				for _, q := range tmpl.Resources("AWS::SQS::Queue") {
					n++
					want := "Retain"
					if stage == stacks.StageDev {
						if !strings.HasSuffix(name, "-Ingestion") {
							continue // other stacks' constructs choose in dev
						}
						want = "Delete"
					}
					if q.Attr("DeletionPolicy") != want || q.Attr("UpdateReplacePolicy") != want {
						t.Errorf("%s %s: DeletionPolicy %q UpdateReplacePolicy %q, want %s", name, q.ID, q.Attr("DeletionPolicy"), q.Attr("UpdateReplacePolicy"), want)
					}
				}
			}
			ing := s.templates["SmartCity-"+string(stage)+"-Ingestion"]
			// The three kinds the platform must keep are all there, so the loop above saw them.
			oneResource(t, ing, "AWS::SQS::Queue", "RuleErrors")
			oneResource(t, ing, "AWS::SQS::Queue", "TelemetryProcessorFailures")
			async := 0
			for _, tmpl := range s.templates {
				async += len(tmpl.Resources("AWS::Lambda::EventInvokeConfig"))
			}
			if async == 0 || n < 3 {
				t.Errorf("%d queues and %d asynchronous destinations: the test would prove nothing", n, async)
			}
		})
	}
}

// TestIngestArchiveRetention: the archive expires accepted/ after a year and rejected/ after
// a month by default, and drops the Deep Archive step an accepted object would leave before
// its 180-day minimum.
func TestIngestArchiveRetention(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		t.Run(string(stage), func(t *testing.T) {
			f := synthOnce(t, stage).templates["SmartCity-"+string(stage)+"-Foundation"]
			b := oneResource(t, f, "AWS::S3::Bucket", "TelemetryArchive8")
			rules := compliance.List(compliance.Get(b.Properties, "LifecycleConfiguration", "Rules"))
			expire := map[string]any{}
			for _, r := range rules {
				if p := compliance.Get(r, "Prefix"); p != nil {
					expire[p.(string)] = compliance.Get(r, "ExpirationInDays")
					if compliance.Get(r, "Status") != "Enabled" || compliance.Get(r, "NoncurrentVersionExpiration", "NoncurrentDays") != 90.0 {
						t.Errorf("prefix rule %v: want enabled, noncurrent versions deleted after 90 days", r)
					}
					continue
				}
				for _, tr := range compliance.List(compliance.Get(r, "Transitions")) {
					if compliance.Get(tr, "StorageClass") == "DEEP_ARCHIVE" {
						t.Errorf("bucket rule moves objects to Deep Archive, which accepted data leaves before its minimum: %v", r)
					}
				}
			}
			want := map[string]any{telcontract.AcceptedPrefix: float64(stacks.DefaultAcceptedRetentionDays), telcontract.RejectedPrefix: float64(stacks.DefaultRejectedRetentionDays)}
			if diff := cmp.Diff(want, expire); diff != "" {
				t.Errorf("prefix expirations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIngestRetentionContext: the retention context keys reach the archive lifecycle, and a
// bad value names its key.
func TestIngestRetentionContext(t *testing.T) {
	fleet := filepath.Join(moduleRoot(t), "config", "fleet.dev.json")
	cfg, err := stacks.ConfigFromContext(newApp(t, map[string]any{"fleetFile": fleet,
		stacks.ContextAcceptedRetentionDays: "90", stacks.ContextRejectedRetentionDays: 7.0}))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.ArchiveLifecycle()
	want := []securestore.PrefixExpiry{{Prefix: "accepted/", ExpireAfterDays: 90}, {Prefix: "rejected/", ExpireAfterDays: 7}}
	if diff := cmp.Diff(want, l.PrefixExpiry); diff != "" {
		t.Errorf("prefix expiry (-want +got):\n%s", diff)
	}
	// 90 days: Standard-IA at 30 still pays off (30-day minimum), Glacier IR at 90 would not.
	if l.InfrequentAccessAfterDays == nil || l.GlacierInstantRetrievalAfterDays != nil || l.DeepArchiveAfterDays != nil {
		t.Errorf("transitions IA %v GIR %v DA %v, want only Standard-IA", l.InfrequentAccessAfterDays, l.GlacierInstantRetrievalAfterDays, l.DeepArchiveAfterDays)
	}
	forever, err := stacks.ConfigFromContext(newApp(t, map[string]any{"fleetFile": fleet, stacks.ContextAcceptedRetentionDays: 0.0}))
	if err != nil {
		t.Fatal(err)
	}
	if got := forever.ArchiveLifecycle(); len(got.PrefixExpiry) != 1 || got.PrefixExpiry[0].Prefix != "rejected/" || got.DeepArchiveAfterDays == nil {
		t.Errorf("acceptedRetentionDays=0: %+v, want accepted data kept (Deep Archive) and only rejected/ expiring", got)
	}
	for _, c := range []struct {
		ctx  map[string]any
		want string
	}{
		{map[string]any{stacks.ContextRejectedRetentionDays: "0"}, `context "rejectedRetentionDays": 0 must be between 1 and 3650 days`},
		{map[string]any{stacks.ContextAcceptedRetentionDays: "a year"}, `context "acceptedRetentionDays": want a whole number of days, got "a year"`},
		{map[string]any{stacks.ContextAcceptedRetentionDays: -5.0}, `context "acceptedRetentionDays": -5 must be between 1 and 3650 days, or 0`},
		{map[string]any{stacks.ContextRejectedRetentionDays: 1.5}, `context "rejectedRetentionDays": want a whole number of days, got 1.5`},
	} {
		c.ctx["fleetFile"] = fleet
		if _, err := stacks.ConfigFromContext(newApp(t, c.ctx)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("context %v: error %v, want it to contain %q", c.ctx, err, c.want)
		}
	}
}

// TestIngestArchivePrefixExpiryErrors: a prefix rule that would expire the whole bucket, last
// no day, or overlap another is refused with its index and value.
func TestIngestArchivePrefixExpiryErrors(t *testing.T) {
	app := newApp(t, nil)
	s := awscdk.NewStack(app, jsii.String("PrefixExpiry"), nil)
	l := securestore.DefaultLifecycle()
	l.PrefixExpiry = []securestore.PrefixExpiry{{Prefix: "", ExpireAfterDays: 30}, {Prefix: "rejected/", ExpireAfterDays: 0}, {Prefix: "rejected/old/", ExpireAfterDays: 5}}
	b := securestore.NewBucket(s, "Archive", &securestore.BucketProps{Lifecycle: &l})
	got := validationErrors(b)
	for _, w := range []string{
		"Lifecycle.PrefixExpiry[0].Prefix is required",
		"Lifecycle.PrefixExpiry[1].ExpireAfterDays 0 must be at least 1",
		`Lifecycle.PrefixExpiry[2].Prefix "rejected/old/" overlaps PrefixExpiry[1].Prefix "rejected/"`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("errors %q do not contain %q", got, w)
		}
	}
}
