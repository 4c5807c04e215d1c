package commandapi

import "encoding/json"

// AccessLogFields is the access log line: API Gateway's standard JSON fields (the keys
// AccessLogFormat.jsonWithStandardFields uses) plus the caller's IAM ARN and account, the
// authorization, validation, WAF and integration outcome, and the trace id, so an access log
// line answers who called what, from where, and what became of it. Every value is quoted:
// a field API Gateway leaves empty logs "-", and the line stays valid JSON.
var AccessLogFields = map[string]string{
	// Standard fields.
	"requestId":      "$context.requestId",
	"ip":             "$context.identity.sourceIp",
	"user":           "$context.identity.user",
	"caller":         "$context.identity.caller",
	"requestTime":    "$context.requestTime",
	"httpMethod":     "$context.httpMethod",
	"resourcePath":   "$context.resourcePath",
	"status":         "$context.status",
	"protocol":       "$context.protocol",
	"responseLength": "$context.responseLength",
	// Who: the SigV4 caller.
	"userArn":   "$context.identity.userArn",
	"accountId": "$context.identity.accountId",
	"userAgent": "$context.identity.userAgent",
	// What and what became of it.
	"path":               "$context.path",
	"extendedRequestId":  "$context.extendedRequestId",
	"errorType":          "$context.error.responseType",
	"errorMessage":       "$context.error.message",
	"validationError":    "$context.error.validationErrorString",
	"wafStatus":          "$context.waf.status",
	"integrationStatus":  "$context.integration.status",
	"integrationLatency": "$context.integration.latency",
	"responseLatency":    "$context.responseLatency",
	"xrayTraceId":        "$context.xrayTraceId",
}

// accessLogFormat renders AccessLogFields as the one-line JSON template API Gateway fills in.
func accessLogFormat() string {
	// A map of strings always marshals; keys come out sorted, so the template is stable.
	data, _ := json.Marshal(AccessLogFields)
	return string(data)
}
