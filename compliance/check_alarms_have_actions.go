package compliance

import "strings"

// checkAlarmsHaveActions: an alarm that notifies nobody is a graph, and one that leaves
// missing data to the default can stay OK while its source is silent.
var checkAlarmsHaveActions = Check{
	Name:    "alarms-have-actions",
	Default: "every CloudWatch alarm notifies (an alarm action) and decides missing data deliberately",
	Run:     alarmsHaveActions,
}

func alarmsHaveActions(t Template) (int, []string) {
	return each(t, "AWS::CloudWatch::Alarm", func(r Resource) string {
		var bad []string
		if len(List(Get(r.Properties, "AlarmActions"))) == 0 {
			bad = append(bad, "no alarm action")
		}
		if Get(r.Properties, "ActionsEnabled") == false {
			bad = append(bad, "actions disabled")
		}
		if Get(r.Properties, "TreatMissingData") == nil {
			bad = append(bad, "no TreatMissingData")
		}
		return strings.Join(bad, "; ")
	})
}
