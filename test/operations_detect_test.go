package test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/compliance"
	"github.com/secure-smart-city/platform/constructs/defender"
	"github.com/secure-smart-city/platform/constructs/monitoring"
	"github.com/secure-smart-city/platform/constructs/securestore"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/stacks"
)

// defenderStack builds Device Defender alone in a stack of its own, with the dev fleet.
func defenderStack(app awscdk.App, name string, fleet *fleetspec.Fleet, mutate func(*defender.Props)) awscdk.Stack {
	s := awscdk.NewStack(app, jsii.String(name), &awscdk.StackProps{
		Env: &awscdk.Environment{Account: jsii.String(testAccount), Region: jsii.String(testRegion)},
	})
	defenderInto(s, fleet, mutate)
	return s
}

// defenderInto builds Device Defender and what it needs (key, topic, log group, the security
// alarms) into s.
func defenderInto(s awscdk.Stack, fleet *fleetspec.Fleet, mutate func(*defender.Props)) *defender.Defender {
	key := platformKey(s)
	topic := awssns.NewTopic(s, jsii.String("Alerts"), &awssns.TopicProps{MasterKey: key.Resource, EnforceSSL: jsii.Bool(true)})
	logs := awslogs.NewLogGroup(s, jsii.String("IoTLogs"), &awslogs.LogGroupProps{
		LogGroupName: jsii.String("AWSIotLogsV2"), EncryptionKey: key.Resource, Retention: awslogs.RetentionDays_ONE_MONTH,
	})
	groups := map[string]string{}
	for _, c := range fleet.Classes {
		groups[c.ID] = "arn:aws:iot:" + testRegion + ":" + testAccount + ":thinggroup/smartcity_test_" + c.ID
	}
	p := &defender.Props{
		AlertTopic:          topic,
		EncryptionKey:       key.Resource,
		Fleet:               fleet,
		NamePrefix:          "smartcity_test",
		QuarantineGroupName: "smartcity_test_quarantine",
		QuarantineGroupArn:  "arn:aws:iot:" + testRegion + ":" + testAccount + ":thinggroup/smartcity_test_quarantine",
		IoTLogs:             logs,
		ClassGroupArns:      groups,
		QuarantineBudgetTable: securestore.NewTable(s, "State", &securestore.TableProps{
			PartitionKey: "pk", SortKey: "sk", TimeToLiveAttribute: "expiresAt", EncryptionKey: key.Resource,
		}).Resource,
	}
	if mutate != nil {
		mutate(p)
	}
	p.SecurityAlarms = securityAlarms(s, topic, *s.StackName(), p)
	return defender.New(s, "Defender", p)
}

// securityAlarms builds the alarms on defender.Detections(p) the way the Operations stack does.
func securityAlarms(s constructs.Construct, topic awssns.ITopic, prefix string, p *defender.Props) []awscloudwatch.IAlarm {
	scope := constructs.NewConstruct(s, jsii.String("Alarms"))
	var out []awscloudwatch.IAlarm
	for _, det := range defender.Detections(p) {
		out = append(out, monitoring.ThresholdAlarm(scope, awscloudwatchactions.NewSnsAction(topic), prefix, monitoring.Threshold{
			Name: "Security-" + det.ID, Description: det.Description, Metric: det.Metric, Threshold: det.Threshold,
		}))
	}
	return out
}

// TestDefenderDetectFlag: with Detect on (an account that still has Device Defender Detect),
// each device class gets a security profile with the six behaviours, targeting the class's
// thing group and alerting the alert topic; the context flag defenderDetect turns it on and is
// off by default (the app's templates have none, see TestDetectionMetricFilters).
func TestDefenderDetectFlag(t *testing.T) {
	fleet := fleetOf(t)
	app := newApp(t, nil)
	defenderStack(app, "DetectOn", fleet, func(p *defender.Props) {
		p.Detect = true
		p.DeactivateCertificates = true
		days := 90
		p.CertificateAgeDays = &days
	})
	tmpl := templateOf(t, app, "DetectOn")
	profiles := tmpl.Resources("AWS::IoT::SecurityProfile")
	if len(profiles) != len(fleet.Classes) {
		t.Fatalf("%d security profiles, want one per class (%d)", len(profiles), len(fleet.Classes))
	}
	topic := only(t, tmpl, "AWS::SNS::Topic", nil).ID
	for _, c := range fleet.Classes {
		sp := only(t, tmpl, "AWS::IoT::SecurityProfile", func(r compliance.Resource) bool {
			return r.Properties["SecurityProfileName"] == "smartcity_test_"+c.ID
		})
		type behavior struct {
			Metric, Op, Count string
			Duration          any
		}
		got := map[string]behavior{}
		for _, b := range compliance.List(sp.Properties["Behaviors"]) {
			cr := compliance.Get(b, "Criteria")
			got[fmt.Sprint(compliance.Get(b, "Name"))] = behavior{fmt.Sprint(compliance.Get(b, "Metric")), fmt.Sprint(compliance.Get(cr, "ComparisonOperator")),
				fmt.Sprint(compliance.Get(cr, "Value", "Count")), compliance.Get(cr, "DurationSeconds")}
		}
		want := map[string]behavior{
			"authorization-failures": {"aws:num-authorization-failures", "greater-than", "5", 300.0},
			"message-size":           {"aws:message-byte-size", "greater-than", fmt.Sprint(c.MessageLimit()), nil},
			"messages-sent":          {"aws:num-messages-sent", "greater-than", "300", 300.0},
			"messages-received":      {"aws:num-messages-received", "greater-than", "100", 300.0},
			"connection-attempts":    {"aws:num-connection-attempts", "greater-than", "10", 300.0},
			"disconnects":            {"aws:num-disconnects", "greater-than", "10", 300.0},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s behaviours (-want +got):\n%s", c.ID, diff)
		}
		if diff := cmp.Diff([]string{"arn:aws:iot:" + testRegion + ":" + testAccount + ":thinggroup/smartcity_test_" + c.ID}, renderAll(sp.Properties["TargetArns"])); diff != "" {
			t.Errorf("%s targets (-want +got):\n%s", c.ID, diff)
		}
		if render(compliance.Get(sp.Properties, "AlertTargets", "SNS", "AlertTargetArn")) != "ref:"+topic {
			t.Errorf("%s alerts %v, want the alert topic", c.ID, compliance.Get(sp.Properties, "AlertTargets"))
		}
		if !trustsIoTOfThisAccount(tmpl, roleID(t, compliance.Get(sp.Properties, "AlertTargets", "SNS", "RoleArn"))) {
			t.Errorf("%s alert role is not assumable by AWS IoT of this account only", c.ID)
		}
	}
	// Without a LoggingRole the construct makes one that may only write to the IoT log group.
	enable := only(t, tmpl, "AWS::IoT::MitigationAction", func(r compliance.Resource) bool {
		return compliance.Get(r.Properties, "ActionParams", "EnableIoTLoggingParams") != nil
	})
	logging := roleID(t, compliance.Get(enable.Properties, "ActionParams", "EnableIoTLoggingParams", "RoleArnForLogging"))
	if !trustsIoTOfThisAccount(tmpl, logging) {
		t.Errorf("logging role %s is not assumable by AWS IoT of this account only", logging)
	}
	group := only(t, tmpl, "AWS::Logs::LogGroup", func(r compliance.Resource) bool { return r.Properties["LogGroupName"] == "AWSIotLogsV2" }).ID
	wantLogging := []statement{{
		Actions:   []string{"logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"},
		Resources: []string{"att:" + group + ".Arn"},
	}}
	if diff := cmp.Diff(wantLogging, policyOf(tmpl, logging)); diff != "" {
		t.Errorf("logging role policy (-want +got):\n%s", diff)
	}
	// The other props took effect too: the age threshold and the certificate permissions.
	cfg := only(t, tmpl, "AWS::IoT::AccountAuditConfiguration", nil)
	if got := compliance.Get(cfg.Properties, "AuditCheckConfigurations", "DeviceCertificateAgeCheck", "Configuration", "CertAgeThresholdInDays"); got != "90" {
		t.Errorf("certificate age threshold %v, want \"90\"", got)
	}
	q := only(t, tmpl, "AWS::Lambda::Function", func(r compliance.Resource) bool {
		return strings.Contains(fmt.Sprint(r.Properties["Description"]), "quarantines")
	})
	if v := compliance.Get(q.Properties, "Environment", "Variables", "DEACTIVATE_CERTIFICATES"); v != "true" {
		t.Errorf("DEACTIVATE_CERTIFICATES = %v, want true", v)
	}
	// Detect violations reach the quarantine function (the ADD_THINGS_TO_THING_GROUP mitigation,
	// which CloudFormation cannot attach to a profile); security alarms still do.
	sub := only(t, tmpl, "AWS::SNS::Subscription", func(r compliance.Resource) bool {
		return compliance.Get(r.Properties, "Endpoint", "Fn::GetAtt", 0) == q.ID
	})
	filter, _ := sub.Properties["FilterPolicy"].(map[string]any)
	violation := remediationSample(t, "detect-violation.json")
	cleared := remediationSample(t, "detect-violation.json")
	cleared["violationEventType"] = "alarm-cleared"
	for name, c := range map[string]struct {
		msg  map[string]any
		want bool
	}{
		"detect violation in alarm": {violation, true},
		"detect violation cleared":  {cleared, false},
		"security alarm":            {remediationSample(t, "alarm-authorization-failures.json"), true},
		"audit notification":        {remediationSample(t, "audit-notification.json"), false},
	} {
		if got := snsFilterMatches(filter, c.msg); got != c.want {
			t.Errorf("with Detect on, %s reaches the quarantine function: %v, want %v (filter %v)", name, got, c.want, filter)
		}
	}
	var actions []string
	for _, st := range remediationStatements(tmpl, q) {
		actions = append(actions, st.Actions...)
	}
	// DeactivateCertificates adds UpdateCertificate; Detect adds ListActiveViolations, with
	// which the function confirms a violation before acting on it.
	for _, a := range []string{"iot:UpdateCertificate", "iot:ListActiveViolations"} {
		if !slices.Contains(actions, a) {
			t.Errorf("quarantine role lacks %s with DeactivateCertificates and Detect on (has %v)", a, actions)
		}
	}
	for _, st := range remediationStatements(tmpl, q) {
		if slices.Contains(st.Actions, "iot:ListActiveViolations") {
			want := []string{"arn:aws:iot:" + testRegion + ":" + testAccount + ":securityprofile/smartcity_test_*", "arn:aws:iot:" + testRegion + ":" + testAccount + ":thing/*"}
			if diff := cmp.Diff(want, st.Resources); diff != "" {
				t.Errorf("ListActiveViolations resources (-want +got):\n%s", diff)
			}
		}
	}

	for _, c := range []struct {
		ctx  any
		want bool
		err  string
	}{
		{nil, false, ""}, {true, true, ""}, {"true", true, ""}, {false, false, ""}, {"maybe", false, `context "defenderDetect": want true or false, got "maybe"`},
	} {
		ctx := map[string]any{"fleetFile": filepath.Join(moduleRoot(t), "config", "fleet.dev.json")}
		if c.ctx != nil {
			ctx["defenderDetect"] = c.ctx
		}
		cfg, err := stacks.ConfigFromContext(newApp(t, ctx))
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("defenderDetect %v: error %v, want %q", c.ctx, err, c.err)
		case c.err == "" && (err != nil || cfg.DefenderDetect != c.want):
			t.Errorf("defenderDetect %v: %v, %v; want %v", c.ctx, cfg.DefenderDetect, err, c.want)
		}
	}
	if v, ok := cdkContext(t)["defenderDetect"]; !ok || v != false {
		t.Errorf("cdk.json defenderDetect = %v, want false", v)
	}
}

// TestOperationsPropsErrors: the defender, the alarm builders and the Control Center refuse
// props that would leave an alarm without a recipient or an audit without its compliance, and
// report every problem at once; what they return is whole all the same.
func TestOperationsPropsErrors(t *testing.T) {
	app := newApp(t, nil)
	stack := awscdk.NewStack(app, jsii.String("OperationsProps"), nil)
	fleet := fleetOf(t)
	n := 0
	full := func(mut func(*defender.Props)) *defender.Props {
		n++
		scope := awscdk.NewStack(app, jsii.String(fmt.Sprintf("OperationsProps%d", n)), nil)
		topic := awssns.NewTopic(scope, jsii.String("T"), nil)
		p := &defender.Props{
			AlertTopic: topic, EncryptionKey: platformKey(scope).Resource, Fleet: fleet, NamePrefix: "smartcity_test",
			QuarantineGroupName:   "q",
			QuarantineGroupArn:    "arn:aws:iot:eu-central-1:111111111111:thinggroup/q",
			IoTLogs:               awslogs.LogGroup_FromLogGroupName(scope, jsii.String("L"), jsii.String("AWSIotLogsV2")),
			QuarantineBudgetTable: awsdynamodb.Table_FromTableName(scope, jsii.String("S"), jsii.String("DeviceState")),
		}
		p.SecurityAlarms = securityAlarms(scope, topic, "x", p)
		mut(p)
		return p
	}
	cases := []struct {
		name  string
		props *defender.Props
		want  []string
	}{
		{"nothing", &defender.Props{}, []string{"AlertTopic is required", "EncryptionKey is required",
			"Fleet is required", `NamePrefix "" must be`, "QuarantineGroupName and QuarantineGroupArn are required",
			"IoTLogs (the AWSIotLogsV2 log group) is required", "QuarantineBudgetTable is required",
			"SecurityAlarms has 0 alarms, want 2: one per Detections(props) (AuthorizationFailures, DuplicateClientIds)"}},
		// Every invalid optional value at once, each reported.
		{"values", full(func(p *defender.Props) {
			p.QuarantineCap = intp(-1)
			p.ClaimCertificateIDs = []string{"sl-old-town-001"}
			p.ClaimPolicyName = "claim policy"
			p.CertificateAgeDays = intp(29)
			p.ThingTypePrefix = "Smart-City"
			p.WeeklyAuditDay = "SUNDAY"
			p.LoggingLevel = "DISABLED"
			p.DeviceThreshold = intp(0)
			p.SecurityAlarms = p.SecurityAlarms[:1]
		}), []string{"QuarantineCap -1 must be 0 (notify only) or more", `ClaimCertificateIDs: "sl-old-town-001" is not a certificate id`,
			`ClaimPolicyName "claim policy" must be`, "CertificateAgeDays 29 must be between 30 and 3652", `ThingTypePrefix "Smart-City" must be`,
			`WeeklyAuditDay "SUNDAY" must be`, `LoggingLevel "DISABLED" must be ERROR, WARN, INFO or DEBUG`, "DeviceThreshold 0 must be at least 1",
			"SecurityAlarms has 1 alarms, want 2"}},
		{"detect", full(func(p *defender.Props) {
			p.Detect = true
			p.ClassGroupArns = nil
			p.Behaviors = &defender.Behaviors{AuthorizationFailures: 1, MessagesSent: 1, MessagesReceived: 1, ConnectionAttempts: 1, Disconnects: 0, DurationSeconds: 120}
		}), []string{`ClassGroupArns has no group ARN for class "street_light"`,
			"Behaviors.DurationSeconds 120 must be 300, 600, 900, 1800 or 3600", "Behaviors.Disconnects 0 must be at least 1"}},
	}
	for i, c := range cases {
		d := defender.New(stack, fmt.Sprintf("D%d", i), c.props)
		got := validationErrors(d)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: errors %q do not contain %q", c.name, got, w)
			}
		}
		// Whole after an error: callers use the fields without guards.
		if d.AuditRemediation.Resource == nil || d.Quarantine.Resource == nil || d.Quarantine.Role == nil || d.DeadLetters.Resource == nil ||
			d.NotificationRole == nil || d.PublishFindingRole == nil || d.DailyAudit == nil || len(d.MetricFilters) != 2 {
			t.Errorf("%s: a Defender with props errors is not whole: %+v", c.name, d)
		}
	}

	scope := constructs.NewConstruct(stack, jsii.String("NoAction"))
	one := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String("Test"), MetricName: jsii.String("One")})
	monitoring.RatioAlarm(scope, nil, "", monitoring.Ratio{Name: "Bad", Description: "x", Numerator: one, Denominator: one})
	fraction := 1.5
	if got := monitoring.FunctionAlarms(scope, nil, "p", monitoring.Function{Name: "Fn"}); got != nil {
		t.Errorf("FunctionAlarms without a function built %d alarms", len(got))
	}
	imported := awslambda.Function_FromFunctionArn(stack, jsii.String("Fn"), jsii.String("arn:aws:lambda:eu-central-1:111111111111:function:f"))
	if got := monitoring.FunctionAlarms(scope, nil, "p", monitoring.Function{Name: "Slow", Function: imported, DurationFraction: &fraction}); len(got) != 3 {
		t.Errorf("FunctionAlarms with errors built %d alarms, want 3 all the same", len(got))
	}
	low := 0.0
	monitoring.BrokerAlarms(scope, nil, "p", &monitoring.BrokerOptions{ConnectAuthorizationFailures: &low})
	got := validationErrors(scope)
	for _, w := range []string{`alarm "Bad" has no action`, `alarm "Bad" has no name prefix`, `RatioAlarm("Bad") MaxPercent 0 must be in (0, 100]`,
		`FunctionAlarms("Fn") needs a Function`, `FunctionAlarms("Slow") Timeout 0s must be positive`, `FunctionAlarms("Slow") DurationFraction 1.5 must be between 0 and 1`,
		"BrokerOptions.ConnectAuthorizationFailures 0 must be at least 1"} {
		if !strings.Contains(got, w) {
			t.Errorf("monitoring errors %q do not contain %q", got, w)
		}
	}
	cc := monitoring.NewControlCenter(stack, "NoName", &monitoring.ControlCenterProps{
		Classes: []monitoring.ClassMetrics{{Class: "x"}},
	})
	if got := validationErrors(cc); !strings.Contains(got, "DashboardName is required") || !strings.Contains(got, "Classes[0] needs Class, Received, Accepted and Rejected") {
		t.Errorf("control center errors %q", got)
	}
	if cc.Dashboard == nil {
		t.Error("a Control Center with props errors has no dashboard")
	}
}
