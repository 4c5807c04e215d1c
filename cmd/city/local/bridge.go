package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/eclipse/paho.golang/paho"

	"github.com/secure-smart-city/platform/cmd/devicesim/sim"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
	"github.com/secure-smart-city/platform/topics"
)

// This file is the adapter between the broker and the real telemetry processor (package
// pipeline): it plays the topic rules and the Kinesis stream, and nothing else.

// Batching like a Kinesis event source mapping: at most maxBatch records, or what arrived
// within batchWindow of the first.
const (
	maxBatch    = 100
	batchWindow = 250 * time.Millisecond
)

// Stats are the processor's counts since start: accepted, rejected by reason, duplicates, as
// the Control Center dashboard shows them from the same embedded metrics.
type Stats struct {
	mu               sync.Mutex
	received         int
	accepted         int
	rejected         int
	duplicates       int
	rejectedByReason map[string]int
	unrouted         int
	batches          int
}

// StatsSnapshot is a copy of Stats.
type StatsSnapshot struct {
	Received, Accepted, Rejected, Duplicates, Unrouted, Batches int
	RejectedByReason                                            map[string]int
}

// Snapshot copies the counts.
func (s *Stats) Snapshot() StatsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := StatsSnapshot{Received: s.received, Accepted: s.accepted, Rejected: s.rejected, Duplicates: s.duplicates,
		Unrouted: s.unrouted, Batches: s.batches, RejectedByReason: map[string]int{}}
	for k, v := range s.rejectedByReason {
		out.RejectedByReason[k] = v
	}
	return out
}

// metricsWriter reads the processor's embedded metric format lines: the per-reason Rejected
// counts exist only there (Result has totals).
type metricsWriter struct {
	stats *Stats
	buf   []byte
}

func (w *metricsWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := w.buf[:i]
		var doc struct {
			Reason   string `json:"Reason"`
			Rejected int    `json:"Rejected"`
		}
		if json.Unmarshal(line, &doc) == nil && doc.Reason != "" && doc.Rejected > 0 {
			w.stats.mu.Lock()
			w.stats.rejectedByReason[doc.Reason] += doc.Rejected
			w.stats.mu.Unlock()
		}
		w.buf = w.buf[i+1:]
	}
}

type inbound struct {
	topic   string
	payload []byte
	at      time.Time
}

// bridge subscribes to every Basic Ingest topic as the rules client and feeds the processor.
type bridge struct {
	p      *pipeline.Pipeline
	client *paho.Client
	rules  map[string]string // rule name -> class id
	in     chan inbound
	stats  *Stats
	log    *slog.Logger
	seq    int64
	done   chan struct{}
}

func startBridge(ctx context.Context, addr string, tlsCfg *tls.Config, f *fleetspec.Fleet, prefix string, p *pipeline.Pipeline, stats *Stats, log *slog.Logger) (*bridge, error) {
	b := &bridge{
		p: p, rules: map[string]string{}, in: make(chan inbound, 10000), stats: stats, log: log,
		// Sequence numbers grow across runs too, as a stream's do.
		seq: time.Now().UnixNano(), done: make(chan struct{}),
	}
	for _, c := range f.Classes {
		b.rules[topics.RuleName(prefix, c.ID)] = c.ID
	}
	client, err := sim.Dial(ctx, sim.DialOptions{Addr: addr, TLS: tlsCfg, ClientID: RulesClient, Timeout: 10 * time.Second,
		OnPublish: func(pub *paho.Publish) {
			select {
			case b.in <- inbound{topic: pub.Topic, payload: pub.Payload, at: time.Now()}:
			default:
				// A full buffer is throttling, as IoT does past its limits: counted, dropped.
				stats.mu.Lock()
				stats.unrouted++
				stats.mu.Unlock()
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("rules client: %w", err)
	}
	// "$aws/rules/#" must be named: a filter starting with a wildcard never matches "$" topics.
	if err := sim.Subscribe(ctx, client, "$aws/rules/#", 10*time.Second); err != nil {
		_ = client.Disconnect(&paho.Disconnect{})
		return nil, err
	}
	b.client = client
	go b.loop(ctx)
	return b, nil
}

func (b *bridge) close() {
	if b == nil {
		return
	}
	_ = b.client.Disconnect(&paho.Disconnect{})
	<-b.done
}

// loop batches messages and hands each batch to the processor; a batch item failure is
// retried from the failed record on, as Lambda's event source mapping does.
func (b *bridge) loop(ctx context.Context) {
	defer close(b.done)
	for {
		var batch []events.KinesisEventRecord
		select {
		case <-ctx.Done():
			return
		case <-b.client.Done():
			return
		case m := <-b.in:
			if r, ok := b.record(m); ok {
				batch = append(batch, r)
			}
		}
		timer := time.NewTimer(batchWindow)
	collect:
		for len(batch) < maxBatch {
			select {
			case m := <-b.in:
				if r, ok := b.record(m); ok {
					batch = append(batch, r)
				}
			case <-timer.C:
				break collect
			case <-ctx.Done():
				timer.Stop()
				return
			}
		}
		timer.Stop()
		b.process(ctx, batch)
	}
}

func (b *bridge) process(ctx context.Context, batch []events.KinesisEventRecord) {
	for attempt := 0; len(batch) > 0; attempt++ {
		res := b.p.Process(ctx, events.KinesisEvent{Records: batch})
		b.stats.mu.Lock()
		b.stats.batches++
		b.stats.received += res.Received
		b.stats.accepted += res.Accepted
		b.stats.rejected += res.Rejected
		b.stats.duplicates += res.Duplicates
		b.stats.mu.Unlock()
		if len(res.BatchItemFailures) == 0 {
			return
		}
		failed := res.BatchItemFailures[0].ItemIdentifier
		i := 0
		for i < len(batch) && batch[i].Kinesis.SequenceNumber != failed {
			i++
		}
		batch = batch[i:]
		b.log.Warn("batch item failure, retrying", "from", failed, "records", len(batch), "attempt", attempt+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt+1)*time.Second, 10*time.Second)):
		}
	}
}

// record plays the class's topic rule: SELECT *, topic() AS topic, clientid() AS clientId,
// timestamp() AS receivedAt ['<class>' AS class] FROM '$aws/rules/<rule>/...', then the
// Kinesis action with the thing as partition key.
//
// clientid(): mosquitto does not tell a subscriber who published. The broker's ACL lets a
// certificate publish telemetry only to the topic that names its own CN (policies.Device via
// MosquittoACL; the CN is the thing name, the analogue of client id = thing name), so the
// thing level of the topic is the authenticated identity, and the bridge uses it.
//
// Any payload, JSON or not, is carried base64-encoded, as the rule does; the processor
// rejects what is not a JSON object with its reason.
func (b *bridge) record(m inbound) (events.KinesisEventRecord, bool) {
	rest, ok := strings.CutPrefix(m.topic, "$aws/rules/")
	if !ok {
		return events.KinesisEventRecord{}, false
	}
	rule, suffix, _ := strings.Cut(rest, "/")
	class, ok := b.rules[rule]
	if !ok {
		// No such rule: Basic Ingest drops the message.
		b.stats.mu.Lock()
		b.stats.unrouted++
		b.stats.mu.Unlock()
		return events.KinesisEventRecord{}, false
	}
	_, thing, _ := topics.TelemetryOrigin(m.topic)
	// What each class's rule selects (constructs/ingest.RuleSQL): the payload exactly as
	// published, base64-encoded whatever its bytes, beside what the rules engine vouches for.
	data, err := json.Marshal(map[string]any{
		pipeline.KeyPayload:    base64.StdEncoding.EncodeToString(m.payload),
		pipeline.KeyTopic:      suffix,
		pipeline.KeyClientID:   thing,
		pipeline.KeyReceivedAt: m.at.UnixMilli(),
		pipeline.KeyClass:      class,
	})
	if err != nil {
		return events.KinesisEventRecord{}, false
	}
	b.seq++
	var r events.KinesisEventRecord
	r.EventSource = "aws:kinesis"
	r.Kinesis.SequenceNumber = fmt.Sprintf("%056d", b.seq)
	r.Kinesis.PartitionKey = thing
	r.Kinesis.ApproximateArrivalTimestamp = events.SecondsEpochTime{Time: m.at}
	r.Kinesis.Data = data
	return r, true
}
