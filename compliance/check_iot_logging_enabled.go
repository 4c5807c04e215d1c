package compliance

import (
	"fmt"
	"strings"
)

// checkIoTLoggingEnabled: the detection path counts authorization failures (ERROR entries)
// and duplicate client ids (INFO Disconnect entries); a quieter level hides both.
var checkIoTLoggingEnabled = Check{
	Name:    "iot-logging-enabled",
	Default: "AWS IoT logging v2 is on, through a role, at a level that keeps authorization failures (ERROR) and duplicate client ids (INFO Disconnect entries)",
	Run:     iotLoggingEnabled,
}

var logRank = map[string]int{"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3, "DISABLED": 4}

func iotLoggingEnabled(t Template) (int, []string) {
	return each(t, "AWS::IoT::Logging", func(r Resource) string {
		var bad []string
		def, _ := Get(r.Properties, "DefaultLogLevel").(string)
		if rank, ok := logRank[def]; !ok || rank > logRank["ERROR"] {
			bad = append(bad, fmt.Sprintf("DefaultLogLevel %q drops ERROR entries (authorization failures)", def))
		}
		if Get(r.Properties, "RoleArn") == nil {
			bad = append(bad, "no RoleArn")
		}
		disconnect := def
		for _, e := range List(Get(r.Properties, "EventConfigurations")) {
			lvl, _ := Get(e, "LogLevel").(string)
			if Get(e, "EventType") == "Disconnect" {
				disconnect = lvl
			}
			if lvl == "DISABLED" {
				bad = append(bad, fmt.Sprintf("event %v logging DISABLED", Get(e, "EventType")))
			}
		}
		if rank, ok := logRank[disconnect]; !ok || rank > logRank["INFO"] {
			bad = append(bad, fmt.Sprintf("Disconnect events logged at %q: the INFO entries with DUPLICATE_CLIENT_ID are dropped", disconnect))
		}
		return strings.Join(bad, "; ")
	})
}
