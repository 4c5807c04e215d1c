package pipeline

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// TestRandomFaultsStoreEachMessageOnce plays a shard through the pipeline the way Lambda
// does (batches of varying size, redelivery from the reported sequence number) while DynamoDB,
// S3 and KMS fail at random, including PUTs and state writes that are applied and still
// report an error, and refused writes that return no item. Devices re-send recent messages.
// Whatever happens, and whatever the classes' stateInterval (0s, 1m or 10m by seed), every
// valid message is archived exactly once, every record is counted exactly once over all
// invocations, and every batch keeps the counting invariant. Lambda may run any invocation
// in a new execution environment, so a third of them start with no memory of the others.
func TestRandomFaultsStoreEachMessageOnce(t *testing.T) {
	for seed := range uint64(40) {
		interval := []string{"0s", "1m", "10m"}[seed%3]
		t.Run(fmt.Sprint("seed", seed, "-stateInterval-", interval), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			e := newEnv(t, func(c *Config) {
				for i := range c.Fleet.Classes {
					c.Fleet.Classes[i].StateInterval = interval
				}
			})
			things := []string{"sl-1", "sl-2", "ts-1", "cam-1", "pk-1"}
			fields := map[string]string{
				"sl-1": `"on":true,"brightness":7`, "sl-2": `"on":false,"brightness":9`,
				"ts-1": `"phase":"green","fault":false`, "cam-1": `"plate_reads":"AB-1"`, "pk-1": `"occupied":true`,
			}
			var stream []events.KinesisEventRecord
			unique := map[string]bool{}
			valid, invalid := 0, 0
			recent := map[string][]string{} // each thing's last ids, which it may re-send
			for i := range 120 {
				thing := things[rng.IntN(len(things))]
				id := fmt.Sprint("m", i)
				if last := recent[thing]; len(last) > 0 && rng.IntN(4) == 0 {
					id = last[rng.IntN(len(last))] // a re-send: a device duplicate
				} else {
					recent[thing] = append(recent[thing], id)[max(0, len(recent[thing])-2):]
				}
				// 31 s apart: some batches cross an hour, some messages are due for state.
				at := baseTime.Add(time.Duration(i) * 31 * time.Second)
				data := msgAt(thing, id, at, fields[thing])
				if rng.IntN(8) == 0 {
					data = msgAt(thing, id, at, `"nope":1`)
					invalid++
				} else {
					valid++
					unique[thing+"/"+id] = true
				}
				stream = append(stream, kinRec(i+1, thing, data))
			}

			faulty := true
			e.ddb.writeHook = func(*dynamodb.UpdateItemInput) (bool, error) {
				if faulty && rng.IntN(6) == 0 {
					return rng.IntN(2) == 0, errUnavailable
				}
				return false, nil
			}
			e.s3.putHook = func(string) (bool, error) {
				if faulty && rng.IntN(5) == 0 {
					return rng.IntN(2) == 0, errUnavailable
				}
				return false, nil
			}
			var total Result
			pos := 0
			for inv := 0; pos < len(stream); inv++ {
				if inv == 200 {
					faulty = false // let the shard drain
				}
				if inv > 400 {
					t.Fatal("shard does not drain")
				}
				if faulty {
					e.ddb.getErrs = boolInt(rng.IntN(8) == 0)
					e.s3.headErrs = boolInt(rng.IntN(8) == 0)
					if rng.IntN(8) == 0 {
						e.kms.FailNext(1)
					}
					e.ddb.noAllOld = rng.IntN(3) == 0
				} else {
					e.ddb.getErrs, e.s3.headErrs, e.ddb.noAllOld = 0, 0, false
					e.kms.FailNext(0)
				}
				if rng.IntN(3) == 0 {
					fresh, err := New(e.p.cfg) // a cold start: nothing in memory
					if err != nil {
						t.Fatal(err)
					}
					e.p = fresh
				}
				batch := stream[pos:min(len(stream), pos+1+rng.IntN(30))]
				res := e.run(t, batch...)
				total.Accepted += res.Accepted
				total.Rejected += res.Rejected
				total.Duplicates += res.Duplicates
				if len(res.BatchItemFailures) == 0 {
					pos += len(batch)
					continue
				}
				for i := pos; i < pos+len(batch); i++ {
					if stream[i].Kinesis.SequenceNumber == res.BatchItemFailures[0].ItemIdentifier {
						pos = i
						break
					}
				}
			}
			if total.Accepted != len(unique) || total.Duplicates != valid-len(unique) || total.Rejected != invalid {
				t.Errorf("counted %d accepted, %d duplicates, %d rejected; want %d, %d, %d",
					total.Accepted, total.Duplicates, total.Rejected, len(unique), valid-len(unique), invalid)
			}
			stored := map[string]int{}
			for _, l := range e.s3.allLines(t, "accepted/") {
				stored[fmt.Sprint(l["thing"], "/", l["msgId"])]++
			}
			for k, n := range stored {
				if n != 1 || !unique[k] {
					t.Errorf("%s archived %d times", k, n)
				}
			}
			if len(stored) != len(unique) {
				t.Errorf("%d messages archived, want %d", len(stored), len(unique))
			}
			rejects := map[string]bool{}
			for _, l := range e.s3.allLines(t, "rejected/") {
				rejects[l["streamSeq"].(string)] = true
			}
			if len(rejects) != invalid {
				t.Errorf("%d rejected records archived, want %d", len(rejects), invalid)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
