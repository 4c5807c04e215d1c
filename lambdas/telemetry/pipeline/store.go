package pipeline

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// StateReader reads state items (BatchGetItem, consistent reads): only for a thing with
// more new records in a batch than one condition can check, or when a refused write did not
// return the stored item.
type StateReader interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// ObjectChecker tells whether an archive object exists, to settle a claim left by an
// attempt that may have failed before its object was written.
type ObjectChecker interface {
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// StateWriter writes a thing's state item with one conditional UpdateItem per batch.
type StateWriter interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// ObjectPutter writes archive objects.
type ObjectPutter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

const readBatchSize = 100 // BatchGetItem's limit

// itemKey identifies an item of the state table.
type itemKey struct{ pk, sk string }

func keyOf(item map[string]ddbtypes.AttributeValue) itemKey {
	var k itemKey
	if v, ok := item[AttrPK].(*ddbtypes.AttributeValueMemberS); ok {
		k.pk = v.Value
	}
	if v, ok := item[AttrSK].(*ddbtypes.AttributeValueMemberS); ok {
		k.sk = v.Value
	}
	return k
}

func keyAttrs(k itemKey) map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		AttrPK: &ddbtypes.AttributeValueMemberS{Value: k.pk},
		AttrSK: &ddbtypes.AttributeValueMemberS{Value: k.sk},
	}
}

// forEach runs fn(0..n-1) on at most limit goroutines.
func forEach(n, limit int, fn func(i int)) {
	if n == 1 || limit <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(i)
		}()
	}
	wg.Wait()
}

// backoff waits before retry attempt (1, 2, ...): exponential with full jitter, capped.
func (p *Pipeline) backoff(ctx context.Context, attempt int) error {
	d := p.cfg.BaseBackoff << (attempt - 1)
	if d > p.cfg.MaxBackoff || d <= 0 {
		d = p.cfg.MaxBackoff
	}
	return p.cfg.Sleep(ctx, rand.N(d)+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readItems reads keys (which must be distinct; projection "" reads whole items) and returns the items found and the keys that
// could not be read. UnprocessedKeys are retried with backoff, a bounded number of times.
func (p *Pipeline) readItems(ctx context.Context, keys []itemKey, projection string, names map[string]string) (map[itemKey]map[string]ddbtypes.AttributeValue, map[itemKey]error) {
	found := make(map[itemKey]map[string]ddbtypes.AttributeValue, len(keys))
	failed := map[itemKey]error{}
	var mu sync.Mutex
	chunks := (len(keys) + readBatchSize - 1) / readBatchSize
	forEach(chunks, p.cfg.Concurrency, func(c int) {
		chunk := keys[c*readBatchSize : min((c+1)*readBatchSize, len(keys))]
		pending := make([]map[string]ddbtypes.AttributeValue, len(chunk))
		for i, k := range chunk {
			pending[i] = keyAttrs(k)
		}
		for attempt := 1; ; attempt++ {
			ka := ddbtypes.KeysAndAttributes{Keys: pending, ConsistentRead: ptr(true)}
			if projection != "" {
				ka.ProjectionExpression, ka.ExpressionAttributeNames = &projection, names
			}
			out, err := p.cfg.StateReader.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]ddbtypes.KeysAndAttributes{p.cfg.Table: ka},
			})
			if err == nil && out == nil {
				err = errors.New("empty BatchGetItem response")
			}
			mu.Lock()
			if err != nil {
				for _, item := range pending {
					failed[keyOf(item)] = err
				}
				mu.Unlock()
				return
			}
			for _, item := range out.Responses[p.cfg.Table] {
				found[keyOf(item)] = item
			}
			mu.Unlock()
			pending = out.UnprocessedKeys[p.cfg.Table].Keys
			if len(pending) == 0 {
				return
			}
			if attempt >= p.cfg.MaxAttempts {
				err = errors.New("BatchGetItem left keys unprocessed after retries")
			} else {
				err = p.backoff(ctx, attempt)
			}
			if err != nil {
				mu.Lock()
				for _, item := range pending {
					failed[keyOf(item)] = err
				}
				mu.Unlock()
				return
			}
		}
	})
	return found, failed
}

// objectExists reports whether key is in the archive bucket. Only a 404 means absent:
// without s3:ListBucket S3 answers 403 for a missing key, which is an error here, never
// "absent", so a permissions gap cannot turn into lost records.
func (p *Pipeline) objectExists(ctx context.Context, key string) (bool, error) {
	_, err := p.cfg.Heads.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &p.cfg.Bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	var nf *s3types.NotFound
	var re *awshttp.ResponseError
	if errors.As(err, &nf) || errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return false, nil
	}
	return false, err
}

func (p *Pipeline) putObject(ctx context.Context, key string, body []byte) error {
	_, err := p.cfg.Objects.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        &p.cfg.Bucket,
		Key:           &key,
		Body:          bytes.NewReader(body),
		ContentLength: ptr(int64(len(body))),
		ContentType:   ptr("application/gzip"),
	})
	return err
}

func ptr[T any](v T) *T { return &v }
