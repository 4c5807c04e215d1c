package securestore

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/secure-smart-city/platform/internal/propcheck"
)

// TableProps configures a Table.
type TableProps struct {
	// PartitionKey is the partition key attribute's name (a string attribute). Required.
	PartitionKey string
	// SortKey is the sort key attribute's name (a string attribute).
	// Default: - no sort key.
	SortKey string
	// TimeToLiveAttribute names the attribute holding each item's expiry (epoch seconds).
	// Default: - items never expire.
	TimeToLiveAttribute string
	// EncryptionKey encrypts the table.
	// Default: - a key is created for this table.
	EncryptionKey awskms.IKey
	// RemovalPolicy of the table. Default: RETAIN.
	RemovalPolicy awscdk.RemovalPolicy
	// DeletionProtection blocks DeleteTable. Default: - true unless RemovalPolicy is DESTROY.
	DeletionProtection *bool
	// Capacity switches the table to provisioned capacity with target-tracking autoscaling,
	// which costs less than on-demand for steady traffic (a fleet reporting on a schedule).
	// Default: - on-demand (pay per request).
	Capacity *TableCapacity
}

// TableCapacity is provisioned read and write capacity that target tracking keeps at
// TargetUtilizationPercent of the consumed capacity, between the minimums and maximums.
type TableCapacity struct {
	// MinReadCapacity and MaxReadCapacity bound the read capacity units. Required, 1 <= min <= max.
	MinReadCapacity, MaxReadCapacity int
	// MinWriteCapacity and MaxWriteCapacity bound the write capacity units. Required, 1 <= min <= max.
	MinWriteCapacity, MaxWriteCapacity int
	// TargetUtilizationPercent is the consumed share of provisioned capacity that autoscaling
	// aims for (DynamoDB accepts 20 to 90). Default: 70.
	TargetUtilizationPercent *int
}

// DefaultTargetUtilization is TableCapacity's default target, DynamoDB's own console default.
const DefaultTargetUtilization = 70

// capacityErrors validates a TableCapacity; messages name the field and the value.
func capacityErrors(c *TableCapacity) []string {
	var errs []string
	for _, r := range []struct {
		name     string
		min, max int
	}{{"Read", c.MinReadCapacity, c.MaxReadCapacity}, {"Write", c.MinWriteCapacity, c.MaxWriteCapacity}} {
		if r.min < 1 {
			errs = append(errs, fmt.Sprintf("securestore: table Capacity.Min%sCapacity must be at least 1, got %d", r.name, r.min))
		}
		if r.max < r.min {
			errs = append(errs, fmt.Sprintf("securestore: table Capacity.Max%sCapacity (%d) is below Min%sCapacity (%d)", r.name, r.max, r.name, r.min))
		}
	}
	if t := c.TargetUtilizationPercent; t != nil && (*t < 20 || *t > 90) {
		errs = append(errs, fmt.Sprintf("securestore: table Capacity.TargetUtilizationPercent must be 20 to 90, got %d", *t))
	}
	return errs
}

// Table is a DynamoDB table encrypted with a customer-managed key, with point-in-time
// recovery always on: on-demand, or provisioned with target-tracking autoscaling.
type Table struct {
	constructs.Construct
	// Resource is the table (child id "Resource").
	Resource awsdynamodb.Table
	// Key encrypts the table.
	Key awskms.IKey
}

// NewTable creates an encrypted table. Props errors are reported at synth time with the
// construct's path (see Node().Validate()).
func NewTable(scope constructs.Construct, id string, props *TableProps) *Table {
	this := constructs.NewConstruct(scope, jsii.String(id))
	p := TableProps{}
	if props != nil {
		p = *props
	}
	var errs propcheck.Errors
	defer func() { errs.Attach(this) }()
	if p.PartitionKey == "" {
		errs.Addf("securestore: table PartitionKey is required")
		p.PartitionKey = "pk"
	}
	if p.SortKey != "" && p.SortKey == p.PartitionKey {
		errs.Addf("securestore: table SortKey %q must differ from PartitionKey", p.SortKey)
		p.SortKey = ""
	}
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	if p.Capacity != nil {
		for _, e := range capacityErrors(p.Capacity) {
			errs.Addf("%s", e)
		}
	}
	if p.DeletionProtection == nil {
		p.DeletionProtection = jsii.Bool(p.RemovalPolicy != awscdk.RemovalPolicy_DESTROY)
	}
	key := keyOrNew(this, p.EncryptionKey)

	tp := &awsdynamodb.TableProps{
		PartitionKey:  &awsdynamodb.Attribute{Name: jsii.String(p.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:   awsdynamodb.BillingMode_PAY_PER_REQUEST,
		Encryption:    awsdynamodb.TableEncryption_CUSTOMER_MANAGED,
		EncryptionKey: key,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: p.DeletionProtection,
		RemovalPolicy:      p.RemovalPolicy,
	}
	if p.SortKey != "" {
		tp.SortKey = &awsdynamodb.Attribute{Name: jsii.String(p.SortKey), Type: awsdynamodb.AttributeType_STRING}
	}
	if p.TimeToLiveAttribute != "" {
		tp.TimeToLiveAttribute = jsii.String(p.TimeToLiveAttribute)
	}
	c := p.Capacity
	if c != nil && len(capacityErrors(c)) == 0 {
		tp.BillingMode = awsdynamodb.BillingMode_PROVISIONED
		tp.ReadCapacity = jsii.Number(c.MinReadCapacity)
		tp.WriteCapacity = jsii.Number(c.MinWriteCapacity)
	}
	t := awsdynamodb.NewTable(this, jsii.String("Resource"), tp)
	if tp.BillingMode == awsdynamodb.BillingMode_PROVISIONED {
		target := DefaultTargetUtilization
		if c.TargetUtilizationPercent != nil {
			target = *c.TargetUtilizationPercent
		}
		t.AutoScaleReadCapacity(&awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(c.MinReadCapacity), MaxCapacity: jsii.Number(c.MaxReadCapacity)}).
			ScaleOnUtilization(&awsdynamodb.UtilizationScalingProps{TargetUtilizationPercent: jsii.Number(target)})
		t.AutoScaleWriteCapacity(&awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(c.MinWriteCapacity), MaxCapacity: jsii.Number(c.MaxWriteCapacity)}).
			ScaleOnUtilization(&awsdynamodb.UtilizationScalingProps{TargetUtilizationPercent: jsii.Number(target)})
	}
	return &Table{Construct: this, Resource: t, Key: key}
}

// GrantReadData lets grantee read items and decrypt them.
func (t *Table) GrantReadData(grantee awsiam.IGrantable) awsiam.Grant {
	return t.Resource.GrantReadData(grantee)
}

// GrantWriteData lets grantee write items and encrypt them.
func (t *Table) GrantWriteData(grantee awsiam.IGrantable) awsiam.Grant {
	return t.Resource.GrantWriteData(grantee)
}

// GrantReadWriteData lets grantee read and write items and use the key.
func (t *Table) GrantReadWriteData(grantee awsiam.IGrantable) awsiam.Grant {
	return t.Resource.GrantReadWriteData(grantee)
}

// TableArn is the table's ARN.
func (t *Table) TableArn() *string { return t.Resource.TableArn() }

// TableName is the table's name.
func (t *Table) TableName() *string { return t.Resource.TableName() }

// tableOperations are the operations the platform's writers and readers use; DynamoDB
// publishes ThrottledRequests and SystemErrors per operation only, so table-wide counts sum
// them.
var tableOperations = []awsdynamodb.Operation{
	awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_PUT_ITEM, awsdynamodb.Operation_UPDATE_ITEM,
	awsdynamodb.Operation_BATCH_WRITE_ITEM, awsdynamodb.Operation_BATCH_GET_ITEM, awsdynamodb.Operation_QUERY,
}

// MetricThrottledRequests counts requests DynamoDB throttled, summed over GetItem, PutItem,
// UpdateItem, BatchWriteItem, BatchGetItem and Query. It is a math expression (IMetric), not a
// single Metric, because DynamoDB has no table-wide throttle count. Default statistic: Sum;
// default period: 5 minutes.
func (t *Table) MetricThrottledRequests(opts *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	return t.Resource.MetricThrottledRequestsForOperations(operationsOptions(opts))
}

// MetricSystemErrors counts requests that failed with an HTTP 500 (a DynamoDB-side error),
// summed over the same operations as MetricThrottledRequests, hence an IMetric. Default
// statistic: Sum; default period: 5 minutes.
func (t *Table) MetricSystemErrors(opts *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	o := operationsOptions(opts)
	return t.Resource.MetricSystemErrorsForOperations(&awsdynamodb.SystemErrorsForOperationsMetricOptions{
		Account: o.Account, Color: o.Color, DimensionsMap: o.DimensionsMap, Label: o.Label, Period: o.Period,
		Region: o.Region, Statistic: o.Statistic, Unit: o.Unit, Operations: o.Operations,
	})
}

// MetricUserErrors counts requests refused with an HTTP 400 (bad input, a missing key grant).
// DynamoDB publishes it per account and region, not per table: an alarm on it watches every
// table of the account. Default statistic: Sum.
func (t *Table) MetricUserErrors(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return t.Resource.MetricUserErrors(opts)
}

// MetricConsumedWriteCapacityUnits is the write capacity the table consumed, for sizing a
// provisioned Capacity. Default statistic: Sum.
func (t *Table) MetricConsumedWriteCapacityUnits(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return t.Resource.MetricConsumedWriteCapacityUnits(opts)
}

// MetricConsumedReadCapacityUnits is the read capacity the table consumed. Default statistic:
// Sum.
func (t *Table) MetricConsumedReadCapacityUnits(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	return t.Resource.MetricConsumedReadCapacityUnits(opts)
}

// operationsOptions carries opts over to the per-operation options, with a 5-minute period
// unless opts set one.
func operationsOptions(opts *awscloudwatch.MetricOptions) *awsdynamodb.OperationsMetricOptions {
	o := &awsdynamodb.OperationsMetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5)), Operations: &tableOperations}
	if opts == nil {
		return o
	}
	o.Account, o.Color, o.DimensionsMap, o.Label, o.Region, o.Statistic, o.Unit =
		opts.Account, opts.Color, opts.DimensionsMap, opts.Label, opts.Region, opts.Statistic, opts.Unit
	if opts.Period != nil {
		o.Period = opts.Period
	}
	return o
}

// TableAttributes name a securestore table created elsewhere (another stack or app).
type TableAttributes struct {
	// TableArn is the table's ARN. Either TableArn or TableName is required.
	TableArn *string
	// TableName is the table's name, in this stack's account and region.
	TableName *string
	// EncryptionKey is the customer-managed key the table is encrypted with: grants on the
	// imported table chain this key's grant, as they do on a Table. Required.
	EncryptionKey awskms.IKey
}

// TableFromAttributes imports a table, as awsdynamodb.Table_FromTableAttributes does (the
// construct id is the import's), and returns CDK's own ITable: GrantReadData, GrantWriteData
// and GrantReadWriteData on it also grant the key, and it can be passed wherever a construct
// takes an awsdynamodb.ITable. Props errors are reported at synth time; the returned table is
// usable either way.
func TableFromAttributes(scope constructs.Construct, id string, attrs *TableAttributes) awsdynamodb.ITable {
	a := TableAttributes{}
	if attrs != nil {
		a = *attrs
	}
	var errs propcheck.Errors
	if a.TableArn == nil && a.TableName == nil {
		errs.Addf("securestore: TableFromAttributes needs TableArn or TableName")
		a.TableName = jsii.String("invalid-" + id)
	}
	if a.TableArn != nil && a.TableName != nil {
		errs.Addf("securestore: TableFromAttributes takes TableArn or TableName, not both")
		a.TableName = nil
	}
	if a.EncryptionKey == nil {
		errs.Addf("securestore: TableFromAttributes needs EncryptionKey: securestore tables are encrypted with a customer-managed key, and grants must chain it")
	}
	t := awsdynamodb.Table_FromTableAttributes(scope, jsii.String(id), &awsdynamodb.TableAttributes{
		TableArn: a.TableArn, TableName: a.TableName, EncryptionKey: a.EncryptionKey,
	})
	errs.Attach(t)
	return t
}
