// Package inventory reads a manufacturer's device inventory (CSV) and loads it into the fleet
// provisioning allowlist table: every line validated against the fleet file before anything is
// written, then insert-if-absent, so a re-run changes nothing and a provisioned entry is never
// reset.
package inventory

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/secure-smart-city/platform/fleetspec"
	"github.com/secure-smart-city/platform/lambdas/provisioninghook/allowlist"
)

// CSV column names, exactly as the header row must spell them. They are the allowlist item's
// attribute names, so a column and the attribute it fills never disagree.
const (
	ColSerial         = allowlist.AttrSerial
	ColThingName      = allowlist.AttrThingName
	ColClass          = allowlist.AttrClass
	ColDistrict       = allowlist.AttrDistrict
	ColKeyFingerprint = allowlist.AttrKeyFingerprint
)

// Columns lists the required columns in the order `fleetctl` documents and generates them.
// A file may order them differently; it may not add, omit or repeat one.
var Columns = []string{ColSerial, ColThingName, ColClass, ColDistrict, ColKeyFingerprint}

var (
	// serialPattern is the provisioning hook's serial alphabet (lambdas/provisioninghook/hook
	// serialPattern, which fleetspec shares): a serial the hook would refuse as invalid must
	// not reach the allowlist. TestPatternsAgreeWithHook keeps the two in step.
	serialPattern = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#-]{1,800}$`)
	// thingNamePattern is AWS IoT's thing-name alphabet, as the hook checks it.
	thingNamePattern = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	hexUpper         = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	// squash removes the separators people put in column names ("thing name", "key_fingerprint").
	squash = strings.NewReplacer(" ", "", "_", "", "-", "")
)

// Row is one validated inventory line.
type Row struct {
	// Line is the line the record starts on (the header is line 1).
	Line           int
	Serial         string
	ThingName      string
	Class          string
	District       string
	KeyFingerprint string
}

// Problem is one thing wrong with the file, or with one of its lines against the allowlist.
type Problem struct {
	File string
	// Line is 0 for a problem with the whole file.
	Line int
	// Column names the CSV column, empty when the problem is with the line as a whole.
	Column string
	// Message includes the offending value, quoted.
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Column != "" {
		b.WriteString(": ")
		b.WriteString(p.Column)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found, in line order; as an error it reads one problem per line.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Parse reads an inventory CSV and validates every line against the fleet. It returns the rows
// only when the whole file is valid; otherwise the error is Problems with every problem found
// (a bad header stops the read, since no column can be trusted after it). file names the input
// in problems.
func Parse(r io.Reader, file string, fleet *fleetspec.Fleet) ([]Row, error) {
	cr := csv.NewReader(r)
	// Field counts are checked per line below, so that one short line does not hide the rest.
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	p := &parser{file: file, fleet: fleet,
		serials: map[string]int{}, things: map[string]int{}, fingerprints: map[string]int{}, declaredSerials: map[string]string{}}
	for _, t := range fleet.Things {
		if t.Serial != "" {
			p.declaredSerials[t.Serial] = t.Name
		}
	}

	first, err := cr.Read()
	header := slices.Clone(first) // ReuseRecord overwrites the first record's slice
	switch {
	case errors.Is(err, io.EOF):
		return nil, Problems{{File: file, Message: "empty file: want a header row " + strings.Join(Columns, ",")}}
	case err != nil:
		return nil, Problems{p.syntax(err)}
	}
	idx, probs := p.header(header)
	if len(probs) > 0 {
		return nil, probs
	}

	var rows []Row
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.probs = append(p.probs, p.syntax(err))
			var pe *csv.ParseError
			// A quote error swallows the rest of the file; other errors affect one record.
			if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrQuote) {
				break
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(idx) {
			p.add(line, "", "%d fields, want %d (%s)", len(rec), len(idx), strings.Join(header, ","))
			continue
		}
		row := Row{Line: line, Serial: rec[idx[ColSerial]], ThingName: rec[idx[ColThingName]],
			Class: rec[idx[ColClass]], District: rec[idx[ColDistrict]], KeyFingerprint: rec[idx[ColKeyFingerprint]]}
		if p.row(row) {
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 && len(p.probs) == 0 {
		p.probs = append(p.probs, Problem{File: file, Message: "no devices: the file has a header row and no lines after it"})
	}
	if len(p.probs) > 0 {
		sort.SliceStable(p.probs, func(i, j int) bool { return p.probs[i].Line < p.probs[j].Line })
		return nil, p.probs
	}
	return rows, nil
}

type parser struct {
	file                          string
	fleet                         *fleetspec.Fleet
	probs                         Problems
	serials, things, fingerprints map[string]int
	// declaredSerials maps the fleet file's declared serials to their things.
	declaredSerials map[string]string
}

func (p *parser) add(line int, column, format string, args ...any) {
	p.probs = append(p.probs, Problem{File: p.file, Line: line, Column: column, Message: fmt.Sprintf(format, args...)})
}

func (p *parser) syntax(err error) Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{File: p.file, Line: pe.Line, Message: fmt.Sprintf("CSV syntax: column %d: %v", pe.Column, pe.Err)}
	}
	return Problem{File: p.file, Message: "read: " + err.Error()}
}

// header maps each required column to its position.
func (p *parser) header(h []string) (map[string]int, Problems) {
	if len(h) > 0 {
		// Spreadsheet programs often save UTF-8 CSV with a byte order mark.
		h[0] = string(bytes.TrimPrefix([]byte(h[0]), []byte("\ufeff")))
	}
	idx := make(map[string]int, len(Columns))
	var probs Problems
	bad := func(format string, args ...any) {
		probs = append(probs, Problem{File: p.file, Line: 1, Message: fmt.Sprintf(format, args...)})
	}
	for i, name := range h {
		if _, dup := idx[name]; dup {
			bad("header column %d: column %q repeated", i+1, name)
			continue
		}
		if !slices.Contains(Columns, name) {
			hint := ""
			for _, c := range Columns {
				if strings.EqualFold(squash.Replace(name), c) {
					hint = fmt.Sprintf(" (did you mean %q? names are exact)", c)
				}
			}
			bad("header column %d: unknown column %q%s; want %s", i+1, name, hint, strings.Join(Columns, ","))
		}
		idx[name] = i
	}
	for _, c := range Columns {
		if _, ok := idx[c]; !ok {
			bad("header: missing column %q; want %s", c, strings.Join(Columns, ","))
		}
	}
	return idx, probs
}

// row validates one line and records its unique values; it reports whether the line is valid.
func (p *parser) row(r Row) bool {
	before := len(p.probs)
	switch {
	case r.Serial == "":
		p.add(r.Line, ColSerial, "empty")
	case !serialPattern.MatchString(r.Serial):
		p.add(r.Line, ColSerial, "%q: want 1-800 of letters, digits and _.,@/:#- (the provisioning hook refuses any other serial)", r.Serial)
	}
	switch {
	case r.ThingName == "":
		p.add(r.Line, ColThingName, "empty")
	case !thingNamePattern.MatchString(r.ThingName):
		p.add(r.Line, ColThingName, "%q: want 1-128 of letters, digits and :_- (AWS IoT thing names)", r.ThingName)
	}
	if _, ok := p.fleet.Class(r.Class); !ok {
		p.add(r.Line, ColClass, "unknown device class %q (fleet file %s has %s)", r.Class, p.fleet.Path, known(p.fleet.Classes, func(c fleetspec.DeviceClass) string { return c.ID }))
	}
	if _, ok := p.fleet.District(r.District); !ok {
		p.add(r.Line, ColDistrict, "unknown district %q (fleet file %s has %s)", r.District, p.fleet.Path, known(p.fleet.Districts, func(d fleetspec.District) string { return d.ID }))
	}
	switch {
	case r.KeyFingerprint == "":
		p.add(r.Line, ColKeyFingerprint, "empty")
	case allowlist.ValidFingerprint(r.KeyFingerprint):
	case hexUpper.MatchString(r.KeyFingerprint):
		p.add(r.Line, ColKeyFingerprint, "%q: uppercase hex; the fingerprint is lowercase hex", r.KeyFingerprint)
	default:
		p.add(r.Line, ColKeyFingerprint, "%q: want 64 lowercase hex digits (SHA-256 of the DER SubjectPublicKeyInfo)", r.KeyFingerprint)
	}

	// A declared thing is created by the Fleet stack; listing it here under another class,
	// district or serial would give one thing two identities.
	if t, ok := p.fleet.Thing(r.ThingName); ok {
		for _, f := range []struct{ col, file, fleet string }{
			{ColClass, r.Class, t.Class}, {ColDistrict, r.District, t.District}, {ColSerial, r.Serial, t.Serial},
		} {
			if f.fleet != "" && f.file != f.fleet {
				p.add(r.Line, f.col, "%q: thing %q is declared in fleet file %s with %s %q", f.file, r.ThingName, p.fleet.Path, f.col, f.fleet)
			}
		}
	}
	if t, ok := p.declaredSerials[r.Serial]; ok && t != r.ThingName {
		p.add(r.Line, ColSerial, "%q: serial of thing %q declared in fleet file %s", r.Serial, t, p.fleet.Path)
	}

	p.unique(p.serials, r.Line, ColSerial, r.Serial)
	p.unique(p.things, r.Line, ColThingName, r.ThingName)
	p.unique(p.fingerprints, r.Line, ColKeyFingerprint, r.KeyFingerprint)
	return len(p.probs) == before
}

// unique reports a value seen on an earlier line. Empty values are reported as empty already.
func (p *parser) unique(seen map[string]int, line int, column, value string) {
	if value == "" {
		return
	}
	if first, ok := seen[value]; ok {
		p.add(line, column, "%q: duplicate of line %d", value, first)
		return
	}
	seen[value] = line
}

func known[T any](items []T, id func(T) string) string {
	if len(items) == 0 {
		return "none"
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = id(it)
	}
	sort.Strings(ids)
	const most = 12
	if len(ids) > most {
		return strings.Join(ids[:most], ", ") + fmt.Sprintf(" and %d more", len(ids)-most)
	}
	return strings.Join(ids, ", ")
}
