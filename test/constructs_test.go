package test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/stacks"
)

func validationErrors(c constructs.IConstruct) string {
	var msgs []string
	for _, m := range *c.Node().Validate() {
		msgs = append(msgs, *m)
	}
	return strings.Join(msgs, "\n")
}

func intp(v int) *int { return &v }

// TestPropsErrors: constructs refuse weak or impossible props with a message naming the field
// and the value, reported through the construct's validation (synth stops with its path).
func TestPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("Props"), nil)
	existing := awskms.Key_FromKeyArn(stack, jsii.String("Existing"), jsii.String("arn:aws:kms:eu-central-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"))
	cases := []struct {
		name  string
		build func(scope constructs.Construct) constructs.IConstruct
		want  []string
	}{
		{"key without alias", func(s constructs.Construct) constructs.IConstruct {
			return keys.New(s, "K", &keys.Props{})
		}, []string{"Alias is required"}},
		{"key with bad alias", func(s constructs.Construct) constructs.IConstruct {
			return keys.New(s, "K", &keys.Props{Alias: jsii.String("my key")})
		}, []string{`Alias "my key"`}},
		{"key with reserved alias", func(s constructs.Construct) constructs.IConstruct {
			return keys.New(s, "K", &keys.Props{Alias: jsii.String("alias/aws/s3")})
		}, []string{`"alias/aws/s3" uses the reserved`}},
		{"key with unknown service", func(s constructs.Construct) constructs.IConstruct {
			return keys.New(s, "K", &keys.Props{Alias: jsii.String("alias/x"), Services: []keys.Service{"iot"}})
		}, []string{`unknown service "iot"`}},
		{"brought key with services", func(s constructs.Construct) constructs.IConstruct {
			return keys.New(s, "K", &keys.Props{Key: existing, Services: []keys.Service{keys.ServiceLogs}})
		}, []string{"a brought key (Props.Key) cannot also take"}},
		{"bucket below TLS 1.2", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewBucket(s, "B", &securestore.BucketProps{MinimumTLSVersion: jsii.Number(1.1)})
		}, []string{"MinimumTLSVersion 1.1 is below 1.2"}},
		{"bucket lifecycle too early", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewBucket(s, "B", &securestore.BucketProps{Lifecycle: &securestore.Lifecycle{
				InfrequentAccessAfterDays: intp(10), NoncurrentExpireAfterDays: intp(30),
			}})
		}, []string{"Lifecycle.InfrequentAccessAfterDays 10 must be at least 30"}},
		{"bucket lifecycle out of order", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewBucket(s, "B", &securestore.BucketProps{Lifecycle: &securestore.Lifecycle{
				InfrequentAccessAfterDays: intp(30), GlacierInstantRetrievalAfterDays: intp(40),
				ExpireAfterDays: intp(20), NoncurrentExpireAfterDays: intp(30),
			}})
		}, []string{
			"Lifecycle.GlacierInstantRetrievalAfterDays 40 must be at least 30 days after InfrequentAccessAfterDays (30)",
			"Lifecycle.ExpireAfterDays 20 must come after the last transition (40 days)",
		}},
		{"bucket keeping noncurrent versions forever", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewBucket(s, "B", &securestore.BucketProps{Lifecycle: &securestore.Lifecycle{}})
		}, []string{"Lifecycle.NoncurrentExpireAfterDays is required"}},
		{"table without partition key", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewTable(s, "T", &securestore.TableProps{})
		}, []string{"table PartitionKey is required"}},
		{"table sort key equal to partition key", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewTable(s, "T", &securestore.TableProps{PartitionKey: "id", SortKey: "id"})
		}, []string{`table SortKey "id" must differ from PartitionKey`}},
		{"topic with an empty alarm prefix and a bad role path", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewTopic(s, "Tp", &securestore.TopicProps{AlarmNamePrefix: jsii.String(""), PublisherRolePath: jsii.String("/no-trailing-slash")})
		}, []string{"topic AlarmNamePrefix is empty", `PublisherRolePath "/no-trailing-slash" is not an IAM path`}},
		{"queue retention too long", func(s constructs.Construct) constructs.IConstruct {
			return securestore.NewQueue(s, "Q", &securestore.QueueProps{RetentionDays: intp(20)})
		}, []string{"queue RetentionDays 20 must be between 1 and 14"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scope := constructs.NewConstruct(stack, jsii.String("Case"+string(rune('A'+i))))
			got := validationErrors(c.build(scope))
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("validation errors %q do not contain %q", got, w)
				}
			}
		})
	}
	t.Run("valid props have no errors", func(t *testing.T) {
		scope := constructs.NewConstruct(stack, jsii.String("Valid"))
		for _, c := range []constructs.IConstruct{
			keys.New(scope, "K", &keys.Props{Alias: jsii.String("alias/smartcity/ok"), Services: keys.Services}),
			keys.New(scope, "Brought", &keys.Props{Key: existing}),
			securestore.NewBucket(scope, "B", nil),
			securestore.NewTable(scope, "T", &securestore.TableProps{PartitionKey: "id", SortKey: "ts", TimeToLiveAttribute: "expiresAt"}),
			securestore.NewQueue(scope, "Q", nil),
			securestore.NewTopic(scope, "Topic", nil),
		} {
			if errs := validationErrors(c); errs != "" {
				t.Errorf("%s: unexpected errors %q", *c.Node().Path(), errs)
			}
		}
	})
}

// TestConfigFromContext: a bad stage, account or region stops the app with a message naming
// the context key and the value.
func TestConfigFromContext(t *testing.T) {
	cases := []struct {
		ctx  map[string]any
		want string
	}{
		{map[string]any{"stage": "qa"}, `context "stage": unknown stage "qa"`},
		{map[string]any{"account": "12345"}, `"12345" is not a 12-digit AWS account id`},
		{map[string]any{"region": "moon-1"}, `"moon-1" is not an AWS region name`},
		{map[string]any{"stage": 3.0}, `context "stage": want a string`},
		{map[string]any{"fleetFile": "config/missing.json"}, `fleet file (context "fleetFile"): `},
		{map[string]any{"fleetFile": "testdata/bad-fleet.json"}, `testdata/bad-fleet.json:5:42: things[0].class: unknown device class "street_lamp"`},
	}
	for _, c := range cases {
		_, err := stacks.ConfigFromContext(newApp(t, c.ctx))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("context %v: error %v, want it to contain %q", c.ctx, err, c.want)
		}
	}
	cfg, err := stacks.ConfigFromContext(newApp(t, map[string]any{"stage": "prod", "account": testAccount, "region": testRegion,
		"fleetFile": filepath.Join(moduleRoot(t), "config", "fleet.prod.json")}))
	if err != nil || cfg.Stage != stacks.StageProd || cfg.Account != testAccount || cfg.Region != testRegion || cfg.Fleet == nil {
		t.Errorf("valid context: %+v, %v", cfg, err)
	}
}

// TestGrantsChainKeyGrant: every grant on an encrypted store also lets the grantee use the key.
func TestGrantsChainKeyGrant(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("Grants"), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	})
	key := keys.New(stack, "Key", &keys.Props{Alias: jsii.String("alias/test/grants")})
	role := func(id string) awsiam.Role {
		return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil)})
	}
	grants := map[string]string{ // role id -> a KMS action its policy must hold
		"BucketReader": "kms:Decrypt", "BucketWriter": "kms:GenerateDataKey*", "TableReader": "kms:Decrypt",
		"TableWriter": "kms:Encrypt", "QueueSender": "kms:GenerateDataKey*", "TopicPublisher": "kms:GenerateDataKey*",
		"FieldEncrypter": "kms:GenerateDataKey",
	}
	b := securestore.NewBucket(stack, "Bucket", &securestore.BucketProps{EncryptionKey: key.Resource})
	b.GrantRead(role("BucketReader"), "*")
	b.GrantPut(role("BucketWriter"), "accepted/*")
	tbl := securestore.NewTable(stack, "Table", &securestore.TableProps{PartitionKey: "id", EncryptionKey: key.Resource})
	tbl.GrantReadData(role("TableReader"))
	tbl.GrantWriteData(role("TableWriter"))
	securestore.NewQueue(stack, "Queue", &securestore.QueueProps{EncryptionKey: key.Resource}).GrantSendMessages(role("QueueSender"))
	securestore.NewTopic(stack, "Topic", &securestore.TopicProps{EncryptionKey: key.Resource}).GrantPublish(role("TopicPublisher"))
	key.GrantGenerateDataKey(role("FieldEncrypter"))

	tmpl := templateOf(t, app, "Grants")
	keyID := ""
	for _, k := range tmpl.Resources("AWS::KMS::Key") {
		keyID = k.ID
	}
	for roleID, action := range grants {
		if !policyGrantsOnKey(tmpl, roleID, action, keyID) {
			t.Errorf("%s's policy does not grant %s on the store's key %s", roleID, action, keyID)
		}
	}
}

// policyGrantsOnKey reports whether some IAM policy attached to a role whose logical id starts
// with rolePrefix allows action on the key resource.
func policyGrantsOnKey(tmpl compliance.Template, rolePrefix, action, keyID string) bool {
	for _, p := range tmpl.Resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range compliance.List(compliance.Get(p.Properties, "Roles")) {
			if ref, _ := compliance.Get(r, "Ref").(string); strings.HasPrefix(ref, rolePrefix) {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range compliance.List(compliance.Get(p.Properties, "PolicyDocument", "Statement")) {
			hasAction := false
			for _, a := range compliance.List(compliance.Get(st, "Action")) {
				if a == action {
					hasAction = true
				}
			}
			for _, r := range compliance.List(compliance.Get(st, "Resource")) {
				if g, _ := compliance.Get(r, "Fn::GetAtt", 0).(string); hasAction && g == keyID {
					return true
				}
			}
		}
	}
	return false
}

// TestBringYourOwnKey: a brought key is used as is and no key is created; a store given no key
// creates its own rotated key rather than falling back to an AWS-managed one.
func TestBringYourOwnKey(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("Byok"), nil)
	existing := awskms.Key_FromKeyArn(stack, jsii.String("Existing"), jsii.String("arn:aws:kms:eu-central-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"))
	k := keys.New(stack, "Brought", &keys.Props{Key: existing})
	if k.Resource != existing || k.Alias != nil {
		t.Errorf("brought key not used as is: %v, alias %v", k.Resource, k.Alias)
	}
	securestore.NewTable(stack, "Table", &securestore.TableProps{PartitionKey: "id", EncryptionKey: k.Resource})
	stack2 := awscdk.NewStack(app, jsii.String("OwnKey"), nil)
	securestore.NewTable(stack2, "Table", &securestore.TableProps{PartitionKey: "id"})
	asm := synthOrFail(t, app)
	byok, _ := compliance.FromValue(asm.GetStackByName(jsii.String("Byok")).Template())
	if n := len(byok.Resources("AWS::KMS::Key")); n != 0 {
		t.Errorf("a brought key created %d keys", n)
	}
	if _, v := compliance.All[10].Run(byok); len(v) > 0 || compliance.All[10].Name != "dynamodb-cmk" {
		t.Errorf("table on a brought key: %v", v)
	}
	own, _ := compliance.FromValue(asm.GetStackByName(jsii.String("OwnKey")).Template())
	if n, v := compliance.All[0].Run(own); n != 1 || len(v) > 0 {
		t.Errorf("table without a key: %d keys, rotation violations %v; want its own rotated key", n, v)
	}
}
