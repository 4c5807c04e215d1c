// Package release is the operator side of over-the-air updates: it checks a release before
// anything leaves the machine, uploads the image, signs it with AWS Signer, and creates an AWS
// IoT job from the device class's job template with the release's own document; it also reads
// and cancels jobs. Every AWS call goes through the one-method interfaces below, so tests run
// against fakes.
package release

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/signer"
	signertypes "github.com/aws/aws-sdk-go-v2/service/signer/types"

	"github.com/secure-smart-city/platform/constructs/ota"
	"github.com/secure-smart-city/platform/constructs/ota/document"
	"github.com/secure-smart-city/platform/fleetspec"
)

// The AWS calls the command makes, one interface each.
type (
	// PutObject is the AWS API call of that name.
	PutObject interface {
		PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	}
	// HeadObject is the AWS API call of that name.
	HeadObject interface {
		HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	}
	// StartSigningJob is the AWS API call of that name.
	StartSigningJob interface {
		StartSigningJob(context.Context, *signer.StartSigningJobInput, ...func(*signer.Options)) (*signer.StartSigningJobOutput, error)
	}
	// DescribeSigningJob is the AWS API call of that name.
	DescribeSigningJob interface {
		DescribeSigningJob(context.Context, *signer.DescribeSigningJobInput, ...func(*signer.Options)) (*signer.DescribeSigningJobOutput, error)
	}
	// ListJobTemplates is the AWS API call of that name.
	ListJobTemplates interface {
		ListJobTemplates(context.Context, *iot.ListJobTemplatesInput, ...func(*iot.Options)) (*iot.ListJobTemplatesOutput, error)
	}
	// DescribeJobTemplate is the AWS API call of that name.
	DescribeJobTemplate interface {
		DescribeJobTemplate(context.Context, *iot.DescribeJobTemplateInput, ...func(*iot.Options)) (*iot.DescribeJobTemplateOutput, error)
	}
	// CreateDynamicThingGroup is the AWS API call of that name.
	CreateDynamicThingGroup interface {
		CreateDynamicThingGroup(context.Context, *iot.CreateDynamicThingGroupInput, ...func(*iot.Options)) (*iot.CreateDynamicThingGroupOutput, error)
	}
	// DescribeThingGroup is the AWS API call of that name.
	DescribeThingGroup interface {
		DescribeThingGroup(context.Context, *iot.DescribeThingGroupInput, ...func(*iot.Options)) (*iot.DescribeThingGroupOutput, error)
	}
	// CreateJob is the AWS API call of that name.
	CreateJob interface {
		CreateJob(context.Context, *iot.CreateJobInput, ...func(*iot.Options)) (*iot.CreateJobOutput, error)
	}
	// DescribeJob is the AWS API call of that name.
	DescribeJob interface {
		DescribeJob(context.Context, *iot.DescribeJobInput, ...func(*iot.Options)) (*iot.DescribeJobOutput, error)
	}
	// CancelJob is the AWS API call of that name.
	CancelJob interface {
		CancelJob(context.Context, *iot.CancelJobInput, ...func(*iot.Options)) (*iot.CancelJobOutput, error)
	}
)

// Clients are the AWS calls; the real SDK clients satisfy them (S3 for the first two, Signer
// for the next two, IoT for the rest).
type Clients struct {
	PutObject               PutObject
	HeadObject              HeadObject
	StartSigningJob         StartSigningJob
	DescribeSigningJob      DescribeSigningJob
	ListJobTemplates        ListJobTemplates
	DescribeJobTemplate     DescribeJobTemplate
	CreateDynamicThingGroup CreateDynamicThingGroup
	DescribeThingGroup      DescribeThingGroup
	CreateJob               CreateJob
	DescribeJob             DescribeJob
	CancelJob               CancelJob
}

// Env is where releases go: the stage's fleet, name prefix, bucket and signing profile.
type Env struct {
	Fleet *fleetspec.Fleet
	// Prefix is the stage's name prefix, "<fleet>_<stage>".
	Prefix string
	// Bucket is the firmware bucket (stack output FirmwareBucketName).
	Bucket string
	// Region of the bucket, for the code-signing placeholder.
	Region string
	// Profile is the signing profile. Default: Prefix + "_firmware".
	Profile string
	// Out receives progress. Default: io.Discard.
	Out io.Writer
	// Now and Sleep are the clock. Default: time.Now, a real sleep.
	Now   func() time.Time
	Sleep func(context.Context, time.Duration) error
	// SigningTimeout bounds the wait for the signing job. Default: 10 minutes.
	SigningTimeout time.Duration
	// PollInterval between DescribeSigningJob calls. Default: 3 s.
	PollInterval time.Duration
}

// Request is one release.
type Request struct {
	Class, Version, File string
	// District limits the release to the class's devices in one district. Default: every
	// device of the class.
	District string
}

// Result is what a release created.
type Result struct {
	JobID, JobArn  string
	Key, VersionID string
	SigningJobID   string
	Targets        []string
}

var districtGroupRe = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// Check refuses a bad release before anything is uploaded: an unknown class or district, a
// version that is not semver, a file that is missing, empty or over the class's
// maxFirmwareBytes. It returns the class and the file's size.
func (e *Env) Check(r Request) (fleetspec.DeviceClass, int64, error) {
	var errs []error
	class, ok := e.Fleet.Class(r.Class)
	if !ok {
		var ids []string
		for _, c := range e.Fleet.Classes {
			ids = append(ids, c.ID)
		}
		errs = append(errs, fmt.Errorf("-class %q is not a device class of %s (classes: %s)", r.Class, e.fleetName(), strings.Join(ids, ", ")))
	}
	if _, err := document.ParseVersion(r.Version); err != nil {
		errs = append(errs, fmt.Errorf("-version: %w", err))
	}
	if r.District != "" {
		found := false
		for _, d := range e.Fleet.Districts {
			found = found || d.ID == r.District
		}
		if !found {
			errs = append(errs, fmt.Errorf("-district %q is not a district of %s", r.District, e.fleetName()))
		}
	}
	var size int64
	fi, err := os.Stat(r.File)
	switch {
	case r.File == "":
		errs = append(errs, errors.New("-file is required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("-file: %w", err))
	case !fi.Mode().IsRegular():
		errs = append(errs, fmt.Errorf("-file %s is not a regular file", r.File))
	case fi.Size() == 0:
		errs = append(errs, fmt.Errorf("-file %s is empty", r.File))
	case ok && fi.Size() > class.FirmwareLimit():
		errs = append(errs, fmt.Errorf("-file %s is %d bytes, over class %s's maxFirmwareBytes %d (%s)", r.File, fi.Size(), class.ID, class.FirmwareLimit(), e.fleetName()))
	default:
		size = fi.Size()
	}
	return class, size, errors.Join(errs...)
}

func (e *Env) fleetName() string {
	if e.Fleet.Path != "" {
		return "fleet file " + e.Fleet.Path
	}
	return "the fleet"
}

func (e *Env) defaults() {
	if e.Profile == "" {
		e.Profile = e.Prefix + "_firmware"
	}
	if e.Out == nil {
		e.Out = io.Discard
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Sleep == nil {
		e.Sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
				return nil
			}
		}
	}
	if e.SigningTimeout == 0 {
		e.SigningTimeout = 10 * time.Minute
	}
	if e.PollInterval == 0 {
		e.PollInterval = 3 * time.Second
	}
}

// Release checks, uploads, signs and creates the job.
func (e *Env) Release(ctx context.Context, c Clients, r Request) (Result, error) {
	e.defaults()
	class, size, err := e.Check(r)
	if err != nil {
		return Result{}, err
	}
	image, err := os.ReadFile(r.File)
	if err != nil {
		return Result{}, fmt.Errorf("-file: %w", err)
	}
	if int64(len(image)) != size {
		return Result{}, fmt.Errorf("-file %s changed while it was read", r.File)
	}
	digest := sha256.Sum256(image)
	sum := hex.EncodeToString(digest[:])
	res := Result{Key: ota.FirmwareKey(class.ID, r.Version, filepath.Base(r.File))}

	// The template first: a missing template fails before the upload, not after it.
	tpl, err := e.template(ctx, c, class.ID)
	if err != nil {
		return res, err
	}

	fmt.Fprintf(e.Out, "uploading %s (%d bytes, sha256 %s) to s3://%s/%s\n", r.File, size, sum, e.Bucket, res.Key)
	put, err := c.PutObject.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(e.Bucket), Key: aws.String(res.Key), Body: strings.NewReader(string(image)),
		ContentLength: aws.Int64(size),
		// Object Lock buckets require an integrity checksum on every PUT.
		ChecksumAlgorithm: s3types.ChecksumAlgorithmSha256,
		// A released version is never replaced: the conditional write fails if the key exists.
		IfNoneMatch: aws.String("*"),
		Metadata:    map[string]string{"class": class.ID, "version": r.Version, "sha256": sum},
	})
	if err != nil {
		return res, fmt.Errorf("upload s3://%s/%s: %w", e.Bucket, res.Key, err)
	}
	res.VersionID = aws.ToString(put.VersionId)
	if res.VersionID == "" {
		return res, fmt.Errorf("upload s3://%s/%s: no version id (is the bucket versioned?)", e.Bucket, res.Key)
	}

	signed, err := e.sign(ctx, c, class.ID, r.Version, sum, res.Key, res.VersionID, &res)
	if err != nil {
		return res, err
	}

	targets, err := e.targets(ctx, c, tpl, class.ID, r.District)
	if err != nil {
		return res, err
	}
	res.Targets = targets
	doc, err := json.Marshal(map[string]any{
		"operation": document.Operation, "class": class.ID, "version": r.Version, "size": size, "sha256": sum,
		"image":     map[string]any{"url": document.PresignedURLPlaceholder(e.Bucket, res.Key)},
		"signature": document.SignaturePlaceholder(e.Region, e.Bucket, signed.key, signed.version),
	})
	if err != nil {
		return res, err
	}
	scope := "all"
	if r.District != "" {
		scope = r.District
	}
	res.JobID = JobID(class.ID, r.Version, scope, e.Now())
	// The template carries the rollout, abort, timeout, retry and presigned-URL configuration;
	// they are passed explicitly too, so the job has them whatever CreateJob does with a
	// template's configuration when a document is given.
	out, err := c.CreateJob.CreateJob(ctx, &iot.CreateJobInput{
		JobId: aws.String(res.JobID), Targets: targets, TargetSelection: iottypes.TargetSelectionContinuous,
		Document:                   aws.String(string(doc)),
		Description:                aws.String(fmt.Sprintf("Firmware %s for %s (%s)", r.Version, class.ID, scope)),
		JobTemplateArn:             tpl.JobTemplateArn,
		AbortConfig:                tpl.AbortConfig,
		JobExecutionsRolloutConfig: tpl.JobExecutionsRolloutConfig,
		JobExecutionsRetryConfig:   tpl.JobExecutionsRetryConfig,
		TimeoutConfig:              tpl.TimeoutConfig,
		PresignedUrlConfig:         tpl.PresignedUrlConfig,
	})
	if err != nil {
		return res, fmt.Errorf("create job %s: %w", res.JobID, err)
	}
	res.JobArn = aws.ToString(out.JobArn)
	fmt.Fprintf(e.Out, "created job %s for %s\nwatch it:  go run ./cmd/ota status -job %s\n           (dashboard %s; aws iot describe-job --job-id %s)\ncancel it: go run ./cmd/ota cancel -job %s\n",
		res.JobID, strings.Join(targets, ", "), res.JobID, "SmartCity-<stage>-Rollouts", res.JobID, res.JobID)
	return res, nil
}

// JobID names a job: class, version, district or "all", and the time, within IoT's 64 of
// [a-zA-Z0-9_-].
func JobID(class, version, scope string, now time.Time) string {
	clean := regexp.MustCompile(`[^a-zA-Z0-9_-]`).ReplaceAllString(version, "_")
	id := class + "-" + clean + "-" + scope
	stamp := "-" + now.UTC().Format("20060102T150405")
	if len(id)+len(stamp) > 64 {
		id = id[:64-len(stamp)]
	}
	return id + stamp
}

type signedObject struct{ key, version string }

func requestToken(class, version, sum string) string {
	h := sha256.Sum256([]byte(class + "\x00" + version + "\x00" + sum))
	return hex.EncodeToString(h[:])[:40]
}

func (e *Env) sign(ctx context.Context, c Clients, class, version, sum, key, objVersion string, res *Result) (signedObject, error) {
	start, err := c.StartSigningJob.StartSigningJob(ctx, &signer.StartSigningJobInput{
		ProfileName: aws.String(e.Profile),
		// The same image of the same release signs once, however often the command is retried;
		// a rollback (the same image under a new version) is a new signing job.
		ClientRequestToken: aws.String(requestToken(class, version, sum)),
		Source: &signertypes.Source{S3: &signertypes.S3Source{
			BucketName: aws.String(e.Bucket), Key: aws.String(key), Version: aws.String(objVersion),
		}},
		Destination: &signertypes.Destination{S3: &signertypes.S3Destination{
			BucketName: aws.String(e.Bucket), Prefix: aws.String(ota.SignedKeyPrefix(class, version)),
		}},
	})
	if err != nil {
		return signedObject{}, fmt.Errorf("start signing job with profile %s: %w", e.Profile, err)
	}
	res.SigningJobID = aws.ToString(start.JobId)
	fmt.Fprintf(e.Out, "signing job %s started (profile %s)\n", res.SigningJobID, e.Profile)
	deadline := e.Now().Add(e.SigningTimeout)
	for {
		d, err := c.DescribeSigningJob.DescribeSigningJob(ctx, &signer.DescribeSigningJobInput{JobId: start.JobId})
		if err != nil {
			return signedObject{}, fmt.Errorf("signing job %s: %w", res.SigningJobID, err)
		}
		switch d.Status {
		case signertypes.SigningStatusSucceeded:
			if d.SignedObject == nil || d.SignedObject.S3 == nil || aws.ToString(d.SignedObject.S3.Key) == "" {
				return signedObject{}, fmt.Errorf("signing job %s succeeded without a signed object", res.SigningJobID)
			}
			k := aws.ToString(d.SignedObject.S3.Key)
			h, err := c.HeadObject.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(e.Bucket), Key: aws.String(k)})
			if err != nil {
				return signedObject{}, fmt.Errorf("signed object s3://%s/%s: %w", e.Bucket, k, err)
			}
			fmt.Fprintf(e.Out, "signing job %s succeeded: s3://%s/%s\n", res.SigningJobID, e.Bucket, k)
			return signedObject{key: k, version: aws.ToString(h.VersionId)}, nil
		case signertypes.SigningStatusFailed:
			return signedObject{}, fmt.Errorf("signing job %s failed: %s; no job was created", res.SigningJobID, aws.ToString(d.StatusReason))
		}
		if e.Now().After(deadline) {
			return signedObject{}, fmt.Errorf("signing job %s still %s after %v; no job was created", res.SigningJobID, d.Status, e.SigningTimeout)
		}
		fmt.Fprintf(e.Out, "signing job %s: %s...\n", res.SigningJobID, d.Status)
		if err := e.Sleep(ctx, e.PollInterval); err != nil {
			return signedObject{}, err
		}
	}
}

// template finds the class's current job template: the newest whose id starts with
// "<prefix>_<class>_" (the id ends in a content hash, see ota.TemplateID).
func (e *Env) template(ctx context.Context, c Clients, class string) (*iot.DescribeJobTemplateOutput, error) {
	want := e.Prefix + "_" + class + "_"
	if len(want) > 52 {
		want = want[:51] + "_"
	}
	var found []iottypes.JobTemplateSummary
	var token *string
	for {
		out, err := c.ListJobTemplates.ListJobTemplates(ctx, &iot.ListJobTemplatesInput{NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("list job templates: %w", err)
		}
		for _, t := range out.JobTemplates {
			id := aws.ToString(t.JobTemplateId)
			if strings.HasPrefix(id, want) && len(id) == len(want)+12 {
				found = append(found, t)
			}
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("no job template %s<hash> for class %s: deploy the Operations stack first", want, class)
	}
	sort.Slice(found, func(i, j int) bool { return aws.ToTime(found[i].CreatedAt).After(aws.ToTime(found[j].CreatedAt)) })
	t, err := c.DescribeJobTemplate.DescribeJobTemplate(ctx, &iot.DescribeJobTemplateInput{JobTemplateId: found[0].JobTemplateId})
	if err != nil {
		return nil, fmt.Errorf("describe job template %s: %w", aws.ToString(found[0].JobTemplateId), err)
	}
	if t.PresignedUrlConfig == nil || t.AbortConfig == nil || t.JobExecutionsRolloutConfig == nil || t.TimeoutConfig == nil {
		return nil, fmt.Errorf("job template %s lacks its rollout, abort, timeout or presigned-URL configuration", aws.ToString(t.JobTemplateId))
	}
	return t, nil
}

// DistrictQuery is the fleet-index query of a class's devices in one district: the thing type
// is the class (Names.Class) and the district is a static group every device joins at
// provisioning (Names.District), which JITP devices have even without a district attribute.
func DistrictQuery(prefix, class, district string) string {
	return "thingTypeName:" + prefix + "_" + class + " AND thingGroupNames:" + prefix + "_district_" + district
}

// DistrictGroup names the dynamic group of a class's devices in a district.
func DistrictGroup(prefix, class, district string) string {
	return prefix + "_ota_" + class + "_" + district
}

// targets are the job's targets: the class's static group, or for a district release a dynamic
// group of the class's devices in that district. Never the district group itself, which holds
// every class: a street-light image must not reach the district's cameras.
func (e *Env) targets(ctx context.Context, c Clients, tpl *iot.DescribeJobTemplateOutput, class, district string) ([]string, error) {
	a, err := arn.Parse(aws.ToString(tpl.JobTemplateArn))
	if err != nil {
		return nil, fmt.Errorf("job template arn %q: %w", aws.ToString(tpl.JobTemplateArn), err)
	}
	groupArn := func(name string) string {
		return arn.ARN{Partition: a.Partition, Service: "iot", Region: a.Region, AccountID: a.AccountID, Resource: "thinggroup/" + name}.String()
	}
	if district == "" {
		return []string{groupArn(e.Prefix + "_" + class)}, nil
	}
	name := DistrictGroup(e.Prefix, class, district)
	if !districtGroupRe.MatchString(name) {
		return nil, fmt.Errorf("group name %q is not a valid thing group name", name)
	}
	query := DistrictQuery(e.Prefix, class, district)
	out, err := c.CreateDynamicThingGroup.CreateDynamicThingGroup(ctx, &iot.CreateDynamicThingGroupInput{
		ThingGroupName: aws.String(name), QueryString: aws.String(query),
		ThingGroupProperties: &iottypes.ThingGroupProperties{ThingGroupDescription: aws.String("OTA target: " + class + " devices in district " + district)},
	})
	var exists *iottypes.ResourceAlreadyExistsException
	switch {
	case err == nil:
		fmt.Fprintf(e.Out, "created dynamic thing group %s (%s)\n", name, query)
		return []string{aws.ToString(out.ThingGroupArn)}, nil
	case errors.As(err, &exists):
		// Reuse the group only if it selects exactly what this release needs.
		d, derr := c.DescribeThingGroup.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: aws.String(name)})
		if derr != nil {
			return nil, fmt.Errorf("describe thing group %s: %w", name, derr)
		}
		if aws.ToString(d.QueryString) != query {
			return nil, fmt.Errorf("thing group %s exists with query %q, not %q: refusing to target it", name, aws.ToString(d.QueryString), query)
		}
		return []string{aws.ToString(d.ThingGroupArn)}, nil
	default:
		return nil, fmt.Errorf("create dynamic thing group %s (needs fleet indexing in REGISTRY mode): %w", name, err)
	}
}

// Status prints a job's state and per-status execution counts.
func Status(ctx context.Context, c DescribeJob, out io.Writer, jobID string) error {
	d, err := c.DescribeJob(ctx, &iot.DescribeJobInput{JobId: aws.String(jobID)})
	if err != nil {
		return fmt.Errorf("describe job %s: %w", jobID, err)
	}
	if d.Job == nil {
		return fmt.Errorf("describe job %s: empty answer", jobID)
	}
	j := d.Job
	fmt.Fprintf(out, "job %s: %s (targets %s)\n", jobID, j.Status, strings.Join(j.Targets, ", "))
	if reason := aws.ToString(j.ReasonCode); reason != "" {
		fmt.Fprintf(out, "reason: %s %s\n", reason, aws.ToString(j.Comment))
	}
	if p := j.JobProcessDetails; p != nil {
		fmt.Fprintf(out, "succeeded %d  failed %d  rejected %d  timed out %d  in progress %d  queued %d  canceled %d  removed %d\n",
			aws.ToInt32(p.NumberOfSucceededThings), aws.ToInt32(p.NumberOfFailedThings), aws.ToInt32(p.NumberOfRejectedThings),
			aws.ToInt32(p.NumberOfTimedOutThings), aws.ToInt32(p.NumberOfInProgressThings), aws.ToInt32(p.NumberOfQueuedThings),
			aws.ToInt32(p.NumberOfCanceledThings), aws.ToInt32(p.NumberOfRemovedThings))
	}
	fmt.Fprintf(out, "a device's reason: aws iot describe-job-execution --job-id %s --thing-name <thing> (statusDetails.reason)\n", jobID)
	return nil
}

// Cancel cancels a job; force also cancels executions in progress (a device mid-update keeps
// its running version, since it applies only verified images).
func Cancel(ctx context.Context, c CancelJob, out io.Writer, jobID, comment string, force bool) error {
	if comment == "" {
		comment = "cancelled by an operator with cmd/ota"
	}
	if _, err := c.CancelJob(ctx, &iot.CancelJobInput{JobId: aws.String(jobID), Comment: aws.String(comment),
		ReasonCode: aws.String("OPERATOR_CANCEL"), Force: force}); err != nil {
		return fmt.Errorf("cancel job %s: %w", jobID, err)
	}
	fmt.Fprintf(out, "job %s cancelled (force=%v)\n", jobID, force)
	return nil
}
