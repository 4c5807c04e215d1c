package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// directSeqDigits is the width of a direct-mode sequence number: 128 bits in decimal.
const directSeqDigits = 39

// HandleMessage is the Lambda entry point in direct mode, where a topic rule invokes the
// function asynchronously with one message. The message goes through Process as a one-record
// batch whose sequence number is derived from the message bytes: the rule adds receivedAt, so
// Lambda's retry of the same delivery is recognized as the same record (stored once), while a
// device's re-send is a new delivery that the thing's window of claims marks a duplicate. A
// bad message is rejected and archived like any other; only a transient failure returns an
// error, so that Lambda retries and its on-failure destination keeps what still fails.
//
// Direct mode has no partition key: the message is all the function gets, the rule's record
// (the payload base64-encoded beside topic, clientId, receivedAt and class). Its identity
// rests on topic and clientId agreeing, which the device cannot reach since the rule's keys
// never merge with its payload (RuleKeys), and receivedAt may be neither after the invocation (plus ArrivalTolerance) nor
// older than the oldest retry Lambda can deliver (MaxEventAge plus ArrivalTolerance). It is
// not bounded more tightly by the invocation time, since retries arrive hours late.
func (p *Pipeline) HandleMessage(ctx context.Context, msg json.RawMessage) error {
	var hdr struct {
		ClientID string `json:"clientId"`
	}
	// A malformed message is rejected by Process with its reason; the header only names the
	// partition (the thing, the rule's clientid()) for rejected records' logs and archive.
	_ = json.Unmarshal(msg, &hdr)
	res := p.process(ctx, events.KinesisEvent{Records: []events.KinesisEventRecord{{
		EventSource: "aws:iot",
		Kinesis: events.KinesisRecord{
			Data:           msg,
			PartitionKey:   hdr.ClientID,
			SequenceNumber: directSeq(msg),
			// The invocation is the only clock outside the message: receivedAt is bounded by
			// it and MaxEventAge (see validator.checkArrival).
			ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: p.cfg.Now()},
		},
	}}}, true)
	if len(res.BatchItemFailures) > 0 {
		return fmt.Errorf("telemetry: message from client %q was not stored (transient failure; Lambda retries it)", hdr.ClientID)
	}
	return nil
}

// directSeq is a fixed-width decimal sequence number for msg, so that cmpSeq orders it like a
// Kinesis sequence number.
func directSeq(msg []byte) string {
	sum := sha256.Sum256(msg)
	s := new(big.Int).SetBytes(sum[:16]).String()
	return strings.Repeat("0", directSeqDigits-len(s)) + s
}
