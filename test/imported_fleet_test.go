package test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/commandapi"
	"github.com/secure-smart-city/platform/constructs/fleet"
	"github.com/secure-smart-city/platform/stacks"
)

// nilPart reports whether a construct's part is nil, through an interface or not.
func nilPart(v any) bool {
	if v == nil {
		return true
	}
	switch r := reflect.ValueOf(v); r.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func:
		return r.IsNil()
	}
	return false
}

// bareStack is a stack of its own app that holds nothing of the platform: the constructs under
// test get only imported resources, as in another team's account.
func bareStack(t *testing.T, name string) (awscdk.App, awscdk.Stack) {
	t.Helper()
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String(name), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	})
	return app, stack
}

func importedKey(stack awscdk.Stack) awskms.IKey {
	return awskms.Key_FromKeyArn(stack, jsii.String("ImportedKey"),
		jsii.String("arn:aws:kms:"+testRegion+":"+testAccount+":key/11111111-2222-3333-4444-555555555555"))
}

func importedTable(stack awscdk.Stack, id, name string) awsdynamodb.ITable {
	return awsdynamodb.Table_FromTableArn(stack, jsii.String(id),
		jsii.String("arn:aws:dynamodb:"+testRegion+":"+testAccount+":table/"+name))
}

// synthBare synthesizes app and fails on any error annotation of the stack.
func synthBare(t *testing.T, app awscdk.App, stack awscdk.Stack) compliance.Template {
	t.Helper()
	st := synthOrFail(t, app).GetStackByName(stack.StackName())
	for _, m := range *assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_AnyValue()) {
		data, _ := json.Marshal(m)
		t.Errorf("error annotation %s", data)
	}
	tmpl, err := compliance.FromValue(st.Template())
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

// TestImportedCommandAPI: the command API over an imported key and imported tables, in a stack
// with nothing else, synthesizes; grants go to an imported operator role.
func TestImportedCommandAPI(t *testing.T) {
	app, stack := bareStack(t, "ImportedCommandApi")
	f := ingestFleetWithCommands()
	api := commandapi.New(stack, "CommandApi", &commandapi.Props{
		Fleet:           f,
		ThingTypePrefix: f.RulePrefix("test"),
		EncryptionKey:   importedKey(stack),
		StateTable:      importedTable(stack, "State", "device-state"),
		AuditTable:      importedTable(stack, "Audit", "command-audit"),
		// The importing account owns its API Gateway CloudWatch role.
		AccountCloudWatchRole: jsii.Bool(false),
	})
	role := awsiam.Role_FromRoleName(stack, jsii.String("Operator"), jsii.String(f.Operators[0].Role), nil)
	api.GrantSendCommands(role, f.Operators[0])
	if errs := validationErrors(api); errs != "" {
		t.Fatalf("unexpected errors %q", errs)
	}
	tmpl := synthBare(t, app, stack)
	for _, typ := range []string{"AWS::ApiGateway::RestApi", "AWS::WAFv2::WebACL", "AWS::Lambda::Function"} {
		if len(tmpl.Resources(typ)) != 1 {
			t.Errorf("%d %s, want 1", len(tmpl.Resources(typ)), typ)
		}
	}
}

// TestImportedFleet: the fleet (with JITP and claim provisioning), IoT logging and the device
// endpoint over an imported key and allowlist, in a stack with nothing else, synthesize; so
// does a logging setup imported by its attributes.
func TestImportedFleet(t *testing.T) {
	app, stack := bareStack(t, "ImportedFleet")
	key := importedKey(stack)
	fl := stageFleet(t, stacks.StageDev)
	devices := fleet.New(stack, "Devices", &fleet.Props{
		Fleet:         fl,
		Prefix:        fl.RulePrefix("imported"),
		EncryptionKey: key,
		Allowlist:     importedTable(stack, "Allowlist", "provisioning-allowlist"),
	})
	logging := fleet.NewLogging(stack, "IoTLogging", &fleet.LoggingProps{EncryptionKey: key})
	endpoint := fleet.NewEndpoint(stack, "DeviceEndpoint", &fleet.EndpointProps{Name: devices.Names.DomainConfiguration()})
	imported := fleet.FromLoggingAttributes(stack, "AccountLogging", &fleet.LoggingAttributes{
		RoleArn: "arn:aws:iam::" + testAccount + ":role/iot-logging",
	})
	remediation := awsiam.Role_FromRoleName(stack, jsii.String("Remediation"), jsii.String("remediation"), nil)
	devices.GrantQuarantine(remediation)
	for path, errs := range map[string]string{
		"Devices": validationErrors(devices), "IoTLogging": validationErrors(logging),
		"DeviceEndpoint": validationErrors(endpoint), "AccountLogging": validationErrors(imported),
	} {
		if errs != "" {
			t.Errorf("%s: unexpected errors %q", path, errs)
		}
	}
	if *imported.LogGroup.LogGroupName() != fleet.LogGroupName || imported.Role == nil {
		t.Errorf("imported logging: group %s, role %v", *imported.LogGroup.LogGroupName(), imported.Role)
	}
	tmpl := synthBare(t, app, stack)
	for _, typ := range []string{"AWS::IoT::ThingGroup", "AWS::IoT::Policy", "AWS::IoT::Logging", "AWS::IoT::DomainConfiguration"} {
		if len(tmpl.Resources(typ)) == 0 {
			t.Errorf("no %s", typ)
		}
	}
}
