package release_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/signer"
	signertypes "github.com/aws/aws-sdk-go-v2/service/signer/types"

	"github.com/secure-smart-city/platform/cmd/ota/release"
	"github.com/secure-smart-city/platform/constructs/ota"
	"github.com/secure-smart-city/platform/constructs/ota/document"
	"github.com/secure-smart-city/platform/fleetspec"
)

// fake is every AWS call, in memory, recording what was asked.
type fake struct {
	calls        []string
	put          *s3.PutObjectInput
	signing      *signer.StartSigningJobInput
	signStates   []signertypes.SigningStatus
	dynamic      *iot.CreateDynamicThingGroupInput
	groupExists  string // query of an existing group, when set
	job          *iot.CreateJobInput
	templates    []iottypes.JobTemplateSummary
	cancel       *iot.CancelJobInput
	failTemplate bool
}

func (f *fake) note(s string) { f.calls = append(f.calls, s) }

func (f *fake) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.note("PutObject")
	f.put = in
	return &s3.PutObjectOutput{VersionId: aws.String("v-image")}, nil
}

func (f *fake) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.note("HeadObject " + aws.ToString(in.Key))
	return &s3.HeadObjectOutput{VersionId: aws.String("v-signed")}, nil
}

func (f *fake) StartSigningJob(_ context.Context, in *signer.StartSigningJobInput, _ ...func(*signer.Options)) (*signer.StartSigningJobOutput, error) {
	f.note("StartSigningJob")
	f.signing = in
	return &signer.StartSigningJobOutput{JobId: aws.String("sig-1")}, nil
}

func (f *fake) DescribeSigningJob(_ context.Context, _ *signer.DescribeSigningJobInput, _ ...func(*signer.Options)) (*signer.DescribeSigningJobOutput, error) {
	f.note("DescribeSigningJob")
	st := f.signStates[0]
	if len(f.signStates) > 1 {
		f.signStates = f.signStates[1:]
	}
	out := &signer.DescribeSigningJobOutput{Status: st, StatusReason: aws.String("certificate expired")}
	if st == signertypes.SigningStatusSucceeded {
		out.SignedObject = &signertypes.SignedObject{S3: &signertypes.S3SignedObject{
			BucketName: f.signing.Destination.S3.BucketName, Key: aws.String(aws.ToString(f.signing.Destination.S3.Prefix) + "sig-1")}}
	}
	return out, nil
}

func (f *fake) ListJobTemplates(context.Context, *iot.ListJobTemplatesInput, ...func(*iot.Options)) (*iot.ListJobTemplatesOutput, error) {
	f.note("ListJobTemplates")
	return &iot.ListJobTemplatesOutput{JobTemplates: f.templates}, nil
}

func (f *fake) DescribeJobTemplate(_ context.Context, in *iot.DescribeJobTemplateInput, _ ...func(*iot.Options)) (*iot.DescribeJobTemplateOutput, error) {
	f.note("DescribeJobTemplate " + aws.ToString(in.JobTemplateId))
	if f.failTemplate {
		return nil, errors.New("AccessDenied")
	}
	return &iot.DescribeJobTemplateOutput{
		JobTemplateId:  in.JobTemplateId,
		JobTemplateArn: aws.String("arn:aws:iot:eu-central-1:111111111111:jobtemplate/" + aws.ToString(in.JobTemplateId)),
		AbortConfig: &iottypes.AbortConfig{CriteriaList: []iottypes.AbortCriteria{{Action: iottypes.AbortActionCancel,
			FailureType: iottypes.JobExecutionFailureTypeFailed, MinNumberOfExecutedThings: aws.Int32(100), ThresholdPercentage: aws.Float64(10)}}},
		JobExecutionsRolloutConfig: &iottypes.JobExecutionsRolloutConfig{MaximumPerMinute: aws.Int32(100)},
		TimeoutConfig:              &iottypes.TimeoutConfig{InProgressTimeoutInMinutes: aws.Int64(60)},
		PresignedUrlConfig:         &iottypes.PresignedUrlConfig{RoleArn: aws.String("arn:aws:iam::111111111111:role/presign"), ExpiresInSec: aws.Int64(1800)},
	}, nil
}

func (f *fake) CreateDynamicThingGroup(_ context.Context, in *iot.CreateDynamicThingGroupInput, _ ...func(*iot.Options)) (*iot.CreateDynamicThingGroupOutput, error) {
	f.note("CreateDynamicThingGroup")
	f.dynamic = in
	if f.groupExists != "" {
		return nil, &iottypes.ResourceAlreadyExistsException{Message: aws.String("exists")}
	}
	return &iot.CreateDynamicThingGroupOutput{ThingGroupArn: aws.String("arn:aws:iot:eu-central-1:111111111111:thinggroup/" + aws.ToString(in.ThingGroupName))}, nil
}

func (f *fake) DescribeThingGroup(_ context.Context, in *iot.DescribeThingGroupInput, _ ...func(*iot.Options)) (*iot.DescribeThingGroupOutput, error) {
	f.note("DescribeThingGroup")
	return &iot.DescribeThingGroupOutput{QueryString: aws.String(f.groupExists),
		ThingGroupArn: aws.String("arn:aws:iot:eu-central-1:111111111111:thinggroup/" + aws.ToString(in.ThingGroupName))}, nil
}

func (f *fake) CreateJob(_ context.Context, in *iot.CreateJobInput, _ ...func(*iot.Options)) (*iot.CreateJobOutput, error) {
	f.note("CreateJob")
	f.job = in
	return &iot.CreateJobOutput{JobId: in.JobId, JobArn: aws.String("arn:aws:iot:eu-central-1:111111111111:job/" + aws.ToString(in.JobId))}, nil
}

func (f *fake) DescribeJob(_ context.Context, in *iot.DescribeJobInput, _ ...func(*iot.Options)) (*iot.DescribeJobOutput, error) {
	f.note("DescribeJob")
	return &iot.DescribeJobOutput{Job: &iottypes.Job{JobId: in.JobId, Status: iottypes.JobStatusInProgress, Targets: []string{"arn:group"},
		JobProcessDetails: &iottypes.JobProcessDetails{NumberOfSucceededThings: aws.Int32(7), NumberOfFailedThings: aws.Int32(1)}}}, nil
}

func (f *fake) CancelJob(_ context.Context, in *iot.CancelJobInput, _ ...func(*iot.Options)) (*iot.CancelJobOutput, error) {
	f.note("CancelJob")
	f.cancel = in
	return &iot.CancelJobOutput{}, nil
}

func (f *fake) clients() release.Clients {
	return release.Clients{PutObject: f, HeadObject: f, StartSigningJob: f, DescribeSigningJob: f, ListJobTemplates: f,
		DescribeJobTemplate: f, CreateDynamicThingGroup: f, DescribeThingGroup: f, CreateJob: f, DescribeJob: f, CancelJob: f}
}

func newFake() *fake {
	old, cur := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	return &fake{
		signStates: []signertypes.SigningStatus{signertypes.SigningStatusInProgress, signertypes.SigningStatusInProgress, signertypes.SigningStatusSucceeded},
		templates: []iottypes.JobTemplateSummary{
			{JobTemplateId: aws.String("smartcity_dev_street_light_aaaaaaaaaaaa"), CreatedAt: &old},
			{JobTemplateId: aws.String("smartcity_dev_street_light_bbbbbbbbbbbb"), CreatedAt: &cur},
			{JobTemplateId: aws.String("smartcity_dev_camera_cccccccccccc"), CreatedAt: &cur},
		},
	}
}

func testFleet() *fleetspec.Fleet {
	return &fleetspec.Fleet{
		Name:      "smartcity",
		Districts: []fleetspec.District{{ID: "old_town", Name: "Old Town"}, {ID: "harbour", Name: "Harbour"}},
		Classes: []fleetspec.DeviceClass{
			{ID: "street_light", Name: "Street light", MaxFirmwareBytes: 2048},
			{ID: "camera", Name: "Camera"},
		},
	}
}

func env(out *bytes.Buffer) *release.Env {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	return &release.Env{Fleet: testFleet(), Prefix: "smartcity_dev", Bucket: "fw-bucket", Region: "eu-central-1", Out: out,
		Now: func() time.Time { return now }, Sleep: func(context.Context, time.Duration) error { return nil }}
}

func image(t *testing.T, size int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fw.bin")
	if err := os.WriteFile(p, bytes.Repeat([]byte{0xa5}, size), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReleaseRefusesBadInputBeforeUpload: nothing reaches AWS for an unknown class or district,
// a version that is not semver, or a file over the class's maxFirmwareBytes.
func TestReleaseRefusesBadInputBeforeUpload(t *testing.T) {
	small, big := image(t, 1000), image(t, 4096)
	cases := []struct {
		name string
		req  release.Request
		want string
	}{
		{"unknown class", release.Request{Class: "tram", Version: "1.4.0", File: small}, `-class "tram" is not a device class`},
		{"not semver", release.Request{Class: "street_light", Version: "1.4", File: small}, `version "1.4" is not a semantic version`},
		{"leading v", release.Request{Class: "street_light", Version: "v1.4.0", File: small}, `version "v1.4.0" is not a semantic version`},
		{"over the class limit", release.Request{Class: "street_light", Version: "1.4.0", File: big}, "is 4096 bytes, over class street_light's maxFirmwareBytes 2048"},
		{"unknown district", release.Request{Class: "street_light", Version: "1.4.0", File: small, District: "moon"}, `-district "moon" is not a district`},
		{"missing file", release.Request{Class: "street_light", Version: "1.4.0", File: filepath.Join(t.TempDir(), "nope")}, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			_, err := env(&bytes.Buffer{}).Release(context.Background(), f.clients(), tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(f.calls) != 0 {
				t.Errorf("AWS was called before the input was checked: %v", f.calls)
			}
		})
	}
	// The default limit applies to a class without maxFirmwareBytes.
	if _, _, err := env(&bytes.Buffer{}).Check(release.Request{Class: "camera", Version: "1.0.0", File: big}); err != nil {
		t.Errorf("camera within the default limit: %v", err)
	}
}

// TestReleaseClassWide: upload (never overwriting, with a checksum), sign and wait with
// progress, then a job from the class's newest template, targeting the class's group only,
// with a document carrying the presigned-URL and code-signing placeholders.
func TestReleaseClassWide(t *testing.T) {
	f := newFake()
	var out bytes.Buffer
	file := image(t, 1000)
	res, err := env(&out).Release(context.Background(), f.clients(), release.Request{Class: "street_light", Version: "1.4.0", File: file})
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{"ListJobTemplates", "DescribeJobTemplate smartcity_dev_street_light_bbbbbbbbbbbb", "PutObject", "StartSigningJob",
		"DescribeSigningJob", "DescribeSigningJob", "DescribeSigningJob", "HeadObject signed/street_light/1.4.0/sig-1", "CreateJob"}
	if strings.Join(f.calls, "|") != strings.Join(wantCalls, "|") {
		t.Errorf("calls\n got %v\nwant %v", f.calls, wantCalls)
	}
	if aws.ToString(f.put.Key) != ota.FirmwareKey("street_light", "1.4.0", "fw.bin") || aws.ToString(f.put.IfNoneMatch) != "*" || f.put.ChecksumAlgorithm == "" {
		t.Errorf("upload %s if-none-match %q checksum %q", aws.ToString(f.put.Key), aws.ToString(f.put.IfNoneMatch), f.put.ChecksumAlgorithm)
	}
	src := f.signing.Source.S3
	if aws.ToString(f.signing.ProfileName) != "smartcity_dev_firmware" || aws.ToString(src.Version) != "v-image" || aws.ToString(src.Key) != aws.ToString(f.put.Key) {
		t.Errorf("signing job %+v / source %+v", f.signing, src)
	}
	if tok := aws.ToString(f.signing.ClientRequestToken); len(tok) != 40 {
		t.Errorf("client request token %q", tok)
	}
	if strings.Count(out.String(), "signing job sig-1: InProgress") != 2 || !strings.Contains(out.String(), "go run ./cmd/ota status -job "+res.JobID) {
		t.Errorf("progress output:\n%s", out.String())
	}
	j := f.job
	if len(j.Targets) != 1 || j.Targets[0] != "arn:aws:iot:eu-central-1:111111111111:thinggroup/smartcity_dev_street_light" {
		t.Errorf("targets %v, want the class group only", j.Targets)
	}
	if !strings.HasSuffix(aws.ToString(j.JobTemplateArn), "smartcity_dev_street_light_bbbbbbbbbbbb") || j.AbortConfig == nil ||
		j.PresignedUrlConfig == nil || j.TimeoutConfig == nil || j.JobExecutionsRolloutConfig == nil {
		t.Errorf("job configuration not from the template: %+v", j)
	}
	if res.JobID != "street_light-1_4_0-all-20261130T090000" || aws.ToString(j.JobId) != res.JobID {
		t.Errorf("job id %q", res.JobID)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(j.Document)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["operation"] != document.Operation || doc["class"] != "street_light" || doc["version"] != "1.4.0" || doc["size"] != 1000.0 ||
		doc["image"].(map[string]any)["url"] != document.PresignedURLPlaceholder("fw-bucket", ota.FirmwareKey("street_light", "1.4.0", "fw.bin")) ||
		doc["signature"] != "${aws:iot:code-sign-signature:s3://eu-central-1.fw-bucket/signed/street_light/1.4.0/sig-1@v-signed}" {
		t.Errorf("document %v", doc)
	}
}

// TestReleaseDistrict: a district release targets a dynamic group of the class's devices in
// the district, never the district's own group (which holds every class).
func TestReleaseDistrict(t *testing.T) {
	f := newFake()
	_, err := env(&bytes.Buffer{}).Release(context.Background(), f.clients(), release.Request{Class: "street_light", Version: "1.4.0", File: image(t, 10), District: "old_town"})
	if err != nil {
		t.Fatal(err)
	}
	if q := aws.ToString(f.dynamic.QueryString); q != "thingTypeName:smartcity_dev_street_light AND thingGroupNames:smartcity_dev_district_old_town" {
		t.Errorf("query %q", q)
	}
	if len(f.job.Targets) != 1 || f.job.Targets[0] != "arn:aws:iot:eu-central-1:111111111111:thinggroup/smartcity_dev_ota_street_light_old_town" {
		t.Errorf("targets %v", f.job.Targets)
	}
	for _, tg := range f.job.Targets {
		if strings.HasSuffix(tg, "/smartcity_dev_district_old_town") {
			t.Errorf("the job targets the whole district group: %v", f.job.Targets)
		}
	}

	// An existing group with another query is never reused.
	f = newFake()
	f.groupExists = "thingGroupNames:smartcity_dev_district_old_town"
	_, err = env(&bytes.Buffer{}).Release(context.Background(), f.clients(), release.Request{Class: "street_light", Version: "1.4.1", File: image(t, 10), District: "old_town"})
	if err == nil || !strings.Contains(err.Error(), "refusing to target it") || f.job != nil {
		t.Errorf("err = %v, job %v: want a refusal and no job", err, f.job)
	}
	// The same query is reused.
	f = newFake()
	f.groupExists = release.DistrictQuery("smartcity_dev", "street_light", "old_town")
	if _, err := env(&bytes.Buffer{}).Release(context.Background(), f.clients(), release.Request{Class: "street_light", Version: "1.4.2", File: image(t, 10), District: "old_town"}); err != nil || f.job == nil {
		t.Errorf("reuse of the matching group: %v", err)
	}
}

// TestReleaseStopsWithoutSignature: a failed signing job creates no job.
func TestReleaseStopsWithoutSignature(t *testing.T) {
	f := newFake()
	f.signStates = []signertypes.SigningStatus{signertypes.SigningStatusFailed}
	_, err := env(&bytes.Buffer{}).Release(context.Background(), f.clients(), release.Request{Class: "street_light", Version: "1.4.0", File: image(t, 10)})
	if err == nil || !strings.Contains(err.Error(), "signing job sig-1 failed: certificate expired; no job was created") || f.job != nil {
		t.Errorf("err = %v, job %v", err, f.job)
	}
	// No template: nothing is uploaded.
	f = newFake()
	f.templates = nil
	_, err = env(&bytes.Buffer{}).Release(context.Background(), f.clients(), release.Request{Class: "street_light", Version: "1.4.0", File: image(t, 10)})
	if err == nil || !strings.Contains(err.Error(), "no job template smartcity_dev_street_light_<hash>") || f.put != nil {
		t.Errorf("err = %v, upload %v", err, f.put)
	}
}

func TestStatusAndCancel(t *testing.T) {
	f := newFake()
	var out bytes.Buffer
	if err := release.Status(context.Background(), f, &out, "job-1"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "job job-1: IN_PROGRESS") || !strings.Contains(out.String(), "succeeded 7  failed 1") {
		t.Errorf("status output:\n%s", out.String())
	}
	if err := release.Cancel(context.Background(), f, &out, "job-1", "", true); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(f.cancel.JobId) != "job-1" || !f.cancel.Force || aws.ToString(f.cancel.ReasonCode) != "OPERATOR_CANCEL" {
		t.Errorf("cancel %+v", f.cancel)
	}
}
