package estimate

import (
	"fmt"
	"sort"
	"strings"
)

// Price is one list price: USD per Per units of Unit.
type Price struct {
	Service string
	Item    string
	USD     float64
	Per     float64 // units the price is for, e.g. 1e6 for "per million"
	Unit    string
	// Source names the AWS pricing page the figure belongs to, and says where the figure was
	// actually read. "NOT FOUND in stored docs" marks a figure that could not be checked
	// against stored documentation when the table was written.
	Source string
}

// Rate is the price of one unit.
func (p Price) Rate() float64 { return p.USD / p.Per }

// Tier is one band of a tiered price: units up to UpTo (0 = unbounded) cost USD per Per.
type Tier struct {
	UpTo float64
	USD  float64
}

// PriceTable is every list price the model uses, for one region.
type PriceTable struct {
	Region string
	// Date is when the figures were read.
	Date   string
	Prices map[string]Price
	// Tiers of tiered prices, by price key; the key's Price holds the first tier.
	Tiers map[string][]Tier
}

// Price keys.
const (
	PriceIoTConnect       = "iot.connectivity"
	PriceIoTMessage       = "iot.messaging"
	PriceIoTRule          = "iot.rules.triggered"
	PriceIoTAction        = "iot.rules.actions"
	PriceKinesisODIn      = "kinesis.ondemand.ingested"
	PriceKinesisODOut     = "kinesis.ondemand.retrieved"
	PriceKinesisODHour    = "kinesis.ondemand.stream-hour"
	PriceKinesisShardHour = "kinesis.provisioned.shard-hour"
	PriceKinesisPUTUnit   = "kinesis.provisioned.put-payload-unit"
	PriceLambdaArmGBs     = "lambda.arm64.gb-second"
	PriceLambdaX86GBs     = "lambda.x86_64.gb-second"
	PriceLambdaRequest    = "lambda.request"
	PriceDDBWrite         = "dynamodb.ondemand.wru"
	PriceDDBRead          = "dynamodb.ondemand.rru"
	PriceDDBWCUHour       = "dynamodb.provisioned.wcu-hour"
	PriceDDBRCUHour       = "dynamodb.provisioned.rcu-hour"
	PriceDDBStorage       = "dynamodb.storage"
	PriceDDBPITR          = "dynamodb.pitr"
	PriceS3Put            = "s3.put"
	PriceS3Storage        = "s3.storage"
	PriceKMSKey           = "kms.key-month"
	PriceKMSRequest       = "kms.request"
	PriceCWMetric         = "cloudwatch.metric-month"
	PriceCWAlarm          = "cloudwatch.alarm-metric"
	PriceCWAlarmHighRes   = "cloudwatch.alarm-metric.high-resolution"
	PriceCWAlarmInsights  = "cloudwatch.alarm.metrics-insights"
	PriceCWDashboard      = "cloudwatch.dashboard"
	PriceLogsIngest       = "logs.ingestion"
	PriceLogsStorage      = "logs.storage"
	PriceDefenderAudit    = "defender.audit"
	PriceWAFACL           = "waf.web-acl"
	PriceWAFRule          = "waf.rule"
	PriceWAFRequest       = "waf.request"
	PriceAPIGWRequest     = "apigateway.rest.request"
)

const (
	notFound = "NOT FOUND in stored docs"
	readOn   = "2026-11-30"
)

// priceTables is the one table of list prices, by region. A region that is not here is an
// error, never a silent reuse of another region's prices.
var priceTables = map[string]PriceTable{
	"us-east-1": {
		Region: "us-east-1",
		Date:   readOn,
		Prices: map[string]Price{
			PriceIoTConnect: {"AWS IoT Core", "connectivity", 0.08, 1e6, "connection-minutes",
				"AWS IoT Core pricing: stored copy states $0.08/1,000,000 minutes in its Europe (Ireland) example; the us-east-1 cell is not rendered in stored docs"},
			PriceIoTMessage: {"AWS IoT Core", "messaging (5 KB units)", 1.00, 1e6, "messages",
				"AWS IoT Core pricing: $1.00/million (first billion) in the stored example; tiers 0.80 (next 4 billion) and 0.70 (over 5 billion) " + notFound + " (a stored page's Tokyo tiers 1.20/0.96/0.84 have the same ratios)"},
			PriceIoTRule: {"AWS IoT Core", "rules triggered", 0.15, 1e6, "rules",
				"AWS IoT Core pricing (Rules Engine): " + notFound},
			PriceIoTAction: {"AWS IoT Core", "actions executed", 0.15, 1e6, "actions",
				"AWS IoT Core pricing (Rules Engine): " + notFound},
			PriceKinesisODIn: {"Kinesis Data Streams", "on-demand data ingested (1 KB per record rounding)", 0.08, 1, "GB",
				"Amazon Kinesis Data Streams pricing: the 1 KB record rounding is in the stored page, the price cell is " + notFound},
			PriceKinesisODOut: {"Kinesis Data Streams", "on-demand data retrieved", 0.04, 1, "GB",
				"Amazon Kinesis Data Streams pricing: " + notFound},
			PriceKinesisODHour: {"Kinesis Data Streams", "on-demand stream-hour", 0.04, 1, "stream-hours",
				"Amazon Kinesis Data Streams pricing: " + notFound},
			PriceKinesisShardHour: {"Kinesis Data Streams", "provisioned shard-hour", 0.015, 1, "shard-hours",
				"Amazon Kinesis Data Streams pricing: $0.015 per shard hour in a stored third-party worked example (kindatechnical.com); AWS page cell not rendered"},
			PriceKinesisPUTUnit: {"Kinesis Data Streams", "provisioned PUT payload units (25 KB)", 0.014, 1e6, "PUT payload units",
				"Amazon Kinesis Data Streams pricing: 25 KB units in the stored page, the price is " + notFound},
			PriceLambdaArmGBs: {"AWS Lambda", "duration, arm64 (first 7.5 billion GB-s)", 0.0000133334, 1, "GB-seconds",
				"AWS Lambda pricing: $0.0000133334 per GB-s (arm64, us-east-1) in stored third-party transcriptions (artillery prices.js, cloudchipr.com)"},
			PriceLambdaX86GBs: {"AWS Lambda", "duration, x86_64 (first 6 billion GB-s)", 0.0000166667, 1, "GB-seconds",
				"AWS Lambda pricing: $0.00001667 per GB-s in the stored AWS page's US East example"},
			PriceLambdaRequest: {"AWS Lambda", "requests", 0.20, 1e6, "requests",
				"AWS Lambda pricing: $0.20 per 1M requests in the stored AWS page's US East example"},
			PriceDDBWrite: {"DynamoDB", "on-demand write request units (1 KB)", 0.625, 1e6, "WRU",
				"Amazon DynamoDB on-demand pricing: " + notFound + " (stored third-party pages show the pre-November-2024 $1.25)"},
			PriceDDBRead: {"DynamoDB", "on-demand read request units (4 KB)", 0.125, 1e6, "RRU",
				"Amazon DynamoDB on-demand pricing: " + notFound + " (stored third-party pages show the pre-November-2024 $0.25)"},
			PriceDDBWCUHour: {"DynamoDB", "provisioned WCU-hour", 0.00065, 1, "WCU-hours",
				"Amazon DynamoDB provisioned pricing: $0.00065/WCU/hr in a stored third-party page (zeonedge.com); AWS page cell not rendered"},
			PriceDDBRCUHour: {"DynamoDB", "provisioned RCU-hour", 0.00013, 1, "RCU-hours",
				"Amazon DynamoDB provisioned pricing: $0.00013/RCU/hr in a stored third-party page (zeonedge.com); AWS page cell not rendered"},
			PriceDDBStorage: {"DynamoDB", "storage (Standard table class)", 0.25, 1, "GB-months",
				"Amazon DynamoDB pricing: " + notFound},
			PriceDDBPITR: {"DynamoDB", "continuous backups (PITR)", 0.20, 1, "GB-months",
				"Amazon DynamoDB pricing: " + notFound},
			PriceS3Put: {"S3", "PUT requests (S3 Standard)", 0.005, 1000, "requests",
				"Amazon S3 pricing: " + notFound + " (stored pages show only older prices)"},
			PriceS3Storage: {"S3", "S3 Standard storage (first 50 TB)", 0.023, 1, "GB-months",
				"Amazon S3 pricing: $0.023 per GB (first 50 TB) in a stored third-party table (gist EverettBerry)"},
			PriceKMSKey: {"KMS", "customer-managed key", 1.00, 1, "key-months",
				"AWS KMS pricing: $1 per key per month in stored third-party notes (gist dasgoll)"},
			PriceKMSRequest: {"KMS", "requests", 0.03, 10000, "requests",
				"AWS KMS pricing: $0.03 per 10,000 requests in stored third-party notes (gist dasgoll)"},
			PriceCWMetric: {"CloudWatch", "custom metrics (first 10,000)", 0.30, 1, "metric-months",
				"Amazon CloudWatch pricing: tiers $0.30 / 0.10 / 0.05 / 0.02 in a stored third-party transcription (github nishinoshake/aws-rough#37)"},
			PriceCWAlarm: {"CloudWatch", "standard-resolution alarm metric", 0.10, 1, "alarm metric-months",
				"Amazon CloudWatch pricing: $0.10 per alarm metric in stored third-party pages (c3x.dev, infracost PR)"},
			PriceCWAlarmHighRes: {"CloudWatch", "high-resolution alarm metric", 0.30, 1, "alarm metric-months",
				"Amazon CloudWatch pricing: $0.30 in stored third-party pages (c3x.dev)"},
			PriceCWAlarmInsights: {"CloudWatch", "Metrics Insights query alarm, per metric analyzed", 0.10, 1, "metrics analyzed-months",
				"Amazon CloudWatch pricing (Alarms): " + notFound + "; the stored page only says the free tier excludes Metrics Insights alarms"},
			PriceCWDashboard: {"CloudWatch", "dashboard", 3.00, 1, "dashboard-months",
				"Amazon CloudWatch pricing: $3 per dashboard in a stored third-party transcription (github nishinoshake/aws-rough#37)"},
			PriceLogsIngest: {"CloudWatch Logs", "ingestion (Standard)", 0.50, 1, "GB",
				"Amazon CloudWatch pricing: $0.50 per GB in a stored infracost output (github vreutova/infracost-idem-support#2)"},
			PriceLogsStorage: {"CloudWatch Logs", "storage", 0.03, 1, "GB-months",
				"Amazon CloudWatch pricing: $0.03 per GB archival in a stored infracost output"},
			PriceDefenderAudit: {"IoT Device Defender", "audit, per active device", 0.0011, 1, "device-months",
				"AWS IoT Device Defender pricing: $0.0011 per device per month in a stored transcription of the page's example (api-evangelist)"},
			PriceWAFACL: {"AWS WAF", "web ACL", 5.00, 1, "web ACL-months",
				"AWS WAF pricing: " + notFound},
			PriceWAFRule: {"AWS WAF", "rule or rule group", 1.00, 1, "rule-months",
				"AWS WAF pricing: " + notFound + " (a stored AWS guide confirms a rule group bills as one rule)"},
			PriceWAFRequest: {"AWS WAF", "requests inspected", 0.60, 1e6, "requests",
				"AWS WAF pricing: " + notFound},
			PriceAPIGWRequest: {"API Gateway", "REST API requests (first 333 million)", 3.50, 1e6, "requests",
				"Amazon API Gateway pricing: " + notFound},
		},
		Tiers: map[string][]Tier{
			PriceIoTMessage: {{UpTo: 1e9, USD: 1.00}, {UpTo: 5e9, USD: 0.80}, {USD: 0.70}},
			PriceCWMetric:   {{UpTo: 10000, USD: 0.30}, {UpTo: 250000, USD: 0.10}, {UpTo: 1e6, USD: 0.05}, {USD: 0.02}},
		},
	},
}

// Prices returns the list prices for region.
func Prices(region string) (PriceTable, error) {
	t, ok := priceTables[region]
	if !ok {
		var known []string
		for r := range priceTables {
			known = append(known, r)
		}
		sort.Strings(known)
		return PriceTable{}, fmt.Errorf("no list prices for region %q (known: %s)", region, strings.Join(known, ", "))
	}
	return t, nil
}

// cost prices qty units of key, tier by tier where the price is tiered.
func (t PriceTable) cost(key string, qty float64) float64 {
	p, ok := t.Prices[key]
	if !ok {
		// A programming error: every key used by the model is in every table (TestPriceTablesComplete).
		panic("estimate: no price " + key)
	}
	tiers := t.Tiers[key]
	if len(tiers) == 0 {
		return qty * p.Rate()
	}
	var total, below float64
	for _, tr := range tiers {
		band := qty - below
		if tr.UpTo > 0 {
			band = min(band, tr.UpTo-below)
		}
		if band <= 0 {
			break
		}
		total += band * tr.USD / p.Per
		if tr.UpTo == 0 {
			break
		}
		below = tr.UpTo
	}
	return total
}

// AllPriceKeys lists the keys every table must have.
func AllPriceKeys() []string {
	keys := make([]string, 0, len(priceTables["us-east-1"].Prices))
	for k := range priceTables["us-east-1"].Prices {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
