package test

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/keys"
	"github.com/secure-smart-city/platform/constructs/securestore"
)

// Example_importConstructs is the README's "Using a construct in your own stack" sample; a test
// keeps the README's copy identical to this one.
func Example_importConstructs() {
	app := awscdk.NewApp(nil)
	stack := awscdk.NewStack(app, jsii.String("ParkingAnalytics"), nil)

	// One key for the team's stores: rotation on, RETAIN, a key policy that lets
	// this account's CloudWatch Logs use it.
	key := keys.New(stack, "Key", &keys.Props{
		Alias:    jsii.String("alias/parking/analytics"),
		Services: []keys.Service{keys.ServiceLogs},
	})

	// SSE-KMS with a bucket key, versioning, public access blocked, TLS 1.2+ only,
	// access logs and an archive lifecycle: none of it can be turned off by props.
	reports := securestore.NewBucket(stack, "Reports", &securestore.BucketProps{
		EncryptionKey: key.Resource,
	})
	occupancy := securestore.NewTable(stack, "Occupancy", &securestore.TableProps{
		PartitionKey:        "bay",
		SortKey:             "hour",
		TimeToLiveAttribute: "expiresAt",
		EncryptionKey:       key.Resource,
	})

	template := app.Synth(nil).GetStackByName(jsii.String("ParkingAnalytics")).Template()
	resources := template.(map[string]any)["Resources"].(map[string]any)
	fmt.Println(len(resources) > 0, reports.Key == key.Resource, occupancy.Key == key.Resource)
	// Output: true true true
}
