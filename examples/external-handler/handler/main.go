// Command handler is another team's Lambda function (a park's irrigation events), built by
// the platform's golambda construct from this module, not from the platform's.
package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"
)

// Event is one irrigation event.
type Event struct {
	Zone    string `json:"zone"`
	Minutes int    `json:"minutes"`
}

func handle(_ context.Context, raw json.RawMessage) (string, error) {
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", fmt.Errorf("decode event: %w", err)
	}
	if e.Zone == "" || e.Minutes <= 0 {
		return "", fmt.Errorf("event needs a zone and positive minutes, got zone %q minutes %d", e.Zone, e.Minutes)
	}
	return fmt.Sprintf("zone %s watered for %d minutes", e.Zone, e.Minutes), nil
}

func main() { lambda.Start(handle) }
