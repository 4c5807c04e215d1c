package securestore

import (
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
}

// Table is an on-demand DynamoDB table encrypted with a customer-managed key, with
// point-in-time recovery always on.
type Table struct {
	constructs.Construct
	// Table is the table (child id "Resource").
	Table awsdynamodb.Table
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
	if p.RemovalPolicy == "" {
		p.RemovalPolicy = awscdk.RemovalPolicy_RETAIN
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
	t := awsdynamodb.NewTable(this, jsii.String("Resource"), tp)
	return &Table{Construct: this, Table: t, Key: key}
}

// GrantReadData lets grantee read items and decrypt them.
func (t *Table) GrantReadData(grantee awsiam.IGrantable) awsiam.Grant {
	return t.Table.GrantReadData(grantee)
}

// GrantWriteData lets grantee write items and encrypt them.
func (t *Table) GrantWriteData(grantee awsiam.IGrantable) awsiam.Grant {
	return t.Table.GrantWriteData(grantee)
}

// GrantReadWriteData lets grantee read and write items and use the key.
func (t *Table) GrantReadWriteData(grantee awsiam.IGrantable) awsiam.Grant {
	return t.Table.GrantReadWriteData(grantee)
}

// MetricThrottledRequests counts requests DynamoDB throttled, for every operation.
func (t *Table) MetricThrottledRequests(opts *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	return t.Table.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{
		Period:     periodOr(opts),
		Operations: &[]awsdynamodb.Operation{awsdynamodb.Operation_GET_ITEM, awsdynamodb.Operation_PUT_ITEM, awsdynamodb.Operation_UPDATE_ITEM, awsdynamodb.Operation_BATCH_WRITE_ITEM, awsdynamodb.Operation_BATCH_GET_ITEM, awsdynamodb.Operation_QUERY},
	})
}

func periodOr(opts *awscloudwatch.MetricOptions) awscdk.Duration {
	if opts != nil && opts.Period != nil {
		return opts.Period
	}
	return awscdk.Duration_Minutes(jsii.Number(5))
}
