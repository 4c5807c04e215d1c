// Package clierr turns what stops the app (joined errors, jsii panics, CDK validation reports)
// into one line per problem, so a person reads "where: field: value" instead of a goroutine
// trace.
package clierr

import (
	"fmt"
	"regexp"
	"strings"
)

// Lines flattens err into one line per problem: every errors.Join (and fmt.Errorf with several
// %w) is split into its parts, recursively. A part whose text spans several lines (a compiler's
// output) keeps them, indented, because those lines are the cause.
func Lines(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, Lines(e)...)
		}
		return out
	}
	msg := strings.TrimRight(err.Error(), "\n")
	return []string{strings.ReplaceAll(msg, "\n", "\n    ")}
}

// validationLine is one entry of the report CDK throws when construct validation fails:
// "  [SmartCity-dev-Ingestion/Telemetry] processor: field Timeout: ...".
var validationLine = regexp.MustCompile(`^\s*\[([^\]]+)\]\s*(.*)$`)

// FromPanic turns a recovered panic value into the problems it reports. A jsii call that fails
// in the JavaScript kernel panics in Go with the JavaScript error's text, which for a failed
// construct validation is a header line and one "[path] message" line per problem, followed by
// a JavaScript stack that helps nobody fix props; only the problem lines are kept. Any other
// panic keeps its message (its first line when it carries a stack).
func FromPanic(v any) []string {
	var msg string
	switch p := v.(type) {
	case error:
		msg = p.Error()
	case string:
		msg = p
	default:
		msg = fmt.Sprint(p)
	}
	msg = strings.TrimSpace(msg)
	if strings.Contains(msg, "Validation failed with the following errors:") {
		var out []string
		for _, l := range strings.Split(msg, "\n") {
			if m := validationLine.FindStringSubmatch(l); m != nil {
				out = append(out, m[1]+": "+m[2])
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return []string{stripStack(msg)}
}

// stripStack drops a JavaScript stack ("    at Foo (file.js:1:2)") and jsii's "Error: "
// prefixes from a message, keeping what the error says.
func stripStack(msg string) string {
	var keep []string
	for _, l := range strings.Split(msg, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "at ") || strings.HasPrefix(l, "goroutine ") {
			break
		}
		keep = append(keep, l)
	}
	out := strings.TrimSpace(strings.Join(keep, "\n"))
	out = strings.TrimPrefix(out, "Error: ")
	return strings.ReplaceAll(out, "\n", "\n    ")
}
