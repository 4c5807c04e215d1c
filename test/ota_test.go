package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/signer"
	"github.com/aws/jsii-runtime-go"
	"github.com/aws/smithy-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/ota"
	"github.com/secure-smart-city/platform/stacks"
)

func otaTemplates(t *testing.T, stage stacks.Stage) (foundation, operations compliance.Template) {
	t.Helper()
	s := synthOnce(t, stage)
	return s.templates["SmartCity-"+string(stage)+"-Foundation"], s.templates["SmartCity-"+string(stage)+"-Operations"]
}

// TestOTAJobTemplates: one job template per device class, each with its staged rollout, abort
// criteria for failures, rejections and timeouts, an in-progress timeout, retries and a
// presigned-URL configuration of at most an hour through that class's own role; the id is
// derived from the content, so a change makes a new template.
func TestOTAJobTemplates(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		_, ops := otaTemplates(t, stage)
		fleet := stageFleet(t, stage)
		templates := ops.Resources("AWS::IoT::JobTemplate")
		if len(templates) != len(fleet.Classes) {
			t.Fatalf("%s: %d job templates, want one per class (%d)", stage, len(templates), len(fleet.Classes))
		}
		byClass := map[string]compliance.Resource{}
		for _, tpl := range templates {
			var doc map[string]string
			if err := json.Unmarshal([]byte(lit(tpl.Properties["Document"])), &doc); err != nil {
				t.Fatalf("%s: template document: %v", tpl.ID, err)
			}
			byClass[doc["class"]] = tpl
		}
		def := ota.DefaultRollout()
		for _, c := range fleet.Classes {
			tpl, ok := byClass[c.ID]
			if !ok {
				t.Errorf("%s: no job template for class %s", stage, c.ID)
				continue
			}
			p := tpl.Properties
			id := lit(p["JobTemplateId"])
			prefix := "smartcity_" + string(stage) + "_" + c.ID + "_"
			if !strings.HasPrefix(id, prefix) || len(id) != len(prefix)+12 || len(id) > 64 {
				t.Errorf("%s: template id %q, want %s<12 hex digits of the content hash>", c.ID, id, prefix)
			}
			criteria := map[string]bool{}
			for _, cr := range compliance.List(compliance.Get(p, "AbortConfig", "CriteriaList")) {
				if compliance.Get(cr, "Action") != "CANCEL" || compliance.Get(cr, "ThresholdPercentage") != def.AbortPercent ||
					compliance.Get(cr, "MinNumberOfExecutedThings") != float64(def.AbortMinExecuted) {
					t.Errorf("%s: abort criterion %v, want CANCEL at %v%% of the first %d", c.ID, cr, def.AbortPercent, def.AbortMinExecuted)
				}
				criteria[compliance.Get(cr, "FailureType").(string)] = true
			}
			for _, f := range []string{"FAILED", "REJECTED", "TIMED_OUT"} {
				if !criteria[f] {
					t.Errorf("%s: no abort criterion for %s executions (have %v)", c.ID, f, criteria)
				}
			}
			rollout := compliance.Get(p, "JobExecutionsRolloutConfig")
			if compliance.Get(rollout, "MaximumPerMinute") != float64(def.MaximumPerMinute) ||
				compliance.Get(rollout, "ExponentialRolloutRate", "BaseRatePerMinute") != float64(def.BaseRatePerMinute) ||
				compliance.Get(rollout, "ExponentialRolloutRate", "IncrementFactor") != def.IncrementFactor ||
				compliance.Get(rollout, "ExponentialRolloutRate", "RateIncreaseCriteria", "NumberOfSucceededThings") != float64(def.SucceededToIncrease) {
				t.Errorf("%s: rollout %v, want exponential from %d/min (x%v every %d successes) to %d/min", c.ID, rollout,
					def.BaseRatePerMinute, def.IncrementFactor, def.SucceededToIncrease, def.MaximumPerMinute)
			}
			if v := compliance.Get(p, "TimeoutConfig", "InProgressTimeoutInMinutes"); v != float64(def.InProgressTimeoutMinutes) {
				t.Errorf("%s: in-progress timeout %v, want %d", c.ID, v, def.InProgressTimeoutMinutes)
			}
			retries := map[string]any{}
			for _, r := range compliance.List(compliance.Get(p, "JobExecutionsRetryConfig", "RetryCriteriaList")) {
				retries[compliance.Get(r, "FailureType").(string)] = compliance.Get(r, "NumberOfRetries")
			}
			if retries["FAILED"] != float64(def.RetriesOnFailure) || retries["TIMED_OUT"] != float64(def.RetriesOnTimeout) {
				t.Errorf("%s: retries %v", c.ID, retries)
			}
			exp, _ := compliance.Get(p, "PresignedUrlConfig", "ExpiresInSec").(float64)
			if exp < 60 || exp > 3600 {
				t.Errorf("%s: presigned URLs live %v s, want at most an hour", c.ID, exp)
			}
			roleID, _ := compliance.Get(p, "PresignedUrlConfig", "RoleArn", "Fn::GetAtt", 0).(string)
			if !strings.HasPrefix(roleID, "OtaClass"+strings.ReplaceAll(c.ID, "_", "")+"PresignRole") {
				t.Errorf("%s: presigned-URL role %q is not the class's own", c.ID, roleID)
			}
			checkPresignRole(t, ops, roleID, c.ID)
		}
	}
}

// checkPresignRole: the role AWS IoT presigns URLs with is assumed by AWS IoT for this account
// only and may read the class's firmware prefix and decrypt through S3, nothing else.
func checkPresignRole(t *testing.T, ops compliance.Template, roleID, class string) {
	t.Helper()
	var role compliance.Resource
	for _, r := range ops.Resources("AWS::IAM::Role") {
		if r.ID == roleID {
			role = r
		}
	}
	trust := compliance.List(compliance.Get(role.Properties, "AssumeRolePolicyDocument", "Statement"))
	if len(trust) != 1 || compliance.Get(trust[0], "Principal", "Service") != "iot.amazonaws.com" ||
		compliance.Get(trust[0], "Condition", "StringEquals", "aws:SourceAccount") == nil {
		t.Errorf("%s: presign role trust %v, want iot.amazonaws.com scoped to this account", class, trust)
	}
	grants := grantsByAction(ops, roleID)
	var actions []string
	for a := range grants {
		actions = append(actions, a)
	}
	sort.Strings(actions)
	if strings.Join(actions, ",") != "kms:Decrypt,s3:GetObject" {
		t.Errorf("%s: presign role allows %v, want exactly s3:GetObject and kms:Decrypt", class, actions)
	}
	if objs := grants["s3:GetObject"]; len(objs) != 1 || !strings.HasSuffix(objs[0], "/firmware/"+class+"/*") {
		t.Errorf("%s: presign role reads %v, want only firmware/%s/*", class, objs, class)
	}
	for _, p := range ops.Resources("AWS::IAM::Policy") {
		for _, st := range compliance.List(compliance.Get(p.Properties, "PolicyDocument", "Statement")) {
			if compliance.Get(st, "Sid") != "DecryptThroughS3" || compliance.Get(p.Properties, "Roles", 0, "Ref") != roleID {
				continue
			}
			via := lit(compliance.Get(st, "Condition", "StringEquals", "kms:ViaService"))
			if !strings.HasPrefix(via, "s3.") || !strings.HasSuffix(via, ".amazonaws.com") {
				t.Errorf("%s: kms:Decrypt condition kms:ViaService = %q, want S3 of this region", class, via)
			}
			return
		}
	}
	t.Errorf("%s: presign role has no kms:Decrypt statement conditioned on kms:ViaService", class)
}

// TestOTAFirmwareBucket: customer-managed key with a bucket key, versioning, TLS-only policy,
// access logs, public access blocked and Object Lock with a governance default retention.
func TestOTAFirmwareBucket(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		found, _ := otaTemplates(t, stage)
		var bucket *compliance.Resource
		for _, b := range found.Resources("AWS::S3::Bucket") {
			if strings.HasPrefix(b.ID, "FirmwareBucket") {
				b := b
				bucket = &b
			}
		}
		if bucket == nil {
			t.Fatalf("%s: no firmware bucket in the Foundation stack", stage)
		}
		p := bucket.Properties
		if compliance.Get(p, "ObjectLockEnabled") != true ||
			compliance.Get(p, "ObjectLockConfiguration", "ObjectLockEnabled") != "Enabled" ||
			compliance.Get(p, "ObjectLockConfiguration", "Rule", "DefaultRetention", "Mode") != "GOVERNANCE" ||
			compliance.Get(p, "ObjectLockConfiguration", "Rule", "DefaultRetention", "Days") != float64(ota.DefaultRetentionDays) {
			t.Errorf("%s: object lock %v, want governance retention of %d days", stage, compliance.Get(p, "ObjectLockConfiguration"), ota.DefaultRetentionDays)
		}
		sse := compliance.Get(p, "BucketEncryption", "ServerSideEncryptionConfiguration", 0)
		if compliance.Get(sse, "ServerSideEncryptionByDefault", "SSEAlgorithm") != "aws:kms" ||
			compliance.Get(sse, "ServerSideEncryptionByDefault", "KMSMasterKeyID") == nil || compliance.Get(sse, "BucketKeyEnabled") != true {
			t.Errorf("%s: encryption %v, want SSE-KMS with the platform key and a bucket key", stage, sse)
		}
		if compliance.Get(p, "VersioningConfiguration", "Status") != "Enabled" || compliance.Get(p, "LoggingConfiguration", "DestinationBucketName") == nil {
			t.Errorf("%s: versioning %v / logging %v", stage, compliance.Get(p, "VersioningConfiguration"), compliance.Get(p, "LoggingConfiguration"))
		}
		for _, name := range []string{"s3-tls-only", "s3-public-access-block", "s3-lifecycle", "s3-ownership"} {
			c := checksByName(t, name)
			if _, violations := c.Run(compliance.Template{"Resources": map[string]any{bucket.ID: bucket.Raw, "Policy": otaBucketPolicy(found, bucket.ID)}}); len(violations) > 0 {
				t.Errorf("%s: %s: %v", stage, name, violations)
			}
		}
		if bucket.Raw["DeletionPolicy"] != "Retain" {
			t.Errorf("%s: firmware bucket deletion policy %v, want Retain", stage, bucket.Raw["DeletionPolicy"])
		}
	}
}

func otaBucketPolicy(tmpl compliance.Template, bucketID string) any {
	for _, p := range tmpl.Resources("AWS::S3::BucketPolicy") {
		if compliance.Get(p.Properties, "Bucket", "Ref") == bucketID {
			return p.Raw
		}
	}
	return map[string]any{"Type": "AWS::S3::BucketPolicy", "Properties": map[string]any{}}
}

// TestOTASigningProfile proves the signing profile's PutSigningProfile call against the AWS
// SDK's API model (aws-sdk-go-v2/service/signer v1.33.2): its parameters decode into
// PutSigningProfileInput with no unknown member and pass the SDK's own validation, the
// platform is AWS IoT's ECDSA/SHA-256 one and the certificate is the stack's parameter; the
// provider's role may put and cancel this profile only.
func TestOTASigningProfile(t *testing.T) {
	_, ops := otaTemplates(t, stacks.StageDev)
	profiles := ops.Resources(ota.ResourceTypeSigningProfile)
	if len(profiles) != 1 {
		t.Fatalf("%d signing profiles, want 1", len(profiles))
	}
	create := callOf(t, profiles[0], "Create")
	if create.Service != "Signer" || create.Action != "PutSigningProfile" {
		t.Fatalf("create calls %s.%s, want Signer.PutSigningProfile", create.Service, create.Action)
	}
	if d := callOf(t, profiles[0], "Delete"); d.Action != "CancelSigningProfile" || d.Parameters["profileName"] != "smartcity_dev_firmware" {
		t.Errorf("delete calls %s %v, want CancelSigningProfile of the profile", d.Action, d.Parameters)
	}
	if cert := lit(create.Parameters["signingMaterial"].(map[string]any)["certificateArn"]); cert != "<"+stacks.ParameterCodeSigningCertificateArn+">" {
		t.Errorf("the profile's certificate is %q, want the %s parameter", cert, stacks.ParameterCodeSigningCertificateArn)
	}

	// Decode the parameters as the SDK model defines them, with a sample certificate ARN in
	// place of the parameter.
	params := create.Parameters
	params["signingMaterial"] = map[string]any{"certificateArn": "arn:aws:acm:eu-central-1:111111111111:certificate/12345678-1234-1234-1234-123456789012"}
	raw, _ := json.Marshal(params)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var in signer.PutSigningProfileInput
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("parameters %s do not fit the SDK's PutSigningProfileInput: %v", raw, err)
	}
	if aws.ToString(in.PlatformId) != ota.SigningPlatform || aws.ToString(in.ProfileName) != "smartcity_dev_firmware" ||
		in.SigningMaterial == nil || aws.ToString(in.SigningMaterial.CertificateArn) == "" {
		t.Errorf("PutSigningProfileInput = %+v", in)
	}
	if err := sdkValidate(&in); err != nil {
		t.Errorf("the SDK refuses the parameters: %v", err)
	}
	// The check can fail: the same validation refuses a profile without a platform.
	if err := sdkValidate(&signer.PutSigningProfileInput{ProfileName: in.ProfileName}); err == nil {
		t.Error("the SDK validation accepted a profile without a platform: the proof above proves nothing")
	}

	roleID := idByPrefix(t, ops, "AWS::IAM::Role", "OtaSigningProfileProviderExecutionRole")
	grants := grantsByAction(ops, roleID)
	want := "arn:aws:signer:" + testRegion + ":" + testAccount + ":/signing-profiles/smartcity_dev_firmware"
	for _, a := range []string{"signer:PutSigningProfile", "signer:CancelSigningProfile"} {
		if g := grants[a]; len(g) != 1 || g[0] != want {
			t.Errorf("%s on %v, want only %s", a, g, want)
		}
	}
	for a, res := range grants {
		if strings.HasPrefix(a, "signer:") && a != "signer:PutSigningProfile" && a != "signer:CancelSigningProfile" {
			t.Errorf("provider role also allows %s on %v", a, res)
		}
	}
}

// errSent marks a request that passed validation and reached the transport.
var errSent = errors.New("request sent")

type refuseTransport struct{}

func (refuseTransport) Do(*http.Request) (*http.Response, error) { return nil, errSent }

// sdkValidate runs the SDK's own PutSigningProfile pipeline up to the transport, which refuses
// to send: a nil error means the input passed the model's validation.
func sdkValidate(in *signer.PutSigningProfileInput) error {
	c := signer.New(signer.Options{
		Region: testRegion, HTTPClient: refuseTransport{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		RetryMaxAttempts: 1,
	})
	_, err := c.PutSigningProfile(context.Background(), in)
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return err
	}
	if errors.Is(err, errSent) {
		return nil
	}
	return err
}

// TestOTAAlarms: alarms on failed, rejected and cancelled (aborted) job executions, over every
// job through Metrics Insights, notifying the alert topic; a rollout dashboard.
func TestOTAAlarms(t *testing.T) {
	_, ops := otaTemplates(t, stacks.StageDev)
	want := map[string]string{
		"SmartCity-dev-Ota-FailedExecutions":   ota.MetricFailedExecutions,
		"SmartCity-dev-Ota-RejectedExecutions": ota.MetricRejectedExecutions,
		"SmartCity-dev-Ota-CanceledExecutions": ota.MetricCanceledExecutions,
	}
	for _, a := range ops.Resources("AWS::CloudWatch::Alarm") {
		name := lit(a.Properties["AlarmName"])
		metric, ok := want[name]
		if !ok {
			continue
		}
		delete(want, name)
		expr, _ := compliance.Get(a.Properties, "Metrics", 0, "Expression").(string)
		if expr != ota.InsightsSum(metric) || !strings.Contains(expr, `SCHEMA("AWS/IoT", JobId)`) {
			t.Errorf("%s: expression %q, want %q", name, expr, ota.InsightsSum(metric))
		}
		if len(compliance.List(a.Properties["AlarmActions"])) == 0 || len(compliance.List(a.Properties["OKActions"])) == 0 {
			t.Errorf("%s notifies nobody", name)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing alarms: %v", want)
	}
	var rollouts bool
	for _, d := range ops.Resources("AWS::CloudWatch::Dashboard") {
		if lit(d.Properties["DashboardName"]) == "SmartCity-dev-Rollouts" {
			body := mustJSON(t, d.Properties["DashboardBody"])
			rollouts = strings.Contains(body, "GROUP BY JobId") && strings.Count(body, "OtaFailedExecutionsAlarm") == 1 &&
				strings.Count(body, "OtaRejectedExecutionsAlarm") == 1 && strings.Count(body, "OtaAbortedExecutionsAlarm") == 1
		}
	}
	if !rollouts {
		t.Error("no SmartCity-dev-Rollouts dashboard with per-job series")
	}
}

// TestOTAPropsErrors: the construct refuses what would fail at deploy or weaken a rollout.
func TestOTAPropsErrors(t *testing.T) {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("OtaProps"), nil)
	bucket := awss3.NewBucket(stack, jsii.String("B"), nil)
	key := awskms.NewKey(stack, jsii.String("K"), nil)
	bad := ota.DefaultRollout()
	bad.PresignedURLSeconds = 7200
	bad.RetriesOnFailure = 9
	bad.RetriesOnTimeout = 9
	o := ota.New(stack, "Bad", &ota.Props{Fleet: devFleet(t), NamePrefix: "smartcity_dev", FirmwareBucket: bucket, FirmwareKey: key,
		CodeSigningCertificateArn: jsii.String("arn:aws:iam::111111111111:role/not-a-certificate"), Rollout: &bad})
	got := validationErrors(o)
	for _, want := range []string{"PresignedURLSeconds", "RetriesOnFailure + RetriesOnTimeout", `CodeSigningCertificateArn "arn:aws:iam::111111111111:role/not-a-certificate" is not an ACM certificate ARN`} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q lack %q", got, want)
		}
	}
	none := ota.New(stack, "NoCert", &ota.Props{Fleet: devFleet(t), NamePrefix: "smartcity_dev", FirmwareBucket: bucket, FirmwareKey: key})
	if got := validationErrors(none); !strings.Contains(got, "CodeSigningCertificateArn is required") {
		t.Errorf("errors %q: want the missing certificate named", got)
	}
	s := ota.NewFirmwareStore(stack, "Store", &ota.StoreProps{RetentionDays: intp(0)})
	if got := validationErrors(s); !strings.Contains(got, "RetentionDays 0 must be 1 to 365") {
		t.Errorf("errors %q: want the retention refused", got)
	}
}
