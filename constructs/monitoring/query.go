package monitoring

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// AWS/IoT metric names and dimensions the alarms use, as the AWS IoT developer guide lists them
// ("AWS IoT metrics and dimensions"). The message broker metrics carry a Protocol dimension
// (MQTT or HTTP), the rule action metrics RuleName and ActionType, the rule metrics RuleName.
const (
	IoTNamespace = "AWS/IoT"

	// MetricConnectionAuthNError counts connection attempts rejected because authentication
	// failed (TLS client certificate); it includes internet scanners that send this account's
	// endpoint as SNI.
	MetricConnectionAuthNError = "Connection.AuthNError"
	// MetricConnectAuthError counts CONNECTs the broker could not authorize (iot:Connect).
	MetricConnectAuthError = "Connect.AuthError"
	// MetricPublishInAuthError counts PUBLISHes the broker could not authorize (iot:Publish).
	MetricPublishInAuthError = "PublishIn.AuthError"
	// MetricSubscribeAuthError counts SUBSCRIBEs the broker could not authorize (iot:Subscribe).
	MetricSubscribeAuthError = "Subscribe.AuthError"
	// MetricConnectSuccess counts successful connections.
	MetricConnectSuccess = "Connect.Success"

	MetricRuleMessageThrottled = "RuleMessageThrottled"
	MetricRuleActionFailure    = "Failure"
	MetricRuleErrorActionFail  = "ErrorActionFailure"
	MetricRuleTopicMatch       = "TopicMatch"
	MetricRuleParseError       = "ParseError"

	// MetricNonCompliantResources is what each Device Defender audit check found, per CheckName
	// and ScheduledAuditName ("OnDemand" for on-demand audits).
	MetricNonCompliantResources = "NonCompliantResources"

	DimensionProtocol = "Protocol"
	DimensionRuleName = "RuleName"
)

// insightsSum is a CloudWatch Metrics Insights query that sums metric over every series of
// namespace with exactly the dimension keys dims, optionally filtered by where (dimension ->
// value). An alarm cannot use SEARCH, but it can use a Metrics Insights query that returns one
// series; that is how an alarm covers every Protocol or every rule ActionType without knowing
// the values in advance. Values may be CDK tokens (they are concatenated, never parsed).
func insightsSum(namespace, metric string, dims []string, where map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT SUM(%s) FROM SCHEMA(%s", quoteIdent(metric), quoteIdent(namespace))
	for _, d := range dims {
		b.WriteString(", " + quoteIdent(d))
	}
	b.WriteString(")")
	keys := make([]string, 0, len(where))
	for k := range where {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(quoteIdent(k) + " = '" + strings.ReplaceAll(where[k], "'", `\'`) + "'")
	}
	return b.String()
}

var plainIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// quoteIdent double-quotes a Metrics Insights identifier that is not a plain word: namespaces
// hold slashes and broker metric names hold dots.
func quoteIdent(s string) string {
	if plainIdent.MatchString(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// search is a CloudWatch SEARCH expression for dashboards: every series of namespace with
// exactly the dimension keys dims and the given metric name, plus extra search terms
// (key="value"), aggregated by stat over periodSeconds.
func search(namespace, metric string, dims []string, terms map[string]string, stat string, periodSeconds int) string {
	schema := append([]string{namespace}, dims...)
	for i, s := range schema {
		schema[i] = searchQuote(s)
	}
	q := "{" + strings.Join(schema, ",") + "} MetricName=" + searchQuote(metric)
	keys := make([]string, 0, len(terms))
	for k := range terms {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q += " " + k + "=" + searchQuote(terms[k])
	}
	return fmt.Sprintf("SEARCH('%s', '%s', %d)", q, stat, periodSeconds)
}

// searchQuote double-quotes search terms that hold anything but word characters, since SEARCH
// otherwise splits them into tokens ("AWS/IoT" would match "AWS" or "IoT").
func searchQuote(s string) string {
	if plainIdent.MatchString(s) {
		return s
	}
	return `"` + s + `"`
}

// alarmName joins the parts of an alarm name. Names are unique per account and region, so they
// start with the stage's prefix.
func alarmName(prefix string, parts ...string) string {
	return strings.Join(append([]string{prefix}, parts...), "-")
}
