package estimate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Figures are the telemetry processor's measured per-message store operations, committed in
// bench/telemetry.json so that a fresh clone prices without benchmarking; `make bench`
// rewrites the measured ones (UpdateFromBench).
type Figures struct {
	// Source says where the figures come from.
	Source string `json:"source"`
	// Benchmarks are the benchmarks the measured figures are the maximum (over benchmarks)
	// of medians (over runs) of.
	Benchmarks []string `json:"benchmarks"`
	// NsPerMessage is the processor's CPU time per message in a 500-record batch, store
	// calls answered by in-memory fakes (so it holds no network wait).
	NsPerMessage float64 `json:"nsPerMessage"`
	// KMSRequestsPer10k is the processor's own KMS requests (data keys for sensitive
	// fields) per 10,000 messages.
	KMSRequestsPer10k float64 `json:"kmsRequestsPer10kMessages"`
	// S3PutsPerBatch is the archive PUTs per batch.
	S3PutsPerBatch float64 `json:"s3PutsPerBatch"`
	// DynamoWrites and DynamoReads are the items the processor writes and reads per message
	// for a device that sends once a minute (one message per device per batch).
	DynamoWrites []ItemOp `json:"dynamoWrites"`
	DynamoReads  []ItemOp `json:"dynamoReads"`
	// Notes say, per figure, how it was obtained where the benchmark does not report it.
	Notes map[string]string `json:"notes,omitempty"`
}

// ItemOp is one kind of DynamoDB item operation per message.
type ItemOp struct {
	// Item names the item (e.g. "state", "dedup marker").
	Item string `json:"item"`
	// PerMessage is how many such operations one message causes (a fraction where
	// batching shares one operation between messages).
	PerMessage float64 `json:"perMessage"`
	// PayloadSized items hold the message's fields: their size is the message size plus
	// Bytes. Other items are Bytes long.
	PayloadSized bool `json:"payloadSized"`
	Bytes        int  `json:"bytes"`
	// Consistent reads cost a full read unit per 4 KB, eventually consistent ones half.
	Consistent bool `json:"consistent,omitempty"`
	// RetainedHours is how long a written item stays stored (a TTL), for items written anew
	// per message; 0 for items overwritten in place (one per device, like the state).
	RetainedHours float64 `json:"retainedHours,omitempty"`
}

// LoadFigures reads and validates a figures file.
func LoadFigures(path string) (Figures, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Figures{}, fmt.Errorf("figures: %w", err)
	}
	return ParseFigures(path, data)
}

// ParseFigures decodes a figures file; errors name the file and the field.
func ParseFigures(name string, data []byte) (Figures, error) {
	var f Figures
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Figures{}, fmt.Errorf("figures %s: %w", name, err)
	}
	var errs []error
	bad := func(field string, v float64) {
		errs = append(errs, fmt.Errorf("figures %s: %s: %v is not a finite number >= 0", name, field, v))
	}
	for field, v := range map[string]float64{"nsPerMessage": f.NsPerMessage, "kmsRequestsPer10kMessages": f.KMSRequestsPer10k, "s3PutsPerBatch": f.S3PutsPerBatch} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			bad(field, v)
		}
	}
	if f.NsPerMessage == 0 {
		errs = append(errs, fmt.Errorf("figures %s: nsPerMessage is missing", name))
	}
	for list, ops := range map[string][]ItemOp{"dynamoWrites": f.DynamoWrites, "dynamoReads": f.DynamoReads} {
		for i, op := range ops {
			if op.PerMessage < 0 || math.IsNaN(op.PerMessage) || math.IsInf(op.PerMessage, 0) {
				bad(fmt.Sprintf("%s[%d].perMessage", list, i), op.PerMessage)
			}
			if op.RetainedHours < 0 {
				errs = append(errs, fmt.Errorf("figures %s: %s[%d].retainedHours: %v is negative", name, list, i, op.RetainedHours))
			}
			if op.Bytes < 0 {
				errs = append(errs, fmt.Errorf("figures %s: %s[%d].bytes: %d is negative", name, list, i, op.Bytes))
			}
			if !op.PayloadSized && op.Bytes == 0 {
				errs = append(errs, fmt.Errorf("figures %s: %s[%d] (%q): bytes is required for an item that is not payloadSized", name, list, i, op.Item))
			}
		}
	}
	return f, errors.Join(errs...)
}

// WritesPerMessage and ReadsPerMessage sum the item operations.
func (f Figures) WritesPerMessage() float64 { return sumOps(f.DynamoWrites) }

// ReadsPerMessage sums the read operations per message.
func (f Figures) ReadsPerMessage() float64 { return sumOps(f.DynamoReads) }

func sumOps(ops []ItemOp) float64 {
	var n float64
	for _, op := range ops {
		n += op.PerMessage
	}
	return n
}

// benchLine matches a benchmark result line: name, iterations, then value/unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// Benchmark metrics read from `make bench` output (lambdas/telemetry/pipeline's benchBatch).
const (
	unitNsPerMsg   = "ns/msg"
	unitKMSPer10k  = "kms-req/10k-msgs"
	unitS3PerBatch = "s3-puts/batch"
	unitDDBWrites  = "ddb-writes/msg"
	unitDDBReads   = "ddb-reads/msg"
	// unitStateOverhead is the state item's bytes besides the message's fields.
	unitStateOverhead = "state-overhead-bytes"
)

// UpdateFromBench rewrites the measured figures from `go test -bench` output: per
// BenchmarkBatch* benchmark the median of its -count runs (robust to a busy machine), then
// the maximum over the benchmarks (the costliest device class) of each metric: ns/msg,
// kms-req/10k-msgs, s3-puts/batch, ddb-writes/msg, ddb-reads/msg and state-overhead-bytes.
// The DynamoDB item lists become one state item written and read that often, payload
// sized with the measured overhead.
func (f *Figures) UpdateFromBench(r io.Reader) error {
	runs := map[string]map[string][]float64{} // benchmark -> unit -> values
	seen := map[string]bool{}
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil || !strings.HasPrefix(m[1], "BenchmarkBatch") {
			continue
		}
		if !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1])
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			if runs[m[1]] == nil {
				runs[m[1]] = map[string][]float64{}
			}
			runs[m[1]][fields[i+1]] = append(runs[m[1]][fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bench output: %w", err)
	}
	maxOf := map[string]float64{}
	for _, units := range runs {
		for unit, vs := range units {
			if med := median(vs); !has(maxOf, unit) || med > maxOf[unit] {
				maxOf[unit] = med
			}
		}
	}
	for _, u := range []string{unitNsPerMsg, unitKMSPer10k, unitS3PerBatch, unitDDBWrites, unitDDBReads, unitStateOverhead} {
		if _, ok := maxOf[u]; !ok {
			return fmt.Errorf("bench output: no BenchmarkBatch result reports %s", u)
		}
	}
	f.NsPerMessage = maxOf[unitNsPerMsg]
	f.KMSRequestsPer10k = maxOf[unitKMSPer10k]
	f.S3PutsPerBatch = maxOf[unitS3PerBatch]
	overhead := int(math.Ceil(maxOf[unitStateOverhead]))
	f.DynamoWrites = []ItemOp{{Item: "state", PerMessage: maxOf[unitDDBWrites], PayloadSized: true, Bytes: overhead}}
	f.DynamoReads = []ItemOp{{Item: "state", PerMessage: maxOf[unitDDBReads], PayloadSized: true, Bytes: overhead, Consistent: true}}
	f.Benchmarks = names
	return nil
}

func has(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

func median(vs []float64) float64 {
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Marshal encodes the figures as the committed file holds them.
func (f Figures) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
