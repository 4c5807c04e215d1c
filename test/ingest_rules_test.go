package test

import (
	"sort"
	"strings"
	"testing"

	telcontract "github.com/secure-smart-city/platform/lambdas/telemetry/contract"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
	"github.com/secure-smart-city/platform/stacks"
	"github.com/secure-smart-city/platform/topics"
)

// checkIngestionRules checks the rules, their dead-letter queue, the stream and the rule role.
func checkIngestionRules(t *testing.T, tmpl compliance.Template, cfg stacks.Config) {
	queue := oneResource(t, tmpl, "AWS::SQS::Queue", "RuleErrors")
	stream := oneResource(t, tmpl, "AWS::Kinesis::Stream", "TelemetryStream")
	role := oneResource(t, tmpl, "AWS::IAM::Role", "TelemetryRuleRole")

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
	if mode := compliance.Get(fn.Properties, "Environment", "Variables", telcontract.EnvMode); mode != "direct" {
		t.Errorf("direct-mode processor has %s=%v, want direct (its handler then takes one rule message)", telcontract.EnvMode, mode)
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
