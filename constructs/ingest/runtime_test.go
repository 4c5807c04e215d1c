package ingest_test

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/secure-smart-city/platform/constructs/ingest"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/telemetry/contract"
)

// TestRuntimeFleetHasNoThings: the processor's fleet keeps every class and district of the
// real fleet files, names none of their things, and is the same bytes whatever things the
// file declares.
func TestRuntimeFleetHasNoThings(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	files, err := filepath.Glob(filepath.Join(filepath.Dir(file), "..", "..", "config", "fleet.*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fleet files: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := fleetspec.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			data, err := ingest.RuntimeFleet(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, th := range f.Things {
				if bytes.Contains(data, []byte(`"`+th.Name+`"`)) || bytes.Contains(data, []byte(th.Serial)) {
					t.Errorf("runtime fleet names thing %s (serial %s)", th.Name, th.Serial)
				}
			}
			back, err := fleetspec.ParseRuntime(data)
			if err != nil {
				t.Fatalf("the processor cannot read its fleet: %v", err)
			}
			if len(back.Things) != 0 || len(back.Classes) != len(f.Classes) || len(back.Districts) != len(f.Districts) {
				t.Errorf("runtime fleet has %d things, %d/%d classes, %d/%d districts", len(back.Things), len(back.Classes), len(f.Classes), len(back.Districts), len(f.Districts))
			}
			more := *f
			more.Things = append(append([]fleetspec.Thing(nil), f.Things...), fleetspec.Thing{Name: "sl-extra-0001", Class: f.Classes[0].ID, District: f.Districts[0].ID, Serial: "SN-EXTRA-0001"})
			again, err := ingest.RuntimeFleet(&more)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, again) {
				t.Error("adding a thing changed the runtime fleet")
			}
		})
	}
}

func TestRuleSQLEncodesThePayloadAndAddsTheClassConstant(t *testing.T) {
	want := "SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientId, timestamp() AS receivedAt, 'street_light' AS class"
	if got := ingest.RuleSQL("street_light"); got != want {
		t.Errorf("RuleSQL = %q, want %q", got, want)
	}
}

// TestRejectsByThingQueryReadsTheProcessorsLog: the query filters on the processor's reject
// message and groups by the keys it logs (contract's), so it cannot silently match nothing.
func TestRejectsByThingQueryReadsTheProcessorsLog(t *testing.T) {
	q := ingest.RejectsByThingQuery
	if !strings.Contains(q, `filter msg = "`+contract.LogRejected+`"`) {
		t.Errorf("query %q does not filter on the reject message", q)
	}
	by := strings.Join([]string{contract.LogKeyThing, contract.LogKeyClass, contract.LogKeyDistrict, contract.LogKeyReason}, ", ")
	if !strings.Contains(q, "stats count(*) as rejects by "+by) {
		t.Errorf("query %q does not count by %s", q, by)
	}
}
