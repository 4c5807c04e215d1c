package pipeline

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-smart-city/platform/fleetspec"
)

// TestReservedNamesMatchFleetspec: the fleet file refuses exactly the field names the pipeline
// cannot store, so a fleet that loads never fails in the processor.
func TestReservedNamesMatchFleetspec(t *testing.T) {
	if diff := cmp.Diff(reserved, fleetspec.ReservedFieldNames); diff != "" {
		t.Errorf("pipeline reserved names (-) differ from fleetspec.ReservedFieldNames (+):\n%s", diff)
	}
}
