package compliance

import (
	"fmt"
	"strings"
)

// each runs fn over every resource of a type, collecting "<id>: <problem>" violations.
func each(t Template, typ string, fn func(Resource) string) (int, []string) {
	rs := t.Resources(typ)
	var out []string
	for _, r := range rs {
		if msg := fn(r); msg != "" {
			out = append(out, r.ID+": "+msg)
		}
	}
	return len(rs), out
}

// denies reports whether a policy document has a Deny statement with the given condition
// operator, key and value.
func denies(doc any, op, key string, value any) bool {
	for _, st := range List(Get(doc, "Statement")) {
		if Get(st, "Effect") != "Deny" {
			continue
		}
		v := Get(st, "Condition", op, key)
		if v == value || fmt.Sprint(v) == fmt.Sprint(value) {
			return true
		}
	}
	return false
}

// mentions reports whether any string inside v (a literal or the parts of an intrinsic such
// as Fn::Join) contains s.
func mentions(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, s)
	case []any:
		for _, e := range x {
			if mentions(e, s) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if mentions(e, s) {
				return true
			}
		}
	}
	return false
}

// logTargets are the access-log buckets: those other buckets deliver server access logs to,
// and those whose policy lets the S3 logging service write (so a log bucket stays one even
// when a change stops a bucket logging into it).
func logTargets(t Template) map[string]bool {
	out := map[string]bool{}
	for _, b := range t.Resources("AWS::S3::Bucket") {
		if id, ok := Get(b.Properties, "LoggingConfiguration", "DestinationBucketName", "Ref").(string); ok {
			out[id] = true
		}
	}
	for _, p := range t.Resources("AWS::S3::BucketPolicy") {
		id, ok := Get(p.Properties, "Bucket", "Ref").(string)
		if !ok {
			continue
		}
		for _, st := range List(Get(p.Properties, "PolicyDocument", "Statement")) {
			for _, svc := range List(Get(st, "Principal", "Service")) {
				if svc == "logging.s3.amazonaws.com" && Get(st, "Effect") == "Allow" {
					out[id] = true
				}
			}
		}
	}
	return out
}
