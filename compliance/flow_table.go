package compliance

import (
	"fmt"
	"regexp"
	"strings"
)

// Flows is the flow table (issue 11): every runtime flow the platform relies on, and flows
// that must be refused. Rows find their instances in the templates by type and logical id
// (ids are API), so one table serves dev and prod.
var Flows = []Flow{
	{ID: "alarm-to-topic", From: "every alarm (cloudwatch.amazonaws.com, this stage's alarm ARN)", To: "its SNS action topic and the topic's key", Allow: true,
		Cases: func(w *World) ([]Case, error) { return alarmTopicCases(w, w.Account, nil) }},
	{ID: "foreign-alarm-to-topic", From: "an alarm of another account", To: "the alert topic", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			cs, err := alarmTopicCases(w, ForeignAccount, func(arn string) string {
				return strings.Replace(arn, ":"+w.Account+":", ":"+ForeignAccount+":", 1)
			})
			return firstOnly(cs), err
		}},
	{ID: "other-stage-alarm-to-topic", From: "an alarm of this account outside this stage's prefix", To: "the alert topic", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			cs, err := alarmTopicCases(w, w.Account, func(arn string) string {
				i := strings.LastIndex(arn, ":alarm:")
				return arn[:i] + ":alarm:Other-" + arn[i+len(":alarm:"):]
			})
			return firstOnly(cs), err
		}},
	{ID: "defender-to-topic", From: "Device Defender (iot.amazonaws.com -> audit notification role)", To: "the alert topic and its key", Allow: true,
		Cases: func(w *World) ([]Case, error) {
			return roleChainCases(w, "AWS::IoT::AccountAuditConfiguration", "AuditNotificationTargetConfigurations", "Sns", "RoleArn")
		}},
	{ID: "mitigation-publish-finding", From: "Defender mitigation PUBLISH_FINDING_TO_SNS (iot.amazonaws.com -> its role)", To: "the alert topic and its key", Allow: true,
		Cases: func(w *World) ([]Case, error) { return mitigationCases(w, "PublishFindingToSnsParams") }},
	{ID: "mitigation-quarantine", From: "Defender mitigation ADD_THINGS_TO_THING_GROUP", To: "the quarantine group", Allow: true,
		Cases: func(w *World) ([]Case, error) { return mitigationCases(w, "AddThingsToThingGroupParams") }},
	{ID: "mitigation-deactivate", From: "Defender mitigation UPDATE_DEVICE_CERTIFICATE", To: "device certificates", Allow: true,
		Cases: func(w *World) ([]Case, error) { return mitigationCases(w, "UpdateDeviceCertificateParams") }},
	{ID: "mitigation-enable-logging", From: "Defender mitigation ENABLE_IOT_LOGGING", To: "IoT logging options and the logging role", Allow: true,
		Cases: func(w *World) ([]Case, error) { return mitigationCases(w, "EnableIoTLoggingParams") }},
	{ID: "unlisted-role-to-topic", From: "a same-account role whose identity policy allows sns:Publish", To: "the alert topic", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			s, err := publishAs(w, w.admin("SomeAdmin"))
			return single("SomeAdmin publishes", s...), err
		}},
	{ID: "foreign-role-to-topic", From: "a role of another account", To: "the alert topic", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			s, err := publishAs(w, w.foreign("Attacker"))
			return single("foreign role publishes", s...), err
		}},
	{ID: "rule-to-targets", From: "every topic rule (iot.amazonaws.com -> its action role)", To: "its actions and error action (stream, queues) and their keys", Allow: true,
		Cases: ruleCases},
	{ID: "foreign-iot-assumes-rule-role", From: "AWS IoT acting for another account", To: "a topic rule role", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			r, err := w.One("AWS::IAM::Role", "TelemetryRuleRole")
			if err != nil {
				return nil, err
			}
			s, err := w.assume("iot.amazonaws.com", r, w.ctx("aws:SourceAccount", ForeignAccount, "aws:SourceArn", "arn:aws:iot:"+w.Region+":"+ForeignAccount+":rule/x"))
			return single("foreign rule", s), err
		}},
	{ID: "stream-to-processor", From: "every event source mapping (the function's role)", To: "its stream, the stream's key and the on-failure queue", Allow: true,
		Cases: esmCases},
	{ID: "async-failure-destinations", From: "every asynchronously invoked function (its role)", To: "its on-failure queue and key", Allow: true,
		Cases: eventInvokeCases},
	{ID: "function-logs", From: "every function (its role)", To: "its log group", Allow: true, Cases: functionLogCases},
	{ID: "logs-to-keys", From: "CloudWatch Logs (logs.<region>.amazonaws.com)", To: "every encrypted log group's key", Allow: true, Cases: logKeyCases},
	{ID: "processor-to-stores", From: "the telemetry processor", To: "device state, the archive (accepted/, rejected/), the field key and their keys", Allow: true,
		Cases: processorCases},
	{ID: "processor-writes-audit", From: "the telemetry processor", To: "the command audit table", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			return tableAttempt(w, "TelemetryProcessor", "CommandAudit", "dynamodb:PutItem")
		}},
	{ID: "processor-deletes-archive", From: "the telemetry processor", To: "archive objects (s3:DeleteObject)", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			return archiveAttempt(w, "TelemetryProcessor", "s3:DeleteObject", "/accepted/x.json")
		}},
	{ID: "processor-field-key-without-context", From: "the telemetry processor", To: "the field key without the class/thing encryption context", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			_, c, err := fnByPrefix(w, "TelemetryProcessor")
			if err != nil {
				return nil, err
			}
			k, err := w.One("AWS::KMS::Key", "FieldKey")
			if err != nil {
				return nil, err
			}
			s, err := w.step(c, "kms:GenerateDataKey", k, "", w.ctx("kms:CallerAccount", w.Account))
			return single("no encryption context", s), err
		}},
	{ID: "rule-role-writes-state", From: "the topic rule role", To: "the device state table", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			c, _, err := w.roleCallerByPrefix("TelemetryRuleRole")
			if err != nil {
				return nil, err
			}
			t, err := w.One("AWS::DynamoDB::Table", "DeviceState")
			if err != nil {
				return nil, err
			}
			s, err := w.step(c, "dynamodb:PutItem", t, "", nil)
			return single("rule role PutItem", s), err
		}},
	{ID: "topic-to-remediation", From: "the alert topic (sns.amazonaws.com, the topic as source)", To: "every subscribed function and each subscription's dead-letter queue", Allow: true,
		Cases: subscriptionCases},
	{ID: "other-topic-to-remediation", From: "an SNS topic of another account", To: "the remediation functions", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			var out []Case
			for _, p := range []string{"DefenderQuarantine", "DefenderAuditRemediation"} {
				fn, err := w.One("AWS::Lambda::Function", p)
				if err != nil {
					return nil, err
				}
				s, err := w.step(w.service("sns.amazonaws.com"), "lambda:InvokeFunction", fn, "",
					w.ctx("aws:SourceArn", "arn:aws:sns:"+w.Region+":"+ForeignAccount+":forged", "aws:SourceAccount", ForeignAccount))
				if err != nil {
					return nil, err
				}
				out = append(out, Case{Name: p, Steps: []Step{s}})
			}
			return out, nil
		}},
	{ID: "remediation-to-iot", From: "the quarantine and audit remediation functions", To: "things, the quarantine group, audit findings, metrics", Allow: true,
		Cases: remediationCases},
	{ID: "api-to-command-function", From: "every IAM-authorized API method (apigateway.amazonaws.com, the method ARN)", To: "its Lambda integration", Allow: true,
		Cases: apiCases},
	{ID: "foreign-invokes-command-function", From: "a role of another account", To: "the command function (lambda:InvokeFunction)", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			fn, err := w.One("AWS::Lambda::Function", "CommandApiFunction")
			if err != nil {
				return nil, err
			}
			s, err := w.step(w.foreign("Attacker"), "lambda:InvokeFunction", fn, "", nil)
			return single("foreign invoke", s), err
		}},
	{ID: "command-function-to-iot", From: "the command function", To: "device state (read), command audit (write), IoT commands and shadows", Allow: true,
		Cases: commandCases},
	{ID: "command-reads-telemetry", From: "the command function", To: "the telemetry archive (s3:GetObject)", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			return archiveAttempt(w, "CommandApiFunction", "s3:GetObject", "/accepted/x.json")
		}},
	{ID: "command-writes-state", From: "the command function", To: "the device state table (dynamodb:PutItem)", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			return tableAttempt(w, "CommandApiFunction", "DeviceState", "dynamodb:PutItem")
		}},
	{ID: "provisioning-to-hook", From: "every provisioning template's pre-provisioning hook (iot.amazonaws.com, the template ARN)", To: "the hook function", Allow: true,
		Cases: hookCases},
	{ID: "other-template-to-hook", From: "another provisioning template", To: "the hook function", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			fn, err := w.One("AWS::Lambda::Function", "DevicesProvisioningHook")
			if err != nil {
				return nil, err
			}
			s, err := w.step(w.service("iot.amazonaws.com"), "lambda:InvokeFunction", fn, "",
				w.ctx("aws:SourceArn", "arn:aws:iot:"+w.Region+":"+w.Account+":provisioningtemplate/someone_elses", "aws:SourceAccount", w.Account))
			return single("other template", s), err
		}},
	{ID: "hook-to-allowlist", From: "the pre-provisioning hook", To: "the provisioning allowlist and its key", Allow: true,
		Cases: func(w *World) ([]Case, error) {
			return tableUse(w, "DevicesProvisioningHook", "ProvisioningAllowlist", "dynamodb:GetItem", "dynamodb:UpdateItem")
		}},
	{ID: "hook-deletes-allowlist", From: "the pre-provisioning hook", To: "the provisioning allowlist (dynamodb:DeleteItem)", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			return tableAttempt(w, "DevicesProvisioningHook", "ProvisioningAllowlist", "dynamodb:DeleteItem")
		}},
	{ID: "provisioning-role", From: "AWS IoT provisioning (iot.amazonaws.com -> provisioning role)", To: "creating things and activating certificates", Allow: true,
		Cases: provisioningRoleCases},
	{ID: "iot-logging", From: "AWS IoT logging (iot.amazonaws.com -> logging role)", To: "the AWSIotLogsV2 log group", Allow: true,
		Cases: iotLoggingCases},
	{ID: "s3-access-logs", From: "S3 server access logging (logging.s3.amazonaws.com)", To: "every data bucket's log bucket", Allow: true,
		Cases: accessLogCases},
	{ID: "ota-presign", From: "AWS IoT Jobs (iot.amazonaws.com -> each class's presigned-URL role)", To: "the class's firmware images and the bucket's key (through S3)", Allow: true,
		Cases: func(w *World) ([]Case, error) { return otaPresignCases(w, false) }},
	{ID: "ota-presign-other-class", From: "a class's presigned-URL role", To: "another class's firmware images", Allow: false,
		Cases: func(w *World) ([]Case, error) {
			cs, err := otaPresignCases(w, true)
			return firstOnly(cs), err
		}},
	{ID: "grants-for-aws-resources", From: "a same-account deployer via DynamoDB, Lambda, SQS (grant for an AWS resource)", To: "kms:CreateGrant on every key", Allow: true,
		Cases: func(w *World) ([]Case, error) { return grantCases(w, true) }},
	{ID: "grants-not-for-aws-resources", From: "a same-account role with kms:* (CT.KMS.PR.3)", To: "kms:CreateGrant on every key, not for an AWS resource", Allow: false,
		Cases: func(w *World) ([]Case, error) { return grantCases(w, false) }},
}

func firstOnly(cs []Case) []Case {
	if len(cs) > 1 {
		return cs[:1]
	}
	return cs
}

func (w *World) roleCallerByPrefix(prefix string) (Caller, Ref, error) {
	r, err := w.One("AWS::IAM::Role", prefix)
	if err != nil {
		return Caller{}, Ref{}, err
	}
	return w.roleCaller(r.Stack, map[string]any{"Fn::GetAtt": []any{r.ID, "Arn"}})
}

// roleChainCases: a service (iot) assumes the role a resource names, then publishes as it.
func roleChainCases(w *World, typ string, path ...any) ([]Case, error) {
	var out []Case
	for _, r := range w.Find(typ, "") {
		roleArn := Get(r.Properties, path...)
		if roleArn == nil {
			continue
		}
		c, role, err := w.roleCaller(r.Stack, roleArn)
		if err != nil {
			return nil, err
		}
		a, err := w.assume("iot.amazonaws.com", role, w.ctx("aws:SourceAccount", w.Account))
		if err != nil {
			return nil, err
		}
		ps, err := publishAs(w, c)
		if err != nil {
			return nil, err
		}
		out = append(out, Case{Name: r.ID, Steps: append([]Step{a}, ps...)})
	}
	return out, nil
}

func mitigationCases(w *World, kind string) ([]Case, error) {
	var out []Case
	for _, m := range w.Find("AWS::IoT::MitigationAction", "") {
		params := Get(m.Properties, "ActionParams", kind)
		if params == nil {
			continue
		}
		c, role, err := w.roleCaller(m.Stack, m.Properties["RoleArn"])
		if err != nil {
			return nil, err
		}
		a, err := w.assume("iot.amazonaws.com", role, w.ctx("aws:SourceAccount", w.Account))
		if err != nil {
			return nil, err
		}
		steps := []Step{a}
		raw := func(action, arn string) {
			steps = append(steps, Step{Caller: c, Action: action, Resource: arn})
		}
		iot := "arn:" + w.Partition + ":iot:" + w.Region + ":" + w.Account + ":"
		switch kind {
		case "PublishFindingToSnsParams":
			ps, err := publishAs(w, c)
			if err != nil {
				return nil, err
			}
			steps = append(steps, ps...)
		case "AddThingsToThingGroupParams":
			for _, g := range List(Get(params, "ThingGroupNames")) {
				name, err := w.Str(m.Stack, g)
				if err != nil {
					return nil, err
				}
				raw("iot:AddThingToThingGroup", iot+"thinggroup/"+name)
				raw("iot:AddThingToThingGroup", iot+"thing/some-thing")
			}
		case "UpdateDeviceCertificateParams":
			raw("iot:UpdateCertificate", iot+"cert/0123abcd")
		case "EnableIoTLoggingParams":
			raw("iot:SetV2LoggingOptions", "*")
			role, err := w.Str(m.Stack, Get(params, "RoleArnForLogging"))
			if err != nil {
				return nil, err
			}
			steps = append(steps, Step{Caller: c, Action: "iam:PassRole", Resource: role, Context: w.ctx("iam:PassedToService", "iot.amazonaws.com")})
		}
		out = append(out, Case{Name: m.ID, Steps: steps})
	}
	return out, nil
}

func ruleCases(w *World) ([]Case, error) {
	var out []Case
	for _, r := range w.Find("AWS::IoT::TopicRule", "") {
		ruleArn, err := w.Arn(r)
		if err != nil {
			return nil, err
		}
		payload := Get(r.Properties, "TopicRulePayload")
		actions := append([]any{}, List(Get(payload, "Actions"))...)
		if ea := Get(payload, "ErrorAction"); ea != nil {
			actions = append(actions, ea)
		}
		for i, act := range actions {
			am, _ := act.(map[string]any)
			for kind, params := range am {
				name := fmt.Sprintf("%s action %d (%s)", r.ID, i, kind)
				ctx := w.ctx("aws:SourceArn", ruleArn, "aws:SourceAccount", w.Account)
				var steps []Step
				if kind == "Lambda" {
					fn, err := w.resourceAt(r.Stack, Get(params, "FunctionArn"), "AWS::Lambda::Function")
					if err != nil {
						return nil, err
					}
					s, err := w.step(w.service("iot.amazonaws.com"), "lambda:InvokeFunction", fn, "", ctx)
					if err != nil {
						return nil, err
					}
					out = append(out, Case{Name: name, Steps: []Step{s}})
					continue
				}
				c, role, err := w.roleCaller(r.Stack, Get(params, "RoleArn"))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				a, err := w.assume("iot.amazonaws.com", role, ctx)
				if err != nil {
					return nil, err
				}
				steps = append(steps, a)
				switch kind {
				case "Kinesis":
					st, err := w.resourceAt(r.Stack, Get(params, "StreamName"), "AWS::Kinesis::Stream")
					if err != nil {
						return nil, err
					}
					s, err := w.step(c, "kinesis:PutRecord", st, "", nil)
					if err != nil {
						return nil, err
					}
					ks, err := w.keySteps(c, st, "kinesis", nil, "kms:GenerateDataKey")
					if err != nil {
						return nil, err
					}
					steps = append(append(steps, s), ks...)
				case "Sqs":
					q, err := w.resourceAt(r.Stack, Get(params, "QueueUrl"), "AWS::SQS::Queue")
					if err != nil {
						return nil, err
					}
					ss, err := w.sendToQueue(c, q, nil)
					if err != nil {
						return nil, err
					}
					steps = append(steps, ss...)
				default:
					return nil, fmt.Errorf("%s: the flow table does not know rule action %s: add it", name, kind)
				}
				out = append(out, Case{Name: name, Steps: steps})
			}
		}
	}
	return out, nil
}

func esmCases(w *World) ([]Case, error) {
	var out []Case
	for _, m := range w.Find("AWS::Lambda::EventSourceMapping", "") {
		fn, err := w.resourceAt(m.Stack, m.Properties["FunctionName"], "AWS::Lambda::Function")
		if err != nil {
			return nil, err
		}
		c, err := w.functionRole(fn)
		if err != nil {
			return nil, err
		}
		src, err := w.Str(m.Stack, m.Properties["EventSourceArn"])
		if err != nil {
			return nil, err
		}
		var steps []Step
		switch {
		case strings.Contains(src, ":kinesis:"):
			st, err := w.byArn(src, "AWS::Kinesis::Stream")
			if err != nil {
				return nil, err
			}
			for _, a := range []string{"kinesis:DescribeStream", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"} {
				s, err := w.step(c, a, st, "", nil)
				if err != nil {
					return nil, err
				}
				steps = append(steps, s)
			}
			ks, err := w.keySteps(c, st, "kinesis", nil, "kms:Decrypt")
			if err != nil {
				return nil, err
			}
			steps = append(steps, ks...)
		case strings.Contains(src, ":sqs:"):
			q, err := w.byArn(src, "AWS::SQS::Queue")
			if err != nil {
				return nil, err
			}
			for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} {
				s, err := w.step(c, a, q, "", nil)
				if err != nil {
					return nil, err
				}
				steps = append(steps, s)
			}
			ks, err := w.keySteps(c, q, "sqs", nil, "kms:Decrypt")
			if err != nil {
				return nil, err
			}
			steps = append(steps, ks...)
		default:
			return nil, fmt.Errorf("%s: the flow table does not know event source %s", m.ID, src)
		}
		if d := Get(m.Properties, "DestinationConfig", "OnFailure", "Destination"); d != nil {
			q, err := w.resourceAt(m.Stack, d, "AWS::SQS::Queue")
			if err != nil {
				return nil, err
			}
			ss, err := w.sendToQueue(c, q, nil)
			if err != nil {
				return nil, err
			}
			steps = append(steps, ss...)
		}
		out = append(out, Case{Name: m.ID, Steps: steps})
	}
	return out, nil
}

func eventInvokeCases(w *World) ([]Case, error) {
	var out []Case
	for _, e := range w.Find("AWS::Lambda::EventInvokeConfig", "") {
		fn, err := w.resourceAt(e.Stack, e.Properties["FunctionName"], "AWS::Lambda::Function")
		if err != nil {
			return nil, err
		}
		c, err := w.functionRole(fn)
		if err != nil {
			return nil, err
		}
		d := Get(e.Properties, "DestinationConfig", "OnFailure", "Destination")
		if d == nil {
			continue
		}
		q, err := w.resourceAt(e.Stack, d, "AWS::SQS::Queue")
		if err != nil {
			return nil, err
		}
		ss, err := w.sendToQueue(c, q, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, Case{Name: e.ID, Steps: ss})
	}
	return out, nil
}

func functionLogCases(w *World) ([]Case, error) {
	var out []Case
	for _, fn := range w.Find("AWS::Lambda::Function", "") {
		lg := Get(fn.Properties, "LoggingConfig", "LogGroup")
		if lg == nil {
			continue
		}
		g, err := w.resourceAt(fn.Stack, lg, "AWS::Logs::LogGroup")
		if err != nil {
			return nil, err
		}
		c, err := w.functionRole(fn)
		if err != nil {
			return nil, err
		}
		name, err := w.physicalName(g)
		if err != nil {
			return nil, err
		}
		streamArn := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:log-stream:2026/11/30/[$LATEST]abc", w.Partition, w.Region, w.Account, name)
		out = append(out, Case{Name: fn.ID, Steps: []Step{
			{Caller: c, Action: "logs:CreateLogStream", Resource: streamArn},
			{Caller: c, Action: "logs:PutLogEvents", Resource: streamArn},
		}})
	}
	return out, nil
}

func logKeyCases(w *World) ([]Case, error) {
	var out []Case
	for _, g := range w.Find("AWS::Logs::LogGroup", "") {
		name, err := w.physicalName(g)
		if err != nil {
			return nil, err
		}
		arn := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", w.Partition, w.Region, w.Account, name)
		ks, err := w.keySteps(w.service("logs."+w.Region+".amazonaws.com"), g, "", w.ctx("kms:EncryptionContext:aws:logs:arn", arn), "kms:GenerateDataKey", "kms:Decrypt")
		if err != nil {
			return nil, err
		}
		if len(ks) > 0 {
			out = append(out, Case{Name: g.ID, Steps: ks})
		}
	}
	return out, nil
}

func processorCases(w *World) ([]Case, error) {
	fn, c, err := fnByPrefix(w, "TelemetryProcessor")
	if err != nil {
		return nil, err
	}
	_ = fn
	state, err := w.One("AWS::DynamoDB::Table", "DeviceState")
	if err != nil {
		return nil, err
	}
	archive, err := w.One("AWS::S3::Bucket", "TelemetryArchive")
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, a := range []string{"dynamodb:UpdateItem", "dynamodb:BatchGetItem"} {
		s, err := w.step(c, a, state, "", nil)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	ks, err := w.keySteps(c, state, "dynamodb", nil, "kms:Decrypt")
	if err != nil {
		return nil, err
	}
	steps = append(steps, ks...)
	for _, p := range []string{"/accepted/2026/11/30/batch.json", "/rejected/2026/11/30/batch.json"} {
		s, err := w.step(c, "s3:PutObject", archive, p, nil)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	ks, err = w.keySteps(c, archive, "s3", nil, "kms:GenerateDataKey")
	if err != nil {
		return nil, err
	}
	steps = append(steps, ks...)
	cases := []Case{{Name: "state and archive", Steps: steps}}
	if k, err := w.One("AWS::KMS::Key", "FieldKey"); err == nil {
		s, err := w.step(c, "kms:GenerateDataKey", k, "", w.ctx("kms:CallerAccount", w.Account,
			"kms:EncryptionContextKeys", "class", "kms:EncryptionContextKeys", "thing",
			"kms:EncryptionContext:class", "camera", "kms:EncryptionContext:thing", "cam-harbour-001"))
		if err != nil {
			return nil, err
		}
		cases = append(cases, Case{Name: "field key with class and thing context", Steps: []Step{s}})
	}
	return cases, nil
}

func tableUse(w *World, fnPrefix, tablePrefix string, actions ...string) ([]Case, error) {
	_, c, err := fnByPrefix(w, fnPrefix)
	if err != nil {
		return nil, err
	}
	t, err := w.One("AWS::DynamoDB::Table", tablePrefix)
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, a := range actions {
		s, err := w.step(c, a, t, "", nil)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	ks, err := w.keySteps(c, t, "dynamodb", nil, "kms:Decrypt")
	return single(fnPrefix+" -> "+tablePrefix, append(steps, ks...)...), err
}

func tableAttempt(w *World, fnPrefix, tablePrefix, action string) ([]Case, error) {
	_, c, err := fnByPrefix(w, fnPrefix)
	if err != nil {
		return nil, err
	}
	t, err := w.One("AWS::DynamoDB::Table", tablePrefix)
	if err != nil {
		return nil, err
	}
	s, err := w.step(c, action, t, "", nil)
	return single(fnPrefix+" "+action, s), err
}

func archiveAttempt(w *World, fnPrefix, action, key string) ([]Case, error) {
	_, c, err := fnByPrefix(w, fnPrefix)
	if err != nil {
		return nil, err
	}
	b, err := w.One("AWS::S3::Bucket", "TelemetryArchive")
	if err != nil {
		return nil, err
	}
	s, err := w.step(c, action, b, key, nil)
	return single(fnPrefix+" "+action, s), err
}

func subscriptionCases(w *World) ([]Case, error) {
	var out []Case
	for _, sub := range w.Find("AWS::SNS::Subscription", "") {
		if sub.Properties["Protocol"] != "lambda" {
			continue
		}
		topicArn, err := w.Str(sub.Stack, sub.Properties["TopicArn"])
		if err != nil {
			return nil, err
		}
		fn, err := w.resourceAt(sub.Stack, sub.Properties["Endpoint"], "AWS::Lambda::Function")
		if err != nil {
			return nil, err
		}
		sns := w.service("sns.amazonaws.com")
		ctx := w.ctx("aws:SourceArn", topicArn, "aws:SourceAccount", w.Account)
		s, err := w.step(sns, "lambda:InvokeFunction", fn, "", ctx)
		if err != nil {
			return nil, err
		}
		steps := []Step{s}
		if dlq := Get(sub.Properties, "RedrivePolicy", "deadLetterTargetArn"); dlq != nil {
			q, err := w.resourceAt(sub.Stack, dlq, "AWS::SQS::Queue")
			if err != nil {
				return nil, err
			}
			ss, err := w.sendToQueue(sns, q, ctx)
			if err != nil {
				return nil, err
			}
			steps = append(steps, ss...)
		}
		out = append(out, Case{Name: sub.ID, Steps: steps})
	}
	return out, nil
}

func remediationCases(w *World) ([]Case, error) {
	iot := func(r string) string { return "arn:" + w.Partition + ":iot:" + w.Region + ":" + w.Account + ":" + r }
	_, q, err := fnByPrefix(w, "DefenderQuarantine")
	if err != nil {
		return nil, err
	}
	group, err := w.One("AWS::IoT::ThingGroup", "QuarantineGroup")
	if err != nil {
		group, err = w.One("AWS::IoT::ThingGroup", "Quarantine")
		if err != nil {
			return nil, err
		}
	}
	g, err := w.Arn(group)
	if err != nil {
		return nil, err
	}
	_, a, err := fnByPrefix(w, "DefenderAuditRemediation")
	if err != nil {
		return nil, err
	}
	// The quarantine function tells a person what it did (the alert topic, through its
	// publisher path) and spends its hourly cap in the device state table.
	notify, err := quarantineStoreSteps(w, q)
	if err != nil {
		return nil, err
	}
	return []Case{
		{Name: "quarantine", Steps: []Step{
			{Caller: q, Action: "iot:DescribeThing", Resource: iot("thing/cam-harbour-001")},
			{Caller: q, Action: "iot:AddThingToThingGroup", Resource: g},
			{Caller: q, Action: "iot:AddThingToThingGroup", Resource: iot("thing/cam-harbour-001")},
			{Caller: q, Action: "cloudwatch:GetMetricData", Resource: "*"},
		}},
		{Name: "quarantine notifies and spends its cap", Steps: notify},
		{Name: "audit remediation", Steps: []Step{
			{Caller: a, Action: "iot:ListAuditFindings", Resource: "*"},
			{Caller: a, Action: "iot:StartAuditMitigationActionsTask", Resource: "*"},
		}},
	}, nil
}

// apiPath is the method's resource path with each {param} replaced by a sample value.
func apiPath(w *World, m Ref) (string, error) {
	var parts []string
	cur := Get(m.Properties, "ResourceId")
	for i := 0; i < 20; i++ {
		id, ok := Get(cur, "Ref").(string)
		if !ok {
			break // Fn::GetAtt RootResourceId: the root
		}
		r, ok := w.Lookup(m.Stack, id)
		if !ok || r.Type != "AWS::ApiGateway::Resource" {
			return "", fmt.Errorf("%s: resource %s is not an API resource", m.ID, id)
		}
		part, _ := r.Properties["PathPart"].(string)
		if strings.HasPrefix(part, "{") {
			part = "sample-" + strings.Trim(part, "{}+")
		}
		parts = append([]string{part}, parts...)
		cur = r.Properties["ParentId"]
	}
	return strings.Join(parts, "/"), nil
}

func apiCases(w *World) ([]Case, error) {
	var out []Case
	for _, m := range w.Find("AWS::ApiGateway::Method", "") {
		uri, _ := w.Str(m.Stack, Get(m.Properties, "Integration", "Uri"))
		if !strings.Contains(uri, ":lambda:path/") {
			continue
		}
		fnArn := strings.TrimSuffix(uri[strings.Index(uri, "/functions/")+len("/functions/"):], "/invocations")
		fn, err := w.byArn(fnArn, "AWS::Lambda::Function")
		if err != nil {
			return nil, err
		}
		api, err := w.Str(m.Stack, m.Properties["RestApiId"])
		if err != nil {
			return nil, err
		}
		var stage string
		for _, s := range w.Stacks[m.Stack].Template.Resources("AWS::ApiGateway::Stage") {
			if id, _ := w.Str(m.Stack, s.Properties["RestApiId"]); id == api {
				stage, _ = s.Properties["StageName"].(string)
			}
		}
		path, err := apiPath(w, m)
		if err != nil {
			return nil, err
		}
		method, _ := m.Properties["HttpMethod"].(string)
		src := fmt.Sprintf("arn:%s:execute-api:%s:%s:%s/%s/%s/%s", w.Partition, w.Region, w.Account, api, stage, method, path)
		s, err := w.step(w.service("apigateway.amazonaws.com"), "lambda:InvokeFunction", fn, "", w.ctx("aws:SourceArn", src, "aws:SourceAccount", w.Account))
		if err != nil {
			return nil, err
		}
		out = append(out, Case{Name: m.ID, Steps: []Step{s}})
	}
	return out, nil
}

func commandCases(w *World) ([]Case, error) {
	iot := func(r string) string { return "arn:" + w.Partition + ":iot:" + w.Region + ":" + w.Account + ":" + r }
	_, c, err := fnByPrefix(w, "CommandApiFunction")
	if err != nil {
		return nil, err
	}
	read, err := tableUse(w, "CommandApiFunction", "DeviceState", "dynamodb:GetItem")
	if err != nil {
		return nil, err
	}
	audit, err := tableUse(w, "CommandApiFunction", "CommandAudit", "dynamodb:PutItem")
	if err != nil {
		return nil, err
	}
	return append(append(read, audit...), Case{Name: "IoT", Steps: []Step{
		{Caller: c, Action: "iot:DescribeEndpoint", Resource: "*"},
		{Caller: c, Action: "iot:DescribeThing", Resource: iot("thing/sl-harbour-001")},
		{Caller: c, Action: "iot:Publish", Resource: iot("topic/city/things/sl-harbour-001/commands")},
		{Caller: c, Action: "iot:UpdateThingShadow", Resource: iot("thing/sl-harbour-001")},
	}}), nil
}

func hookCases(w *World) ([]Case, error) {
	var out []Case
	for _, t := range w.Find("AWS::IoT::ProvisioningTemplate", "") {
		hook := Get(t.Properties, "PreProvisioningHook", "TargetArn")
		if hook == nil {
			continue
		}
		fn, err := w.resourceAt(t.Stack, hook, "AWS::Lambda::Function")
		if err != nil {
			return nil, err
		}
		arn, err := w.Arn(t)
		if err != nil {
			return nil, err
		}
		s, err := w.step(w.service("iot.amazonaws.com"), "lambda:InvokeFunction", fn, "", w.ctx("aws:SourceArn", arn, "aws:SourceAccount", w.Account))
		if err != nil {
			return nil, err
		}
		out = append(out, Case{Name: t.ID, Steps: []Step{s}})
	}
	return out, nil
}

func provisioningRoleCases(w *World) ([]Case, error) {
	iot := func(r string) string { return "arn:" + w.Partition + ":iot:" + w.Region + ":" + w.Account + ":" + r }
	var out []Case
	for _, t := range w.Find("AWS::IoT::ProvisioningTemplate", "") {
		c, role, err := w.roleCaller(t.Stack, t.Properties["ProvisioningRoleArn"])
		if err != nil {
			return nil, err
		}
		arn, err := w.Arn(t)
		if err != nil {
			return nil, err
		}
		a, err := w.assume("iot.amazonaws.com", role, w.ctx("aws:SourceArn", arn, "aws:SourceAccount", w.Account))
		if err != nil {
			return nil, err
		}
		out = append(out, Case{Name: t.ID, Steps: []Step{a,
			{Caller: c, Action: "iot:CreateThing", Resource: iot("thing/new-device-001")},
			{Caller: c, Action: "iot:UpdateCertificate", Resource: iot("cert/0123abcd")},
			{Caller: c, Action: "iot:AttachThingPrincipal", Resource: iot("thing/new-device-001")},
		}})
	}
	return out, nil
}

func iotLoggingCases(w *World) ([]Case, error) {
	var out []Case
	for _, l := range w.Find("AWS::IoT::Logging", "") {
		c, role, err := w.roleCaller(l.Stack, l.Properties["RoleArn"])
		if err != nil {
			return nil, err
		}
		a, err := w.assume("iot.amazonaws.com", role, w.ctx("aws:SourceAccount", w.Account, "aws:SourceArn", "arn:"+w.Partition+":iot:"+w.Region+":"+w.Account+":*"))
		if err != nil {
			return nil, err
		}
		stream := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:AWSIotLogsV2:log-stream:abc", w.Partition, w.Region, w.Account)
		out = append(out, Case{Name: l.ID, Steps: []Step{a,
			{Caller: c, Action: "logs:CreateLogStream", Resource: stream},
			{Caller: c, Action: "logs:PutLogEvents", Resource: stream},
		}})
	}
	return out, nil
}

func accessLogCases(w *World) ([]Case, error) {
	var out []Case
	for _, b := range w.Find("AWS::S3::Bucket", "") {
		dest := Get(b.Properties, "LoggingConfiguration", "DestinationBucketName")
		if dest == nil {
			continue
		}
		target, err := w.resourceAt(b.Stack, dest, "AWS::S3::Bucket")
		if err != nil {
			return nil, err
		}
		src, err := w.Arn(b)
		if err != nil {
			return nil, err
		}
		prefix, _ := w.Str(b.Stack, Get(b.Properties, "LoggingConfiguration", "LogFilePrefix"))
		s, err := w.step(w.service("logging.s3.amazonaws.com"), "s3:PutObject", target, "/"+prefix+"2026-11-30-log",
			w.ctx("aws:SourceArn", src, "aws:SourceAccount", w.Account))
		if err != nil {
			return nil, err
		}
		out = append(out, Case{Name: b.ID, Steps: []Step{s}})
	}
	return out, nil
}

// grantCases: services that encrypt with a customer-managed key (DynamoDB, Lambda, SQS) create
// grants with the deploying principal's credentials and kms:GrantIsForAWSResource true; any
// other grant is what CT.KMS.PR.3 forbids.
func grantCases(w *World, forAWSResource bool) ([]Case, error) {
	var out []Case
	deployer := w.admin("cdk-cfn-exec-role")
	for _, k := range w.Find("AWS::KMS::Key", "") {
		ctx := w.ctx("kms:GrantIsForAWSResource", fmt.Sprint(forAWSResource), "kms:CallerAccount", w.Account)
		if forAWSResource {
			ctx["kms:ViaService"] = []string{"dynamodb." + w.Region + ".amazonaws.com"}
		}
		s, err := w.step(deployer, "kms:CreateGrant", k, "", ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, Case{Name: k.Stack + "/" + k.ID, Steps: []Step{s}})
	}
	return out, nil
}

// quarantineStoreSteps are the quarantine function's publish to the alert topic and its
// budget write to the device state table, each with the key requests the service makes.
func quarantineStoreSteps(w *World, q Caller) ([]Step, error) {
	topic, err := w.One("AWS::SNS::Topic", "AlertTopic")
	if err != nil {
		return nil, err
	}
	state, err := w.One("AWS::DynamoDB::Table", "DeviceState")
	if err != nil {
		return nil, err
	}
	var steps []Step
	for _, use := range []struct {
		r      Ref
		action string
		via    string
		key    []string
	}{
		{topic, "sns:Publish", "sns", []string{"kms:GenerateDataKey", "kms:Decrypt"}},
		{state, "dynamodb:UpdateItem", "dynamodb", []string{"kms:Decrypt"}},
	} {
		s, err := w.step(q, use.action, use.r, "", nil)
		if err != nil {
			return nil, err
		}
		ks, err := w.keySteps(q, use.r, use.via, nil, use.key...)
		if err != nil {
			return nil, err
		}
		steps = append(append(steps, s), ks...)
	}
	return steps, nil
}

// templateClass reads the class from a job template's description, which constructs/ota
// writes as "Firmware rollout for <class> devices (<prefix>)".
var templateClass = regexp.MustCompile(`^Firmware rollout for ([a-z][a-z0-9_]*) devices `)

// otaPresignCases: AWS IoT Jobs assumes each job template's presigned-URL role and reads an
// image of the template's class (or, with otherClass, of another class) through S3, which
// decrypts it with the bucket's key.
func otaPresignCases(w *World, otherClass bool) ([]Case, error) {
	bucket, err := w.One("AWS::S3::Bucket", "FirmwareBucket")
	if err != nil {
		return nil, err
	}
	var out []Case
	for _, t := range w.Find("AWS::IoT::JobTemplate", "") {
		desc, _ := t.Properties["Description"].(string)
		m := templateClass.FindStringSubmatch(desc)
		if m == nil {
			return nil, fmt.Errorf("flows: job template %s: description %q does not name its class", t.ID, desc)
		}
		class := m[1]
		if otherClass {
			class = "not_" + class
		}
		c, role, err := w.roleCaller(t.Stack, Get(t.Properties, "PresignedUrlConfig", "RoleArn"))
		if err != nil {
			return nil, err
		}
		a, err := w.assume("iot.amazonaws.com", role, w.ctx("aws:SourceAccount", w.Account))
		if err != nil {
			return nil, err
		}
		get, err := w.step(c, "s3:GetObject", bucket, "/firmware/"+class+"/1.4.0/firmware.bin", nil)
		if err != nil {
			return nil, err
		}
		steps := []Step{a, get}
		if !otherClass {
			ks, err := w.keySteps(c, bucket, "s3", nil, "kms:Decrypt")
			if err != nil {
				return nil, err
			}
			steps = append(steps, ks...)
		}
		out = append(out, Case{Name: t.ID, Steps: steps})
	}
	return out, nil
}
