package local

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/secure-smart-city/platform/lambdas/command/api"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
)

// Names of the local stores, as the Foundation stack would name its table and buckets.
const (
	StateTable    = "smartcity-local-device-state"
	AuditTable    = "smartcity-local-command-audit"
	ArchiveBucket = "smartcity-local-telemetry-archive"
)

// stores are dynalite and s3rver from node_modules (package.json pins them), the DynamoDB and
// S3 of the local city. dynalite keeps its tables in memory and s3rver writes under the
// state dir, emptied at start: every run starts with empty stores, as a fresh stage would.
type stores struct {
	dynalite, s3rver *process
	DB               *dynamodb.Client
	S3               *s3.Client
	DBURL, S3URL     string
	once             sync.Once
}

func startStores(ctx context.Context, root, dir string) (*stores, error) {
	st := &stores{}
	ok := false
	defer func() {
		if !ok {
			st.stop()
		}
	}()
	node, script, err := nodeTool(root, "dynalite")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	st.dynalite, err = startProcess("dynalite", node, []string{script, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}, loopback(port), 30*time.Second)
	if err != nil {
		return nil, err
	}
	st.DBURL = "http://" + loopback(port)

	node, script, err = nodeTool(root, "s3rver")
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if port, err = freePort(); err != nil {
		return nil, err
	}
	st.s3rver, err = startProcess("s3rver", node, []string{script, "--directory", dir, "--address", "127.0.0.1",
		"--port", strconv.Itoa(port), "--silent", "--no-vhost-buckets"}, loopback(port), 30*time.Second)
	if err != nil {
		return nil, err
	}
	st.S3URL = "http://" + loopback(port)

	// s3rver checks signatures made with its fixed credentials; dynalite accepts any. They are
	// the emulators' well-known values, not secrets.
	awsCfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("S3RVER", "S3RVER", "")}
	st.DB = dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(st.DBURL) })
	st.S3 = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(st.S3URL)
		o.UsePathStyle = true
	})
	for _, t := range []struct{ name, pk, sk string }{
		{StateTable, pipeline.AttrPK, pipeline.AttrSK},
		{AuditTable, api.AuditPartitionKey, api.AuditSortKey},
	} {
		if err := createTable(ctx, st.DB, t.name, t.pk, t.sk); err != nil {
			return nil, err
		}
	}
	if _, err := st.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(ArchiveBucket)}); err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", ArchiveBucket, err)
	}
	ok = true
	return st, nil
}

func createTable(ctx context.Context, db *dynamodb.Client, name, pk, sk string) error {
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(pk), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(sk), AttributeType: ddbtypes.ScalarAttributeTypeS},
		},
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String(pk), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String(sk), KeyType: ddbtypes.KeyTypeRange},
		},
	}); err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	if err := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		return fmt.Errorf("table %s not active: %w", name, err)
	}
	return nil
}

func (st *stores) stop() {
	if st == nil {
		return
	}
	st.once.Do(func() {
		st.s3rver.stop()
		st.dynalite.stop()
	})
}
