package stacks

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/constructs/securestore"
)

// TableBilling says how the Foundation tables pay for throughput.
type TableBilling struct {
	// Provisioned selects provisioned capacity with target-tracking autoscaling (cheaper for
	// a fleet that reports on a schedule); false is on-demand. Default: prod true, dev false.
	Provisioned bool
	// StateMin and StateMax bound the DeviceState table's read and write capacity units when
	// provisioned. Default: 5 and 40000 (DynamoDB's default per-table quota).
	StateMin, StateMax int
}

// Context keys read by tableBillingFromContext.
const (
	// ContextTableBilling is "provisioned" or "on-demand".
	ContextTableBilling = "tableBilling"
	// ContextStateTableCapacity is "<min>-<max>" capacity units for the DeviceState table.
	ContextStateTableCapacity = "stateTableCapacity"
)

// Defaults of the provisioned tables. The provisioning allowlist and the command audit see a
// few requests an hour. Target tracking keeps every table at securestore's default
// utilization target (70%).
const (
	defaultStateMin = 5
	defaultStateMax = 40000
	quietTableMin   = 1
	quietTableMax   = 100
)

var capacityRange = regexp.MustCompile(`^([0-9]+)-([0-9]+)$`)

// defaultTableBilling is the stage's default: provisioned in prod, on-demand in dev.
func defaultTableBilling(stage Stage) TableBilling {
	return TableBilling{Provisioned: stage == StageProd, StateMin: defaultStateMin, StateMax: defaultStateMax}
}

// tableBillingFromContext reads the table billing context keys over the stage's defaults.
func tableBillingFromContext(scope constructs.Construct, stage Stage) (TableBilling, error) {
	b := defaultTableBilling(stage)
	switch v := scope.Node().TryGetContext(jsii.String(ContextTableBilling)).(type) {
	case nil:
	case string:
		switch v {
		case "provisioned":
			b.Provisioned = true
		case "on-demand":
			b.Provisioned = false
		default:
			return b, fmt.Errorf("context %q: want \"provisioned\" or \"on-demand\", got %q", ContextTableBilling, v)
		}
	default:
		return b, fmt.Errorf("context %q: want \"provisioned\" or \"on-demand\", got %v", ContextTableBilling, v)
	}
	switch v := scope.Node().TryGetContext(jsii.String(ContextStateTableCapacity)).(type) {
	case nil:
	case string:
		m := capacityRange.FindStringSubmatch(v)
		if m == nil {
			return b, fmt.Errorf("context %q: want <min>-<max> capacity units, e.g. 5-40000, got %q", ContextStateTableCapacity, v)
		}
		lo, err1 := strconv.Atoi(m[1])
		hi, err2 := strconv.Atoi(m[2])
		if err1 != nil || err2 != nil || lo < 1 || hi < lo {
			return b, fmt.Errorf("context %q: want 1 <= min <= max, got %q", ContextStateTableCapacity, v)
		}
		b.StateMin, b.StateMax = lo, hi
	default:
		return b, fmt.Errorf("context %q: want <min>-<max> capacity units as a string, got %v", ContextStateTableCapacity, v)
	}
	return b, nil
}

// Billing is the config's table billing, or the stage's default.
func (c Config) Billing() TableBilling {
	if c.TableBilling != nil {
		return *c.TableBilling
	}
	return defaultTableBilling(c.Stage)
}

// stateCapacity is the DeviceState table's capacity, nil for on-demand.
func (b TableBilling) stateCapacity() *securestore.TableCapacity {
	if !b.Provisioned {
		return nil
	}
	return &securestore.TableCapacity{
		MinReadCapacity: b.StateMin, MaxReadCapacity: b.StateMax,
		MinWriteCapacity: b.StateMin, MaxWriteCapacity: b.StateMax,
	}
}

// quietCapacity is the capacity of a table with a few requests an hour, nil for on-demand.
func (b TableBilling) quietCapacity() *securestore.TableCapacity {
	if !b.Provisioned {
		return nil
	}
	return &securestore.TableCapacity{
		MinReadCapacity: quietTableMin, MaxReadCapacity: quietTableMax,
		MinWriteCapacity: quietTableMin, MaxWriteCapacity: quietTableMax,
	}
}
