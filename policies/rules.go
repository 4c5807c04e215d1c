package policies

import (
	"encoding/json"
	"fmt"
)

// Rule is one synth-time IoT policy check: a pure function of one statement, in the manner of
// a cdk-nag rule. Check returns one message per problem; Check and CheckJSON add the rule id
// and the statement.
type Rule struct {
	// ID is stable: findings, suppressions and the closing note refer to it.
	ID          string
	Name        string
	Description string
	// Mirrors names the Device Defender audit check or scanner rule the rule follows.
	Mirrors string
	Check   func(Statement) []string
}

// Rules is the pack: every rule, in the order findings are reported.
func Rules() []Rule {
	return []Rule{
		ruleOverlyPermissiveClient,
		ruleOverlyPermissiveThingTopic,
		ruleOverlyPermissiveThing,
		ruleDenyMQTTWildcard,
		ruleWildcardAction,
		ruleWildcardResource,
		ruleGroupScopedResource,
		ruleActionResourceMismatch,
	}
}

// Finding is one problem a rule found in one statement.
type Finding struct {
	RuleID  string
	Message string
	// Statement is the statement's index in the document; Sid its Sid, if any.
	Statement int
	Sid       string
	// StatementJSON is the statement as written: relative resources for a Document, the
	// template's own JSON (Fn::Sub and all) for CheckJSON.
	StatementJSON string
}

// String is the form the synth error shows: "[<rule id>] <message>: <statement JSON>".
func (f Finding) String() string {
	return fmt.Sprintf("[%s] %s: %s", f.RuleID, f.Message, f.StatementJSON)
}

// Check runs every rule over a document built in Go. A resource or Version the checks cannot
// read is a finding under UnreadableID.
func Check(doc Document) []Finding { return checkDocument(Rules(), doc) }

// CheckJSON runs every rule over a policy document as it appears in a synthesized template
// (see parseDocument for the shapes understood). A document the checks cannot read is an
// error, never a pass.
func CheckJSON(raw any) ([]Finding, error) { return checkJSON(Rules(), raw) }

// checkDocument judges a Go document as CheckJSON would judge its rendering: full ARNs among
// its resources are made relative first. What cannot be read is reported under UnreadableID.
func checkDocument(rules []Rule, doc Document) []Finding {
	var unreadable []Finding
	if doc.Version != "" && doc.Version != Version {
		unreadable = append(unreadable, Finding{RuleID: UnreadableID, Statement: -1,
			Message: fmt.Sprintf("Version is %q, want %q (policy variables are literal text in other versions)", doc.Version, Version)})
	}
	stmts := make([]parsedStatement, 0, len(doc.Statements))
	for i, s := range doc.Statements {
		b, err := json.Marshal(s)
		if err != nil {
			b = []byte(fmt.Sprintf("%+v", s))
		}
		norm := s
		norm.Resources = make([]Resource, len(s.Resources))
		for j, r := range s.Resources {
			rel, err := relativeResource(string(r))
			if err != nil {
				unreadable = append(unreadable, Finding{RuleID: UnreadableID, Message: err.Error(), Statement: i, Sid: s.Sid, StatementJSON: string(b)})
				rel = r
			}
			norm.Resources[j] = rel
		}
		stmts = append(stmts, parsedStatement{norm, string(b)})
	}
	return append(unreadable, run(rules, stmts)...)
}

func checkJSON(rules []Rule, raw any) ([]Finding, error) {
	stmts, err := parseDocument(raw)
	if err != nil {
		return nil, err
	}
	return run(rules, stmts), nil
}

func run(rules []Rule, stmts []parsedStatement) []Finding {
	var out []Finding
	for i, s := range stmts {
		for _, r := range rules {
			for _, msg := range r.Check(s.st) {
				out = append(out, Finding{RuleID: r.ID, Message: msg, Statement: i, Sid: s.st.Sid, StatementJSON: s.raw})
			}
		}
	}
	return out
}
