package local

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/secure-smart-city/platform/cmd/city/control"
	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/command/api"
	"github.com/secure-smart-city/platform/lambdas/telemetry/pipeline"
)

// Console is the Control Center's backend for the local city: the registry, the state and
// audit tables, the processor's counts, and commands through the command API over HTTPS. A
// deployed stage's backend would read the same tables and call the deployed API (SigV4
// instead of a client certificate).
type Console struct {
	Fleet    *fleetspec.Fleet
	Registry *Registry
	Stats    *Stats
	DB       *dynamodb.Client
	Commands *CommandClient
	// RecentCommands bounds the commands shown. Default: 20.
	RecentCommands int
}

// metadata of a state item that is not a telemetry field.
var stateMeta = map[string]bool{
	pipeline.AttrPK: true, pipeline.AttrSK: true, pipeline.AttrObject: true, pipeline.AttrExpiresAt: true,
	pipeline.KeyClass: true, pipeline.KeyMsgID: true, pipeline.KeySeq: true, pipeline.KeyTS: true,
	pipeline.KeyReceivedAt: true, pipeline.KeyStreamSeq: true, pipeline.KeyThing: true,
}

// Snapshot implements control.Backend.
func (c *Console) Snapshot(ctx context.Context) (control.Snapshot, error) {
	var s control.Snapshot
	for _, d := range c.Fleet.Districts {
		s.Districts = append(s.Districts, control.Named{ID: d.ID, Name: d.Name})
	}
	for _, cl := range c.Fleet.Classes {
		s.Classes = append(s.Classes, control.Named{ID: cl.ID, Name: cl.Name})
	}
	st := c.Stats.Snapshot()
	s.Counts = control.Counts{Received: st.Received, Accepted: st.Accepted, Rejected: st.Rejected, Duplicates: st.Duplicates, RejectedByReason: st.RejectedByReason}
	s.Quarantined = c.Registry.Quarantined()
	quarantined := map[string]bool{}
	for _, q := range s.Quarantined {
		quarantined[q] = true
	}
	things := c.Registry.Things()
	states, err := c.states(ctx, things)
	if err != nil {
		return s, err
	}
	for _, t := range things {
		d := control.Device{Thing: t.Name, Class: t.Class, District: t.District, Declared: t.Declared, Quarantined: quarantined[t.Name]}
		if item, ok := states[t.Name]; ok {
			d.State, d.LastSeen = c.fields(t.Class, item)
		}
		s.Devices = append(s.Devices, d)
	}
	s.Commands, err = c.recentCommands(ctx)
	return s, err
}

// states reads the things' state items, 100 keys per BatchGetItem.
func (c *Console) states(ctx context.Context, things []Thing) (map[string]map[string]ddbtypes.AttributeValue, error) {
	out := map[string]map[string]ddbtypes.AttributeValue{}
	for start := 0; start < len(things); start += 100 {
		var keys []map[string]ddbtypes.AttributeValue
		for _, t := range things[start:min(start+100, len(things))] {
			keys = append(keys, map[string]ddbtypes.AttributeValue{
				api.StateKey:     &ddbtypes.AttributeValueMemberS{Value: t.Name},
				api.StateSortKey: &ddbtypes.AttributeValueMemberS{Value: api.StateSortValue},
			})
		}
		req := map[string]ddbtypes.KeysAndAttributes{StateTable: {Keys: keys}}
		for attempt := 0; len(req) > 0 && attempt < 5; attempt++ {
			res, err := c.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read device states: %w", err)
			}
			for _, item := range res.Responses[StateTable] {
				if pk, ok := item[api.StateKey].(*ddbtypes.AttributeValueMemberS); ok {
					out[pk.Value] = item
				}
			}
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// fields decodes a state item's telemetry fields, leaving out the class's sensitive ones
// (stored as envelopes, and not for an operator's screen).
func (c *Console) fields(class string, item map[string]ddbtypes.AttributeValue) (map[string]any, time.Time) {
	var all map[string]any
	if err := attributevalue.UnmarshalMap(item, &all); err != nil {
		return nil, time.Time{}
	}
	sensitive := map[string]bool{}
	if cl, ok := c.Fleet.Class(class); ok {
		for _, f := range cl.Fields {
			if f.Sensitive {
				sensitive[f.Name] = true
			}
		}
	}
	state := map[string]any{}
	for k, v := range all {
		if !stateMeta[k] && !sensitive[k] {
			state[k] = v
		}
	}
	var seen time.Time
	if ms, ok := all[pipeline.KeyReceivedAt].(float64); ok {
		seen = time.UnixMilli(int64(ms))
	}
	return state, seen
}

type auditItem struct {
	Thing       string         `dynamodbav:"thingName"`
	RequestedAt string         `dynamodbav:"requestedAt"`
	Caller      string         `dynamodbav:"callerArn"`
	Command     string         `dynamodbav:"command"`
	Params      map[string]any `dynamodbav:"params"`
	Outcome     string         `dynamodbav:"outcome"`
	Status      int            `dynamodbav:"status"`
	Reason      string         `dynamodbav:"reason"`
}

// recentCommands scans the audit table (commands are few next to telemetry) and keeps the
// newest.
func (c *Console) recentCommands(ctx context.Context) ([]control.CommandRecord, error) {
	limit := c.RecentCommands
	if limit <= 0 {
		limit = 20
	}
	var items []auditItem
	var start map[string]ddbtypes.AttributeValue
	for {
		res, err := c.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(AuditTable), ExclusiveStartKey: start})
		if err != nil {
			return nil, fmt.Errorf("read command audit: %w", err)
		}
		var page []auditItem
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, fmt.Errorf("decode command audit: %w", err)
		}
		items = append(items, page...)
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		start = res.LastEvaluatedKey
	}
	sort.Slice(items, func(i, j int) bool { return items[i].RequestedAt > items[j].RequestedAt })
	var out []control.CommandRecord
	for _, it := range items[:min(limit, len(items))] {
		at, _ := time.Parse("2006-01-02T15:04:05.000Z", it.RequestedAt)
		params := ""
		if len(it.Params) > 0 {
			b, _ := json.Marshal(it.Params)
			params = string(b)
		}
		out = append(out, control.CommandRecord{
			RequestedAt: at, Thing: it.Thing, Command: it.Command, Params: params, Caller: it.Caller,
			Outcome: it.Outcome, Reason: it.Reason, Status: it.Status,
		})
	}
	return out, nil
}

// SetLight implements control.Backend through the command API.
func (c *Console) SetLight(ctx context.Context, operator, thing string, on bool) (control.CommandResult, error) {
	reply, err := c.Commands.Send(ctx, operator, thing, "set-light", map[string]any{"on": on})
	if err != nil {
		return control.CommandResult{}, err
	}
	res := control.CommandResult{Status: reply.Status}
	res.CommandID, _ = reply.Body["commandId"].(string)
	res.Outcome, _ = reply.Body["status"].(string)
	if msg, ok := reply.Body["message"].(string); ok {
		res.Message = msg
	} else if res.Status >= 300 {
		res.Message = "command API answered " + strconv.Itoa(res.Status)
	}
	return res, nil
}
