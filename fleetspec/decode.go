package fleetspec

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// decodeStrict decodes a fleet document into f and reports every problem with it at once,
// each with its file:line:column. Before the real decode it walks the token stream against the
// Go types, because encoding/json names neither the path of an unknown key nor duplicate keys,
// matches keys case-insensitively and stops at the first wrong JSON type: a file saying
// "Serial" or "seral" must fail loudly and say where, not deploy a device without a serial,
// and a file with "maxMessageBytes": "1024" must still have the rest of it checked.
//
// When the only problems are wrong JSON types, the document is decoded with those values
// replaced by null and validated (f.validate, the same rules Parse applies next), so one run
// reports the type errors and every other problem together; a validation problem at (or
// under) a value already reported as mistyped is its echo and is dropped. Unknown and
// duplicate keys and syntax errors stop before validation: what follows from a misspelled key
// would be noise. Validation problems get the line and column of the value they name, or of
// the nearest enclosing value the file has.
func decodeStrict(data []byte, file string, f *Fleet) error {
	w := walker{dec: json.NewDecoder(bytes.NewReader(data)), file: file, data: data, pos: map[string]int64{}}
	w.dec.UseNumber()
	if err := w.top(reflect.TypeFor[Fleet]()); err != nil {
		return errors.Join(append(w.probs, err)...)
	}
	if len(w.probs) > len(w.mistyped) {
		return errors.Join(w.probs...)
	}
	if len(w.mistyped) > 0 {
		// Lenient: the unknown keys were reported already (none here), the mistyped values
		// are null now.
		if err := json.Unmarshal(w.nulled(), f); err != nil {
			return errors.Join(append(w.probs, &Problem{File: file, Message: fmt.Sprintf("decode: %v", err)})...)
		}
	} else {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(f); err != nil {
			return &Problem{File: file, Message: fmt.Sprintf("decode: %v", err)}
		}
	}
	mode := checkFiles
	if file == runtimeLabel {
		mode = forbidFiles
	}
	probs := w.probs
	for _, e := range flatten(f.validate(file, mode)) {
		p, ok := e.(*Problem)
		if !ok {
			probs = append(probs, e)
			continue
		}
		if w.echoesMistyped(p.Path) {
			continue
		}
		p.Line, p.Column = w.locate(p.Path)
		probs = append(probs, p)
	}
	if len(w.mistyped) > 0 {
		// Type errors and validation problems interleave in file order, as an editor lists them.
		slices.SortStableFunc(probs, func(a, b error) int {
			pa, _ := a.(*Problem)
			pb, _ := b.(*Problem)
			if pa == nil || pb == nil {
				return 0
			}
			return cmp.Or(cmp.Compare(pa.Line, pb.Line), cmp.Compare(pa.Column, pb.Column))
		})
	}
	return errors.Join(probs...)
}

// flatten splits a joined error into its parts.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

type walker struct {
	dec   *json.Decoder
	file  string
	data  []byte
	probs []error
	// pos is the offset of every value by field path ("things[2].name"), for locating the
	// problems validation reports by path.
	pos map[string]int64
	// mistyped are the byte spans of values of the wrong JSON type, by path.
	mistyped []span
}

type span struct {
	path       string
	start, end int64
}

// problem records a problem at the value or key that starts at offset off.
func (w *walker) problem(path string, off int64, format string, args ...any) {
	line, col := position(w.data, off)
	w.probs = append(w.probs, &Problem{File: w.file, Path: path, Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
}

// next is the offset where the next token starts: the decoder's offset is the end of the last
// token, before any separator.
func (w *walker) next() int64 {
	off := w.dec.InputOffset()
	for off < int64(len(w.data)) {
		switch w.data[off] {
		case ' ', '\t', '\n', '\r', ':', ',':
			off++
			continue
		}
		break
	}
	return off
}

// locate finds the line and column of the value at path, or of its nearest enclosing value
// the file has (a missing key is reported at its object).
func (w *walker) locate(path string) (line, col int) {
	for p := path; p != ""; p = parent(p) {
		if off, ok := w.pos[p]; ok {
			return position(w.data, off)
		}
	}
	return 0, 0
}

// parent drops the last element of a field path: things[2].name -> things[2] -> things.
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func (w *walker) echoesMistyped(path string) bool {
	for _, m := range w.mistyped {
		if path == m.path || strings.HasPrefix(path, m.path+".") || strings.HasPrefix(path, m.path+"[") {
			return true
		}
	}
	return false
}

// nulled is the document with every mistyped value replaced by null.
func (w *walker) nulled() []byte {
	var out []byte
	last := int64(0)
	for _, m := range w.mistyped { // in file order, never nested: a mistyped value is skipped whole
		out = append(out, w.data[last:m.start]...)
		out = append(out, "null"...)
		last = m.end
	}
	return append(out, w.data[last:]...)
}

// syntax turns a decoder error into a problem with a line and column, which is what a person
// editing the file needs.
func (w *walker) syntax(err error) error {
	off := w.dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		off = int64(len(w.data))
		err = errors.New("unexpected end of JSON input")
	}
	line, col := position(w.data, off)
	return &Problem{File: w.file, Line: line, Column: col, Message: fmt.Sprintf("invalid JSON: %v", err)}
}

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

func (w *walker) top(t reflect.Type) error {
	start := w.next()
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		line, col := position(w.data, start)
		return &Problem{File: w.file, Line: line, Column: col, Message: fmt.Sprintf("the fleet file must be a JSON object, got %s", describe(tok))}
	}
	if err := w.object(t, ""); err != nil {
		return err
	}
	if _, err := w.dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return w.syntax(err)
		}
		line, col := position(w.data, w.dec.InputOffset())
		return &Problem{File: w.file, Line: line, Column: col, Message: "unexpected data after the fleet object"}
	}
	return nil
}

// value checks the next value against t. Syntax errors abort the walk (nothing after them can
// be trusted); type mismatches are recorded and the walk goes on, so one run reports them all.
func (w *walker) value(t reflect.Type, path string) error {
	start := w.next()
	w.pos[path] = start
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(err)
	}
	n := len(w.probs)
	if tok == nil {
		// null leaves the Go zero value, as encoding/json does; validation then reports a
		// missing required value by name.
		return nil
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if d, ok := tok.(json.Delim); ok && d == '{' {
			return w.object(t, path)
		}
		w.problem(path, start, "expected an object, got %s", describe(tok))
	case reflect.Slice:
		if d, ok := tok.(json.Delim); ok && d == '[' {
			for i := 0; w.dec.More(); i++ {
				if err := w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err := w.dec.Token()
			if err != nil {
				return w.syntax(err)
			}
			return nil
		}
		w.problem(path, start, "expected an array, got %s", describe(tok))
	case reflect.String:
		if _, ok := tok.(string); !ok {
			w.problem(path, start, "expected a string, got %s", describe(tok))
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			w.problem(path, start, "expected true or false, got %s", describe(tok))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := tok.(json.Number)
		if !ok {
			w.problem(path, start, "expected an integer, got %s", describe(tok))
		} else if _, err := strconv.ParseInt(n.String(), 10, t.Bits()); err != nil {
			w.problem(path, start, "expected an integer, got %s", n)
		}
	case reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			w.problem(path, start, "expected a number, got %s", describe(tok))
		} else if _, err := strconv.ParseFloat(n.String(), 64); err != nil {
			w.problem(path, start, "number %s is out of range", n)
		}
	default:
		// Only reachable if types.go gains a kind this walker does not know; say so rather
		// than accept anything.
		w.problem(path, start, "unsupported field kind %s", t.Kind())
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		if err := w.skip(); err != nil {
			return err
		}
	}
	if len(w.probs) > n {
		// This value has the wrong type (containers of the right type returned above, so no
		// nested problem counts here): remember its whole span for the lenient decode.
		w.mistyped = append(w.mistyped, span{path: path, start: start, end: w.dec.InputOffset()})
	}
	return nil
}

// object walks the members of an object whose '{' was consumed.
func (w *walker) object(t reflect.Type, path string) error {
	fields := jsonFields(t)
	seen := map[string]bool{}
	for w.dec.More() {
		keyAt := w.next()
		tok, err := w.dec.Token()
		if err != nil {
			return w.syntax(err)
		}
		key, _ := tok.(string)
		where := key
		if path != "" {
			where = path + "." + key
		}
		if seen[key] {
			w.problem(where, keyAt, "duplicate key %q", key)
		}
		seen[key] = true
		ft, ok := fields[key]
		if !ok {
			at := path
			if at == "" {
				at = "(top level)"
			}
			w.problem(at, keyAt, "unknown key %q%s", key, suggest(key, fields))
			if err := w.skipValue(); err != nil {
				return err
			}
			continue
		}
		if err := w.value(ft, where); err != nil {
			return err
		}
	}
	if _, err := w.dec.Token(); err != nil {
		return w.syntax(err)
	}
	return nil
}

// skipValue consumes one whole value.
func (w *walker) skipValue() error {
	tok, err := w.dec.Token()
	if err != nil {
		return w.syntax(err)
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		return w.skip()
	}
	return nil
}

// skip consumes the rest of a container whose opening delimiter was consumed.
func (w *walker) skip() error {
	for depth := 1; depth > 0; {
		tok, err := w.dec.Token()
		if err != nil {
			return w.syntax(err)
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
		}
	}
	return nil
}

// jsonFields maps the exact JSON key of each exported field of struct t to its type.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out[name] = sf.Type
	}
	return out
}

// suggest names the known key closest to a misspelled one, if any is close.
func suggest(key string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	best, bestDist := "", min(3, len(key))
	for _, name := range names {
		if d := distance(strings.ToLower(key), strings.ToLower(name)); d < bestDist {
			best, bestDist = name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between two short keys.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		if v == '[' {
			return "an array"
		}
		return strconv.Quote(string(v))
	case string:
		return "string " + strconv.Quote(v)
	case json.Number:
		return "number " + v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(tok)
}
