package remediate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/secure-smart-city/platform/lambdas/remediation/contract"
)

// Budget caps the quarantine function's automated actions (a thing quarantined, a certificate
// deactivated) per window, so that a flood of offenders, or an attacker who found a way to
// trip the detection, can cut off at most Cap devices an hour before a person looks.
type Budget interface {
	// Take spends one action on key (a thing or certificate) in the window that holds now.
	// Taking the same key again in the same window is free and answers true, so a redelivered
	// alarm does not spend the budget twice. ok is false when the window's budget is spent.
	Take(ctx context.Context, key string, now time.Time) (ok bool, err error)
}

// ItemUpdater updates one DynamoDB item (dynamodb.Client).
type ItemUpdater interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Defaults of the quarantine budget.
const (
	DefaultQuarantineCap    = contract.DefaultQuarantineCap
	DefaultQuarantineWindow = time.Hour
)

// Where the budget lives in the device state table (Foundation's DeviceState: partition key
// pk, sort key sk, TTL attribute expiresAt). A thing name cannot contain "#", so the partition
// never meets a device's items.
const (
	BudgetPartition = contract.BudgetPartition
	budgetMembers   = "members"
	budgetTTL       = "expiresAt"
)

// TableBudget keeps one item per window in a DynamoDB table: the set of keys acted on. The
// conditional update is atomic, so concurrent invocations cannot exceed Cap together.
type TableBudget struct {
	Client ItemUpdater
	// Table is the table name (env BUDGET_TABLE).
	Table string
	// Cap is how many actions a window allows (env QUARANTINE_CAP). Default: DefaultQuarantineCap.
	Cap int
	// Window is the budget's window. Default: DefaultQuarantineWindow.
	Window time.Duration
}

// Take implements Budget.
func (b *TableBudget) Take(ctx context.Context, key string, now time.Time) (bool, error) {
	capacity, win := b.Cap, b.Window
	if capacity <= 0 {
		capacity = DefaultQuarantineCap
	}
	if win <= 0 {
		win = DefaultQuarantineWindow
	}
	start := now.UTC().Truncate(win)
	_, err := b.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(b.Table),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: BudgetPartition},
			"sk": &ddbtypes.AttributeValueMemberS{Value: start.Format(time.RFC3339)},
		},
		UpdateExpression:    aws.String("ADD #m :k SET #t = :exp"),
		ConditionExpression: aws.String("attribute_not_exists(#m) OR contains(#m, :key) OR size(#m) < :cap"),
		ExpressionAttributeNames: map[string]string{
			"#m": budgetMembers, "#t": budgetTTL,
		},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":k":   &ddbtypes.AttributeValueMemberSS{Value: []string{key}},
			":key": &ddbtypes.AttributeValueMemberS{Value: key},
			":cap": &ddbtypes.AttributeValueMemberN{Value: strconv.Itoa(capacity)},
			// Kept a day past its window, for the runbook and the investigation.
			":exp": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(start.Add(win+24*time.Hour).Unix(), 10)},
		},
	})
	var failed *ddbtypes.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("update %s: %w", b.Table, err)
	}
	return true, nil
}
