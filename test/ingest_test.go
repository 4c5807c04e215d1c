package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/golambda"
	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/envelope"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
	"github.com/secure-smart-city/platform/stacks"
	"github.com/secure-smart-city/platform/topics"
)

// ingestFleet is a small valid fleet built in code: two classes, one with a sensitive field.
func ingestFleet() *fleetspec.Fleet {
	return &fleetspec.Fleet{
		Name:      "testcity",
		Districts: []fleetspec.District{{ID: "centre", Name: "Centre"}},
		Classes: []fleetspec.DeviceClass{
			{ID: "street_light", Name: "Street light", Fields: []fleetspec.Field{{Name: "on", Type: fleetspec.TypeBoolean, Required: true}}},
			{ID: "camera", Name: "Camera", Fields: []fleetspec.Field{{Name: "plates", Type: fleetspec.TypeString, Sensitive: true}}},
		},
		Things: []fleetspec.Thing{
			{Name: "sl-001", Class: "street_light", District: "centre", Serial: "SN-0001"},
			{Name: "cam-001", Class: "camera", District: "centre", Serial: "SN-0002"},
		},
	}
}

// newIngest builds the construct with its own key, table, bucket and field key in scope;
// props fill in the rest (Entry defaults to testEntry: construct tests need a real main package
// but not the telemetry processor's).
func newIngest(scope constructs.Construct, p ingest.Props) *ingest.Ingest {
	return newIngestWith(scope, p, nil)
}

// newIngestWith is newIngest with a last change to the props, after the defaults.
func newIngestWith(scope constructs.Construct, p ingest.Props, change func(*ingest.Props)) *ingest.Ingest {
	name := strings.ReplaceAll(*scope.Node().Path(), "/", "-")
	key := keys.New(scope, "IngestKey", &keys.Props{Alias: jsii.String("alias/test/" + name + "/platform"), Services: []keys.Service{keys.ServiceLogs}})
	field := keys.New(scope, "IngestFieldKey", &keys.Props{Alias: jsii.String("alias/test/" + name + "/fields")})
	if p.Fleet == nil {
		p.Fleet = ingestFleet()
	}
	if p.RulePrefix == "" {
		p.RulePrefix = "testcity_dev"
	}
	if p.EncryptionKey == nil {
		p.EncryptionKey = key.Key
	}
	if p.State == nil {
		p.State = securestore.NewTable(scope, "IngestState", &securestore.TableProps{PartitionKey: "pk", SortKey: "sk", TimeToLiveAttribute: "expiresAt", EncryptionKey: key.Key})
	}
	if p.Archive == nil {
		p.Archive = securestore.NewBucket(scope, "IngestArchive", &securestore.BucketProps{EncryptionKey: key.Key})
	}
	if p.FieldKey == nil {
		p.FieldKey = field.Key
	}
	if p.Entry == "" {
		p.Entry = testEntry
	}
	if change != nil {
		change(&p)
	}
	return ingest.New(scope, "Telemetry", &p)
}

func init() {
	weakenings = append(weakenings, weakening{"lambda-iot-permission-scoped", func(s awscdk.Stack, w bool) {
		in := newIngest(s, ingest.Props{Mode: ingest.ModeDirect})
		if w {
			for _, c := range *in.Processor.Function.Node().FindAll(constructs.ConstructOrder_PREORDER) {
				if p, ok := c.(awslambda.CfnPermission); ok {
					p.AddPropertyDeletionOverride(jsii.String("SourceAccount"))
				}
			}
		}
	}})
}

// stmt is one IAM policy statement, parsed.
type stmt struct {
	Actions    []string
	Resources  []any
	Conditions any
}

// roleStatements returns the statements of every AWS::IAM::Policy attached to the role with
// this logical id.
func roleStatements(tmpl compliance.Template, roleID string) []stmt {
	var out []stmt
	for _, p := range tmpl.Resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range compliance.List(compliance.Get(p.Properties, "Roles")) {
			attached = attached || compliance.Get(r, "Ref") == roleID
		}
		if !attached {
			continue
		}
		for _, st := range compliance.List(compliance.Get(p.Properties, "PolicyDocument", "Statement")) {
			if compliance.Get(st, "Effect") != "Allow" {
				continue
			}
			s := stmt{Resources: compliance.List(compliance.Get(st, "Resource")), Conditions: compliance.Get(st, "Condition")}
			for _, a := range compliance.List(compliance.Get(st, "Action")) {
				s.Actions = append(s.Actions, a.(string))
			}
			sort.Strings(s.Actions)
			out = append(out, s)
		}
	}
	return out
}

// refText is a reference (or any value) as JSON, to look for the logical id or the
// cross-stack export it names.
func refText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// oneResource finds the only resource of a type whose logical id starts with prefix.
func oneResource(t *testing.T, tmpl compliance.Template, typ, prefix string) compliance.Resource {
	t.Helper()
	var found []compliance.Resource
	for _, r := range tmpl.Resources(typ) {
		if strings.HasPrefix(r.ID, prefix) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s resources with id prefix %q, want 1", len(found), typ, prefix)
	}
	return found[0]
}

func sorted(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// viaService is the condition that limits a KMS statement to one service, in the test
// region (the stacks have an explicit environment, so the region is a literal).
func viaService(service string) any {
	return map[string]any{"StringEquals": map[string]any{"kms:ViaService": service + "." + testRegion + ".amazonaws.com"}}
}

// TestIngestionStack checks the app's telemetry path, resource by resource, in both stages.
func TestIngestionStack(t *testing.T) {
	for _, stage := range []stacks.Stage{stacks.StageDev, stacks.StageProd} {
		t.Run(string(stage), func(t *testing.T) {
			s := synthOnce(t, stage)
			tmpl := s.templates["SmartCity-"+string(stage)+"-Ingestion"]
			fleet, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet."+string(stage)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := stacks.Config{Stage: stage, Fleet: fleet}
			checkIngestion(t, tmpl, cfg)
		})
	}
}

func checkIngestion(t *testing.T, tmpl compliance.Template, cfg stacks.Config) {
	queue := oneResource(t, tmpl, "AWS::SQS::Queue", "RuleErrors")
	stream := oneResource(t, tmpl, "AWS::Kinesis::Stream", "TelemetryStream")
	role := oneResource(t, tmpl, "AWS::IAM::Role", "TelemetryRuleRole")
	fn := oneResource(t, tmpl, "AWS::Lambda::Function", "TelemetryProcessor")

	t.Run("one rule per class through Basic Ingest, carrying the payload encoded and the class as a constant", func(t *testing.T) {
		var want, got []string
		classOf := map[string]string{}
		for _, c := range cfg.Fleet.Classes {
			name := topics.RuleName(cfg.RulePrefix(), c.ID)
			want = append(want, name)
			classOf[name] = c.ID
		}
		for _, r := range tmpl.Resources("AWS::IoT::TopicRule") {
			name := compliance.Get(r.Properties, "RuleName").(string)
			got = append(got, name)
			p := compliance.Get(r.Properties, "TopicRulePayload")
			wantSQL := "SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt, '" + classOf[name] + "' AS class"
			if sql := compliance.Get(p, "Sql"); sql != wantSQL {
				t.Errorf("%s: Sql %v, want %s", r.ID, sql, wantSQL)
			}
			if v := compliance.Get(p, "AwsIotSqlVersion"); v != "2016-03-23" {
				t.Errorf("%s: SQL version %v", r.ID, v)
			}
			if compliance.Get(p, "RuleDisabled") != false {
				t.Errorf("%s: RuleDisabled %v", r.ID, compliance.Get(p, "RuleDisabled"))
			}
		}
		if diff := cmp.Diff(sorted(want), sorted(got)); diff != "" {
			t.Errorf("rule names (-want +got):\n%s", diff)
		}
	})

	t.Run("every rule has an error action into the encrypted dead-letter queue", func(t *testing.T) {
		for _, r := range tmpl.Resources("AWS::IoT::TopicRule") {
			ea := compliance.Get(r.Properties, "TopicRulePayload", "ErrorAction")
			want := map[string]any{"Sqs": map[string]any{
				"QueueUrl":  map[string]any{"Ref": queue.ID},
				"RoleArn":   map[string]any{"Fn::GetAtt": []any{role.ID, "Arn"}},
				"UseBase64": false,
			}}
			if diff := cmp.Diff(want, ea); diff != "" {
				t.Errorf("%s: error action (-want +got):\n%s", r.ID, diff)
			}
		}
		if k := refText(compliance.Get(queue.Properties, "KmsMasterKeyId")); !strings.Contains(k, "PlatformKey") {
			t.Errorf("dead-letter queue key %s, want the platform key", k)
		}
		if d := compliance.Get(queue.Properties, "MessageRetentionPeriod"); d != 1209600.0 {
			t.Errorf("dead-letter queue retention %v, want 14 days (1209600 s)", d)
		}
	})

	t.Run("stream mode is the default, partitioned by device", func(t *testing.T) {
		for _, r := range tmpl.Resources("AWS::IoT::TopicRule") {
			actions := compliance.List(compliance.Get(r.Properties, "TopicRulePayload", "Actions"))
			want := []any{map[string]any{"Kinesis": map[string]any{
				"StreamName":   map[string]any{"Ref": stream.ID},
				"PartitionKey": "${clientid()}",
				"RoleArn":      map[string]any{"Fn::GetAtt": []any{role.ID, "Arn"}},
			}}}
			if diff := cmp.Diff(want, actions); diff != "" {
				t.Errorf("%s: actions (-want +got):\n%s", r.ID, diff)
			}
		}
		if n := len(tmpl.Resources("AWS::Lambda::Permission")); n != 0 {
			t.Errorf("%d Lambda permissions in stream mode, want none (no rule invokes a function)", n)
		}
	})

	t.Run("stream encrypted with the platform key, stage's capacity, 24 hours", func(t *testing.T) {
		p := stream.Properties
		if compliance.Get(p, "StreamEncryption", "EncryptionType") != "KMS" || !strings.Contains(refText(compliance.Get(p, "StreamEncryption", "KeyId")), "PlatformKey") {
			t.Errorf("stream encryption %v, want KMS with the platform key", compliance.Get(p, "StreamEncryption"))
		}
		// Provisioned shards in prod (stacks.DefaultProdStreamShards), on demand in dev.
		if shards := cfg.Shards(); shards > 0 {
			if m := compliance.Get(p, "StreamModeDetails", "StreamMode"); m != "PROVISIONED" || compliance.Get(p, "ShardCount") != float64(shards) {
				t.Errorf("stream mode %v with ShardCount %v, want PROVISIONED with %d", m, compliance.Get(p, "ShardCount"), shards)
			}
		} else {
			if m := compliance.Get(p, "StreamModeDetails", "StreamMode"); m != "ON_DEMAND" {
				t.Errorf("stream mode %v, want ON_DEMAND", m)
			}
			if compliance.Get(p, "ShardCount") != nil {
				t.Errorf("an on-demand stream has ShardCount %v", compliance.Get(p, "ShardCount"))
			}
		}
		if h := compliance.Get(p, "RetentionPeriodHours"); h != 24.0 {
			t.Errorf("retention %v hours, want 24", h)
		}
		if stream.Attr("DeletionPolicy") != "Retain" {
			t.Errorf("stream DeletionPolicy %q, want Retain", stream.Attr("DeletionPolicy"))
		}
	})

	t.Run("the rule role may do exactly what the actions need", func(t *testing.T) {
		got := roleStatements(tmpl, role.ID)
		platformKey := func(st stmt) bool {
			return len(st.Resources) == 1 && strings.Contains(refText(st.Resources[0]), "PlatformKey")
		}
		want := map[string]func(stmt) string{
			"kinesis:PutRecord": func(st stmt) string {
				if cmp.Equal(st.Resources, []any{map[string]any{"Fn::GetAtt": []any{stream.ID, "Arn"}}}) && st.Conditions == nil {
					return ""
				}
				return "not exactly the stream"
			},
			"kms:GenerateDataKey": func(st stmt) string {
				if platformKey(st) && cmp.Equal(st.Conditions, viaService("kinesis")) {
					return ""
				}
				return "not the platform key via Kinesis"
			},
			"sqs:SendMessage": func(st stmt) string {
				if cmp.Equal(st.Resources, []any{map[string]any{"Fn::GetAtt": []any{queue.ID, "Arn"}}}) && st.Conditions == nil {
					return ""
				}
				return "not exactly the dead-letter queue"
			},
			"kms:Decrypt,kms:GenerateDataKey": func(st stmt) string {
				if platformKey(st) && cmp.Equal(st.Conditions, viaService("sqs")) {
					return ""
				}
				return "not the platform key via SQS"
			},
		}
		seen := map[string]int{}
		for _, st := range got {
			k := strings.Join(st.Actions, ",")
			check, ok := want[k]
			if !ok {
				t.Errorf("rule role allows %v on %s: not needed by any rule action", st.Actions, refText(st.Resources))
				continue
			}
			seen[k]++
			if msg := check(st); msg != "" {
				t.Errorf("rule role statement %v on %s %s: %s", st.Actions, refText(st.Resources), refText(st.Conditions), msg)
			}
		}
		for k := range want {
			if seen[k] != 1 {
				t.Errorf("rule role has %d statements for %s, want 1", seen[k], k)
			}
		}
		trust := compliance.List(compliance.Get(role.Properties, "AssumeRolePolicyDocument", "Statement"))
		if len(trust) != 1 || compliance.Get(trust[0], "Principal", "Service") != "iot.amazonaws.com" ||
			compliance.Get(trust[0], "Condition", "StringEquals", "aws:SourceAccount") == nil {
			t.Errorf("rule role trust %s, want iot.amazonaws.com scoped by source account and ARN", refText(trust))
		} else {
			// Exactly the rules of this fleet, by ARN, as the AWS IoT guide documents.
			var gotRules, wantRules []string
			for _, a := range compliance.List(compliance.Get(trust[0], "Condition", "ArnEquals", "aws:SourceArn")) {
				text := refText(a)
				if i := strings.LastIndex(text, ":rule/"); i >= 0 {
					gotRules = append(gotRules, strings.Trim(text[i+len(":rule/"):], `"`))
				} else {
					t.Errorf("rule role trust: source ARN %s is not a topic rule ARN", text)
				}
			}
			for _, c := range cfg.Fleet.Classes {
				wantRules = append(wantRules, topics.RuleName(cfg.Fleet.RulePrefix(string(cfg.Stage)), c.ID))
			}
			sort.Strings(gotRules)
			sort.Strings(wantRules)
			if !cmp.Equal(gotRules, wantRules) {
				t.Errorf("rule role trust source ARNs name rules %v, want exactly %v", gotRules, wantRules)
			}
		}
		if compliance.Get(role.Properties, "ManagedPolicyArns") != nil {
			t.Errorf("rule role has managed policies %v", compliance.Get(role.Properties, "ManagedPolicyArns"))
		}
	})

	t.Run("the processor consumes the stream in hardened batches", func(t *testing.T) {
		var maps []compliance.Resource
		for _, m := range tmpl.Resources("AWS::Lambda::EventSourceMapping") {
			if refText(compliance.Get(m.Properties, "EventSourceArn")) == refText(map[string]any{"Fn::GetAtt": []any{stream.ID, "Arn"}}) {
				maps = append(maps, m)
			}
		}
		if len(maps) != 1 {
			t.Fatalf("%d event source mappings on the stream, want 1", len(maps))
		}
		p := maps[0].Properties
		want := map[string]any{
			"BatchSize": 500.0, "BisectBatchOnFunctionError": true, "MaximumRetryAttempts": 5.0,
			"FunctionResponseTypes": []any{"ReportBatchItemFailures"}, "StartingPosition": "TRIM_HORIZON",
			"FunctionName": map[string]any{"Ref": fn.ID},
		}
		for k, v := range want {
			if !cmp.Equal(p[k], v) {
				t.Errorf("event source mapping %s = %v, want %v", k, p[k], v)
			}
		}
		dest := refText(compliance.Get(p, "DestinationConfig", "OnFailure", "Destination"))
		if !strings.Contains(dest, "TelemetryProcessorFailures") {
			t.Errorf("on-failure destination %s, want the processor's Failures queue", dest)
		}
	})

	t.Run("the processor may do exactly what lambdas/telemetry does", func(t *testing.T) {
		roleID, _ := compliance.Get(fn.Properties, "Role", "Fn::GetAtt", 0).(string)
		got := roleStatements(tmpl, roleID)
		var stateOK, putOK, headOK, listOK, fieldOK bool
		for _, st := range got {
			res := refText(st.Resources)
			for _, r := range st.Resources {
				if r == "*" && !(len(st.Actions) == 2 && st.Actions[0] == "xray:PutTelemetryRecords") {
					t.Errorf("processor: %v on Resource *", st.Actions)
				}
			}
			for _, a := range st.Actions {
				svc := strings.SplitN(a, ":", 2)[0]
				switch svc {
				case "dynamodb":
					if !strings.Contains(res, "DeviceState") {
						t.Errorf("processor: %s on %s, want only the telemetry state table", a, res)
					}
				case "s3":
					if !strings.Contains(res, "TelemetryArchive") {
						t.Errorf("processor: %s on %s, want only the archive", a, res)
					}
				}
			}
			switch k := strings.Join(st.Actions, ","); {
			case k == strings.Join(sorted(ingest.StateActions), ","):
				stateOK = strings.Contains(res, "DeviceState") && len(st.Resources) == 1
			case k == "s3:PutObject":
				putOK = len(st.Resources) == 2 && strings.Contains(refText(st.Resources[0]), "/accepted/*") && strings.Contains(refText(st.Resources[1]), "/rejected/*")
			case k == "s3:GetObject":
				headOK = len(st.Resources) == 1 && strings.Contains(res, "/accepted/*")
			case k == "s3:ListBucket":
				listOK = len(st.Resources) == 1 && !strings.Contains(res, "/")
			case strings.HasPrefix(k, "dynamodb:") || strings.HasPrefix(k, "s3:"):
				t.Errorf("processor: unexpected statement %v on %s", st.Actions, res)
			case strings.Contains(res, "FieldKey"):
				fieldOK = k == "kms:GenerateDataKey" && cmp.Equal(st.Conditions, fieldConditions(cfg.Fleet))
				if !fieldOK {
					t.Errorf("processor: field key statement %v %s", st.Actions, refText(st.Conditions))
				}
			}
		}
		if !stateOK || !putOK || !headOK || !listOK || !fieldOK {
			t.Errorf("processor grants: table %v, put %v, head %v, list %v, field key %v; want all", stateOK, putOK, headOK, listOK, fieldOK)
		}
	})

	t.Run("the processor gets the fleet, the table, the bucket and the field key", func(t *testing.T) {
		vars, _ := compliance.Get(fn.Properties, "Environment", "Variables").(map[string]any)
		if got := vars[ingest.EnvRulePrefix]; got != cfg.RulePrefix() {
			t.Errorf("environment %s = %v, want %s (the processor checks a Basic Ingest topic's rule against the class)", ingest.EnvRulePrefix, got, cfg.RulePrefix())
		}
		for name, want := range map[string]string{ingest.EnvStateTable: "DeviceState", ingest.EnvArchiveBucket: "TelemetryArchive", ingest.EnvFieldKeyID: "FieldKey"} {
			if !strings.Contains(refText(vars[name]), want) {
				t.Errorf("environment %s = %s, want a reference to %s", name, refText(vars[name]), want)
			}
		}
	})
}

func fieldConditions(f *fleetspec.Fleet) any {
	var v any
	b, _ := json.Marshal(ingest.FieldKeyConditions(f))
	_ = json.Unmarshal(b, &v)
	return v
}

// TestIngestDirectMode: direct mode invokes the processor from each rule, with the invoke
// permission scoped to that rule and this account, and an on-failure destination.
func TestIngestDirectMode(t *testing.T) {
	tmpl := synthWeakenings(t)["Compliant-lambda-iot-permission-scoped"]
	rules := tmpl.Resources("AWS::IoT::TopicRule")
	fns := tmpl.Resources("AWS::Lambda::Function")
	if len(rules) != 2 || len(fns) != 1 {
		t.Fatalf("%d rules and %d functions, want 2 and 1", len(rules), len(fns))
	}
	fn := fns[0]
	if n := len(tmpl.Resources("AWS::Kinesis::Stream")); n != 0 {
		t.Errorf("direct mode made %d streams", n)
	}
	if mode := compliance.Get(fn.Properties, "Environment", "Variables", ingest.EnvMode); mode != "direct" {
		t.Errorf("direct-mode processor has %s=%v, want direct (its handler then takes one rule message)", ingest.EnvMode, mode)
	}
	perms := tmpl.Resources("AWS::Lambda::Permission")
	if len(perms) != len(rules) {
		t.Errorf("%d permissions for %d rules, want one each", len(perms), len(rules))
	}
	for _, r := range rules {
		want := []any{map[string]any{"Lambda": map[string]any{"FunctionArn": map[string]any{"Fn::GetAtt": []any{fn.ID, "Arn"}}}}}
		if diff := cmp.Diff(want, compliance.List(compliance.Get(r.Properties, "TopicRulePayload", "Actions"))); diff != "" {
			t.Errorf("%s: actions (-want +got):\n%s", r.ID, diff)
		}
		if compliance.Get(r.Properties, "TopicRulePayload", "ErrorAction", "Sqs") == nil {
			t.Errorf("%s: no SQS error action", r.ID)
		}
		found := 0
		for _, p := range perms {
			if !cmp.Equal(compliance.Get(p.Properties, "SourceArn"), map[string]any{"Fn::GetAtt": []any{r.ID, "Arn"}}) {
				continue
			}
			found++
			want := map[string]any{
				"Action": "lambda:InvokeFunction", "Principal": "iot.amazonaws.com",
				"FunctionName":  map[string]any{"Fn::GetAtt": []any{fn.ID, "Arn"}},
				"SourceArn":     map[string]any{"Fn::GetAtt": []any{r.ID, "Arn"}},
				"SourceAccount": testAccount,
			}
			if diff := cmp.Diff(want, p.Properties); diff != "" {
				t.Errorf("permission for %s (-want +got):\n%s", r.ID, diff)
			}
		}
		if found != 1 {
			t.Errorf("%s: %d permissions name it as source, want 1", r.ID, found)
		}
	}
	cfgs := tmpl.Resources("AWS::Lambda::EventInvokeConfig")
	if len(cfgs) != 1 || compliance.Get(cfgs[0].Properties, "DestinationConfig", "OnFailure", "Destination") == nil {
		t.Errorf("invoke configs %v, want one with an on-failure destination", cfgs)
	}
	// The processor bounds a direct-mode receivedAt by the oldest retry Lambda delivers.
	if len(cfgs) == 1 && compliance.Get(cfgs[0].Properties, "MaximumEventAgeInSeconds") != pipeline.DefaultMaxEventAge.Seconds() {
		t.Errorf("direct mode: maximum event age %v s, want pipeline.DefaultMaxEventAge (%v s)", compliance.Get(cfgs[0].Properties, "MaximumEventAgeInSeconds"), pipeline.DefaultMaxEventAge.Seconds())
	}
	for _, role := range tmpl.Resources("AWS::IAM::Role") {
		if !strings.HasPrefix(role.ID, "TelemetryRuleRole") {
			continue
		}
		for _, st := range roleStatements(tmpl, role.ID) {
			if k := strings.Join(st.Actions, ","); k != "sqs:SendMessage" && k != "kms:Decrypt,kms:GenerateDataKey" {
				t.Errorf("direct-mode rule role allows %v; the Lambda action needs no role", st.Actions)
			}
		}
	}
}

// TestIngestPropsErrors: bad props are refused with the field and the value named.
func TestIngestPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	s := awscdk.NewStack(app, jsii.String("IngestProps"), nil)
	cases := []struct {
		name   string
		props  ingest.Props
		want   []string
		change func(*ingest.Props)
	}{
		{"unknown mode", ingest.Props{Mode: "firehose"}, []string{`Mode "firehose" is unknown`}, nil},
		{"batch size below 100", ingest.Props{Source: &golambda.KinesisSourceProps{BatchSize: new(50)}}, []string{"Source.BatchSize 50 must be between 100 and 10000"}, nil},
		{"class not in the fleet", ingest.Props{Classes: []string{"street_light", "street_lamp"}}, []string{`Classes[1] "street_lamp" is not a device class of the fleet`}, nil},
		{"class twice", ingest.Props{Classes: []string{"camera", "camera"}}, []string{`Classes[1] "camera" is listed twice`}, nil},
		{"no classes", ingest.Props{Classes: []string{}}, []string{"no device classes to make rules for"}, nil},
		{"retention not whole hours", ingest.Props{StreamRetention: 30*time.Hour + 30*time.Minute}, []string{"StreamRetention 30h30m0s must be whole hours between 24h and 8760h"}, nil},
		{"retention below minimum", ingest.Props{StreamRetention: 12 * time.Hour}, []string{"StreamRetention 12h0m0s must be whole hours"}, nil},
		{"retention beyond the dedup window", ingest.Props{StreamRetention: 7 * 24 * time.Hour}, []string{"StreamRetention 168h0m0s must be below the processor's deduplication window"}, nil},
		{"negative shards", ingest.Props{StreamShards: -1}, []string{"StreamShards -1 must be 0 (on-demand) or between 1 and 10000"}, nil},
		{"stream options in direct mode", ingest.Props{Mode: ingest.ModeDirect, StreamShards: 2}, []string{"apply to stream mode only"}, nil},
		{"overriding the construct's environment", ingest.Props{Environment: map[string]string{ingest.EnvStateTable: "other"}}, []string{`Environment "STATE_TABLE" is set by the construct`}, nil},
		{"retention beyond a shorter dedup window", ingest.Props{StreamRetention: 48 * time.Hour, Environment: map[string]string{ingest.EnvDedupTTL: "36h"}}, []string{"StreamRetention 48h0m0s must be below the processor's deduplication window (DEDUP_TTL, 36h0m0s)"}, nil},
		{"a dedup window that is not a duration", ingest.Props{Environment: map[string]string{ingest.EnvDedupTTL: "a week"}}, []string{`Environment DEDUP_TTL="a week" is not a positive Go duration`}, nil},
		{"mode overridden through the environment", ingest.Props{Environment: map[string]string{ingest.EnvMode: "direct"}}, []string{`Environment "TELEMETRY_MODE" is set by the construct`}, nil},
		{"rule prefix overridden through the environment", ingest.Props{Environment: map[string]string{ingest.EnvRulePrefix: "other"}}, []string{`Environment "RULE_PREFIX" is set by the construct`}, nil},
		{"a class id that would break out of the rule's SQL literal", ingest.Props{}, []string{`Fleet.Classes[0].ID "street_light' AS class, 'x" is not a lowercase letter`}, func(p *ingest.Props) {
			p.Fleet.Classes[0].ID = "street_light' AS class, 'x"
		}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newIngestWith(constructs.NewConstruct(s, jsii.String("Case"+string(rune('A'+i)))), c.props, c.change)
			got := validationErrors(in)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors %q do not contain %q", got, w)
				}
			}
			if in.Processor != nil {
				t.Errorf("a construct with props errors built its processor")
			}
		})
	}
	t.Run("required props", func(t *testing.T) {
		in := ingest.New(constructs.NewConstruct(s, jsii.String("Required")), "Telemetry", nil)
		got := validationErrors(in)
		for _, w := range []string{"RulePrefix is required", "EncryptionKey is required", "State (the processor's state", "Archive (the telemetry archive bucket) is required", "FieldKey (envelope encryption", "Fleet is required"} {
			if !strings.Contains(got, w) {
				t.Errorf("nil props: errors %q do not contain %q", got, w)
			}
		}
	})
	t.Run("valid props, and a metric of an unknown class", func(t *testing.T) {
		in := newIngest(constructs.NewConstruct(s, jsii.String("Valid")), ingest.Props{})
		if got := validationErrors(in); got != "" {
			t.Fatalf("valid props: errors %q", got)
		}
		in.MetricAccepted("camera", nil)
		in.MetricReceived(ingest.UnknownClass, nil)
		if got := validationErrors(in); got != "" {
			t.Errorf("metrics of known classes: errors %q", got)
		}
		in.MetricRuleFailures("street_lamp", nil)
		if got := validationErrors(in); !strings.Contains(got, `RuleName("street_lamp"): no rule for this device class`) {
			t.Errorf("metric of an unknown class: errors %q", got)
		}
	})
}

// TestIngestMetrics: the metrics Operations alarms on name the right namespace, metric and
// dimensions.
func TestIngestMetrics(t *testing.T) {
	in := synthOnce(t, stacks.StageDev).platform.Ingestion.Telemetry
	rule := in.RuleName("street_light")
	type m struct {
		ns, name, stat string
		dims           map[string]string
	}
	describe := func(x awscloudwatch.Metric) m {
		d := map[string]string{}
		if x.Dimensions() != nil {
			for k, v := range *x.Dimensions() {
				d[k] = v.(string)
			}
		}
		return m{*x.Namespace(), *x.MetricName(), *x.Statistic(), d}
	}
	cases := []struct {
		got  awscloudwatch.Metric
		want m
	}{
		{in.MetricTopicMatch("street_light", nil), m{"AWS/IoT", "TopicMatch", "Sum", map[string]string{"RuleName": rule}}},
		{in.MetricParseErrors("street_light", nil), m{"AWS/IoT", "ParseError", "Sum", map[string]string{"RuleName": rule}}},
		{in.MetricRuleThrottled("street_light", nil), m{"AWS/IoT", "RuleMessageThrottled", "Sum", map[string]string{"RuleName": rule}}},
		{in.MetricRuleFailures("street_light", nil), m{"AWS/IoT", "Failure", "Sum", map[string]string{"RuleName": rule, "ActionType": "Kinesis"}}},
		{in.MetricAccepted("street_light", nil), m{"SmartCity/Telemetry", "Accepted", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricRejected("street_light", nil), m{"SmartCity/Telemetry", "Rejected", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricRejectedFor("street_light", "schema", nil), m{"SmartCity/Telemetry", "Rejected", "Sum", map[string]string{"Class": "street_light", "Reason": "schema"}}},
		{in.MetricReceived("street_light", nil), m{"SmartCity/Telemetry", "Received", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricDuplicates("street_light", nil), m{"SmartCity/Telemetry", "Duplicates", "Sum", map[string]string{"Class": "street_light"}}},
		{in.MetricProcessingLatency("street_light", nil), m{"SmartCity/Telemetry", "ProcessingLatency", "Maximum", map[string]string{"Class": "street_light"}}},
		{in.MetricStreamIteratorAge(nil), m{"AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "Maximum", nil}},
		{in.MetricStreamWriteThrottles(nil), m{"AWS/Kinesis", "WriteProvisionedThroughputExceeded", "Sum", nil}},
		{in.MetricProcessorIteratorAge(nil), m{"AWS/Lambda", "IteratorAge", "Maximum", nil}},
		{in.MetricRuleErrorsWaiting(nil), m{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", nil}},
		{in.MetricProcessorFailuresWaiting(nil), m{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", nil}},
	}
	for _, c := range cases {
		got := describe(c.got)
		if c.want.dims == nil { // resource dimensions are tokens: only their names matter here
			got.dims = nil
		}
		if diff := cmp.Diff(c.want, got, cmp.AllowUnexported(m{})); diff != "" {
			t.Errorf("metric (-want +got):\n%s", diff)
		}
	}
}

// TestIngestAgreesWithTelemetryProcessor: the names the rules, grants and metrics use are the
// ones lambdas/telemetry reads and writes.
func TestIngestAgreesWithTelemetryProcessor(t *testing.T) {
	pairs := []struct{ construct, processor any }{
		{ingest.KeyPayload, pipeline.KeyPayload},
		{ingest.KeyTopic, pipeline.KeyTopic},
		{ingest.KeyClientID, pipeline.KeyClientID},
		{ingest.KeyReceivedAt, pipeline.KeyReceivedAt},
		{ingest.KeyClass, pipeline.KeyClass},
		{strings.Join(ingest.RuleKeys, ","), strings.Join(pipeline.RuleKeys, ",")},
		{ingest.TelemetryNamespace, pipeline.Namespace},
		{ingest.DimensionClass, pipeline.DimensionClass},
		{ingest.DimensionDistrict, pipeline.DimensionDistrict},
		{ingest.DimensionReason, pipeline.DimensionReason},
		{ingest.ProcessorReceived, pipeline.MetricReceived},
		{ingest.ProcessorAccepted, pipeline.MetricAccepted},
		{ingest.ProcessorRejected, pipeline.MetricRejected},
		{ingest.ProcessorDuplicates, pipeline.MetricDuplicates},
		{ingest.ProcessorRetried, pipeline.MetricRetried},
		{ingest.ProcessorLatency, pipeline.MetricLatency},
		{ingest.ContextThing, envelope.ContextThing},
		{ingest.ContextClass, envelope.ContextClass},
		{ingest.LogRejectedMessage, pipeline.LogRejected},
	}
	for _, p := range pairs {
		if p.construct != p.processor {
			t.Errorf("construct uses %v, processor %v", p.construct, p.processor)
		}
	}
}

// TestIngestionDoesNotGrowWithTheFleet synthesizes the Ingestion stack for the dev fleet and
// for the same fleet with 40 more things: the two have the same resources, and neither the
// template nor any file of the processor's asset names a thing of either fleet.
func TestIngestionDoesNotGrowWithTheFleet(t *testing.T) {
	fleet, err := fleetspec.Load(filepath.Join(moduleRoot(t), "config", "fleet.dev.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet.Things) == 0 {
		t.Fatal("the dev fleet declares no things: this test would prove nothing")
	}
	more := *fleet
	more.Things = append([]fleetspec.Thing(nil), fleet.Things...)
	for i := range 40 {
		c, d := fleet.Classes[i%len(fleet.Classes)].ID, fleet.Districts[i%len(fleet.Districts)].ID
		more.Things = append(more.Things, fleetspec.Thing{Name: fmt.Sprintf("scale-%s-%04d", c, i), Class: c, District: d, Serial: fmt.Sprintf("SN-SCALE-%04d", i)})
	}
	if err := more.Validate(); err != nil {
		t.Fatalf("the bigger fleet is not valid: %v", err)
	}

	small, smallFiles := synthIngestion(t, fleet)
	big, bigFiles := synthIngestion(t, &more)

	count := func(tmpl compliance.Template) map[string]int {
		n := map[string]int{}
		for _, r := range tmpl.Resources("") {
			n[r.Type]++
		}
		return n
	}
	if diff := cmp.Diff(count(small), count(big)); diff != "" {
		t.Errorf("resources per type with %d and %d things (-fewer +more):\n%s", len(fleet.Things), len(more.Things), diff)
	}
	if len(smallFiles) == 0 || smallFiles[ingest.FleetFile] == nil {
		t.Fatalf("processor asset files %v, want %s among them", fileNames(smallFiles), ingest.FleetFile)
	}
	if !bytes.Equal(smallFiles[ingest.FleetFile], bigFiles[ingest.FleetFile]) {
		t.Error("the bundled fleet changed when things were added")
	}
	for label, synth := range map[string]struct {
		tmpl  compliance.Template
		files map[string][]byte
	}{"dev fleet": {small, smallFiles}, "bigger fleet": {big, bigFiles}} {
		tmplJSON, err := json.Marshal(synth.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range more.Things {
			if bytes.Contains(tmplJSON, []byte(th.Name)) {
				t.Errorf("%s: the Ingestion template names thing %s", label, th.Name)
			}
			for name, data := range synth.files {
				if bytes.Contains(data, []byte(th.Name)) {
					t.Errorf("%s: the processor's asset file %s names thing %s", label, name, th.Name)
				}
			}
		}
	}
	var runtime fleetspec.Fleet
	if err := json.Unmarshal(smallFiles[ingest.FleetFile], &runtime); err != nil || len(runtime.Classes) != len(fleet.Classes) || len(runtime.Districts) != len(fleet.Districts) {
		t.Errorf("bundled fleet: %d classes, %d districts (%v); want the fleet's %d and %d", len(runtime.Classes), len(runtime.Districts), err, len(fleet.Classes), len(fleet.Districts))
	}
}

// synthIngestion synthesizes the Foundation and Ingestion stacks for fleet and returns the
// Ingestion template and the files of the telemetry processor's asset, by name.
func synthIngestion(t *testing.T, fleet *fleetspec.Fleet) (compliance.Template, map[string][]byte) {
	t.Helper()
	app := newApp(t, map[string]any{"stage": string(stacks.StageDev)})
	cfg := stacks.Config{Stage: stacks.StageDev, Fleet: fleet, Account: testAccount, Region: testRegion}
	stacks.NewIngestion(app, cfg, stacks.NewFoundation(app, cfg))
	asm := synthOrFail(t, app)
	defer os.RemoveAll(*asm.Directory())
	var tmpl compliance.Template
	for _, st := range *asm.Stacks() {
		if *st.StackName() == cfg.StackName("Ingestion") {
			var err error
			if tmpl, err = compliance.FromValue(st.Template()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tmpl == nil {
		t.Fatal("no Ingestion stack")
	}
	fn := oneResource(t, tmpl, "AWS::Lambda::Function", "TelemetryProcessor")
	key, _ := compliance.Get(fn.Properties, "Code", "S3Key").(string)
	hash := strings.TrimSuffix(key, ".zip")
	if hash == "" || hash == key {
		t.Fatalf("processor code key %v is not <hash>.zip", compliance.Get(fn.Properties, "Code"))
	}
	dir := filepath.Join(*asm.Directory(), "asset."+hash)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("processor asset: %v", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	return tmpl, files
}

func fileNames(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

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
			want := map[string]any{ingest.AcceptedPrefix: float64(stacks.DefaultAcceptedRetentionDays), ingest.RejectedPrefix: float64(stacks.DefaultRejectedRetentionDays)}
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
