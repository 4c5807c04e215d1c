package ota_test

import (
	"fmt"

	"github.com/secure-smart-city/platform/constructs/ota"
)

// The names a release and the construct agree on: where an image goes, where its signature
// lands, and the query the rollout alarms sum over every job.
func Example() {
	fmt.Println(ota.FirmwareKey("street_light", "1.4.0", "fw.bin"))
	fmt.Println(ota.SignedKeyPrefix("street_light", "1.4.0"))
	fmt.Println(ota.InsightsSum(ota.MetricFailedExecutions))
	// Output:
	// firmware/street_light/1.4.0/fw.bin
	// signed/street_light/1.4.0/
	// SELECT SUM(FailedJobExecutionCount) FROM SCHEMA("AWS/IoT", JobId)
}
