package monitoring

import "testing"

func TestInsightsSum(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{insightsSum(IoTNamespace, MetricConnectAuthError, []string{DimensionProtocol}, nil),
			`SELECT SUM("Connect.AuthError") FROM SCHEMA("AWS/IoT", Protocol)`},
		{insightsSum(IoTNamespace, MetricRuleActionFailure, []string{"ActionType", DimensionRuleName}, map[string]string{DimensionRuleName: "smartcity_dev_street_light"}),
			`SELECT SUM(Failure) FROM SCHEMA("AWS/IoT", ActionType, RuleName) WHERE RuleName = 'smartcity_dev_street_light'`},
		{insightsSum("SmartCity/Telemetry", "Rejected", []string{"Class"}, map[string]string{"Class": "it's", "A": "b"}),
			`SELECT SUM(Rejected) FROM SCHEMA("SmartCity/Telemetry", Class) WHERE A = 'b' AND Class = 'it\'s'`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

func TestSearch(t *testing.T) {
	got := search("SmartCity/Telemetry", "Rejected", []string{"Class", "Reason"}, map[string]string{"Class": "street_light"}, "Sum", 300)
	want := `SEARCH('{"SmartCity/Telemetry",Class,Reason} MetricName=Rejected Class=street_light', 'Sum', 300)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = search(IoTNamespace, MetricConnectSuccess, []string{DimensionProtocol}, nil, "Sum", 60)
	want = `SEARCH('{"AWS/IoT",Protocol} MetricName="Connect.Success"', 'Sum', 60)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestNames(t *testing.T) {
	if got := camel("Rule_smartcity_dev_street-light"); got != "RuleSmartcityDevStreetLight" {
		t.Errorf("camel = %q", got)
	}
	if got := alarmName("SmartCity-dev", "TelemetryProcessor-Errors"); got != "SmartCity-dev-TelemetryProcessor-Errors" {
		t.Errorf("alarmName = %q", got)
	}
	if got := queryLines(ConnectedDevicesQuery); len(*got) != 4 || *(*got)[1] != "stats latest(eventType) as lastEvent by clientId" {
		t.Errorf("queryLines = %v", got)
	}
}
