package pipeline

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"
)

// kind is a JSON value's type.
type kind uint8

const (
	kindString kind = iota + 1
	kindNumber
	kindTrue
	kindFalse
	kindNull
	kindObject
	kindArray
)

// member is one key of the record's top-level object. Slices point into the record or into
// the decoder's scratch, so they are valid until the next parse.
type member struct {
	key []byte // unescaped
	val []byte // the raw token; strings keep their quotes and escapes
	// kind of val; esc: a string with escapes; intLit: a number with neither fraction nor
	// exponent.
	kind   kind
	esc    bool
	intLit bool
	num    decimal
	// Filled by validation: an integer field's value, written canonically, and a number
	// field's float.
	i int64
	f float64
}

// decimal is a number token read while scanning, so that the common short numbers need no
// second pass through strconv: value = (-1)^neg * mant * 10^exp, exact unless truncated.
type decimal struct {
	mant      uint64
	exp       int32
	neg       bool
	truncated bool // more than 19 significant digits, or an exponent beyond int32
}

// decoder is a strict, allocation-free JSON scanner for one flat object. It checks the whole
// grammar (RFC 8259), UTF-8 and surrogate pairs, but keeps only the top level's members:
// nested values are skipped, as no field may hold one. members is an arena: each parse
// appends one record's members, so a batch's messages can point into it until reset.
type decoder struct {
	data    []byte
	pos     int
	members []member
	strbuf  []byte
	// payloads is an arena of decoded device payloads (see decodePayload).
	payloads []byte
}

// reset empties the members and payload arenas.
func (d *decoder) reset() {
	d.members = d.members[:0]
	d.payloads = d.payloads[:0]
}

// parse scans data, appending its members to d.members. A non-empty reason means data is
// not one valid JSON object: ReasonNotJSON when it is not JSON text at all,
// ReasonMalformedJSON when it is JSON but not an object or too deep, ReasonInvalidUTF8.
func (d *decoder) parse(data []byte) (Reason, string) {
	d.data, d.pos = data, 0
	d.ws()
	if d.pos == len(data) {
		return ReasonNotJSON, "empty"
	}
	if d.peek() != '{' {
		return d.notObject()
	}
	d.pos++
	d.ws()
	if d.peek() == '}' {
		d.pos++
	} else {
		for {
			d.ws()
			if d.peek() != '"' {
				return ReasonNotJSON, "expected a key at offset " + strconv.Itoa(d.pos)
			}
			start := d.pos
			esc, r, detail := d.scanString()
			if r != "" {
				return r, detail
			}
			key := data[start+1 : d.pos-1]
			if esc {
				// Escaped keys are rare and never name a field, but compare unescaped all the
				// same so that "\u0074s" cannot smuggle a second ts past duplicate checks.
				key = unescape(nil, key)
			}
			d.ws()
			if d.peek() != ':' {
				return ReasonNotJSON, "expected ':' at offset " + strconv.Itoa(d.pos)
			}
			d.pos++
			d.ws()
			// Filled in place: a member is large enough that copying it shows in profiles.
			d.members = append(d.members, member{key: key})
			if r, detail := d.value(&d.members[len(d.members)-1], 1); r != "" {
				return r, detail
			}
			d.ws()
			c := d.peek()
			d.pos++
			if c == '}' {
				break
			}
			if c != ',' {
				return ReasonNotJSON, "expected ',' or '}' at offset " + strconv.Itoa(d.pos-1)
			}
		}
	}
	d.ws()
	if d.pos != len(data) {
		return ReasonNotJSON, "data after the object at offset " + strconv.Itoa(d.pos)
	}
	return "", ""
}

// notObject tells a JSON value that is not an object (malformed_json) from text that is not
// JSON at all (not_json), such as a binary or plain-text payload.
func (d *decoder) notObject() (Reason, string) {
	var scratch member
	if r, detail := d.value(&scratch, 0); r != "" {
		return r, detail
	}
	d.ws()
	if d.pos != len(d.data) {
		return ReasonNotJSON, "data after the value at offset " + strconv.Itoa(d.pos)
	}
	return ReasonMalformedJSON, "not a JSON object"
}

// decodePayload decodes the base64 payload the topic rule wrote (encode(*, 'base64')) into
// the decoder's payload arena and returns it. The arena only grows by starting a new backing
// array, never by moving one, so earlier payloads of the batch (and members pointing into
// them) stay valid until reset. The rules engine's alphabet is the standard one; AWS does
// not document whether it pads, so both forms are accepted.
func (d *decoder) decodePayload(src []byte) ([]byte, bool) {
	enc := base64.StdEncoding
	if len(src)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	// DecodedLen of the encoding chosen: the padded form's would be short for unpadded input,
	// and Decode panics when dst is too small.
	need := enc.DecodedLen(len(src))
	if cap(d.payloads)-len(d.payloads) < need {
		d.payloads = make([]byte, 0, max(need, 2*cap(d.payloads), 64<<10))
	}
	start := len(d.payloads)
	dst := d.payloads[start : start+need]
	n, err := enc.Decode(dst, src)
	if err != nil {
		return nil, false
	}
	d.payloads = d.payloads[:start+n]
	return d.payloads[start : start+n : start+n], true
}

func (d *decoder) peek() byte {
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value scans one value at d.pos into m (m.val, m.kind, m.esc, m.intLit).
func (d *decoder) value(m *member, depth int) (Reason, string) {
	start := d.pos
	switch c := d.peek(); {
	case c == '"':
		esc, r, detail := d.scanString()
		if r != "" {
			return r, detail
		}
		m.kind, m.esc = kindString, esc
	case c == '-' || c >= '0' && c <= '9':
		intLit, ok := d.scanNumber(&m.num)
		if !ok {
			return ReasonNotJSON, "invalid number at offset " + strconv.Itoa(start)
		}
		m.kind, m.intLit = kindNumber, intLit
	case c == 't':
		if !d.literal("true") {
			return ReasonNotJSON, "invalid literal at offset " + strconv.Itoa(start)
		}
		m.kind = kindTrue
	case c == 'f':
		if !d.literal("false") {
			return ReasonNotJSON, "invalid literal at offset " + strconv.Itoa(start)
		}
		m.kind = kindFalse
	case c == 'n':
		if !d.literal("null") {
			return ReasonNotJSON, "invalid literal at offset " + strconv.Itoa(start)
		}
		m.kind = kindNull
	case c == '{' || c == '[':
		if r, detail := d.skipContainer(depth + 1); r != "" {
			return r, detail
		}
		m.kind = kindArray
		if c == '{' {
			m.kind = kindObject
		}
	default:
		return ReasonNotJSON, "expected a value at offset " + strconv.Itoa(start)
	}
	m.val = d.data[start:d.pos]
	return "", ""
}

// skipContainer checks and skips an object or array; recursion is bounded by MaxDepth.
func (d *decoder) skipContainer(depth int) (Reason, string) {
	if depth > MaxDepth {
		return ReasonMalformedJSON, "nested deeper than " + strconv.Itoa(MaxDepth)
	}
	open := d.data[d.pos]
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	d.pos++
	d.ws()
	if d.peek() == closing {
		d.pos++
		return "", ""
	}
	var scratch member
	for {
		d.ws()
		if open == '{' {
			if d.peek() != '"' {
				return ReasonNotJSON, "expected a key at offset " + strconv.Itoa(d.pos)
			}
			if _, r, detail := d.scanString(); r != "" {
				return r, detail
			}
			d.ws()
			if d.peek() != ':' {
				return ReasonNotJSON, "expected ':' at offset " + strconv.Itoa(d.pos)
			}
			d.pos++
			d.ws()
		}
		if r, detail := d.value(&scratch, depth); r != "" {
			return r, detail
		}
		d.ws()
		c := d.peek()
		d.pos++
		if c == closing {
			return "", ""
		}
		if c != ',' {
			return ReasonNotJSON, "expected ',' or '" + string(closing) + "' at offset " + strconv.Itoa(d.pos-1)
		}
	}
}

func (d *decoder) literal(lit string) bool {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		return false
	}
	d.pos += len(lit)
	return true
}

// scanNumber follows RFC 8259's number grammar and accumulates the decimal on the way, in
// locals so that the loops stay in registers.
func (d *decoder) scanNumber(num *decimal) (intLit, ok bool) {
	b, i := d.data, d.pos
	var mant uint64
	var exp int64
	nd := 0 // significant digits kept in mant
	neg, truncated := false, false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if nd < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				nd++
			} else {
				exp++ // a dropped integer digit still scales the value
				truncated = truncated || b[i] != '0'
			}
		}
	default:
		return false, false
	}
	intLit = true
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if nd < 19 {
				mant = mant*10 + uint64(b[i]-'0')
				if mant != 0 {
					nd++ // leading zeros of a fraction are not significant
				}
				exp--
			} else {
				truncated = truncated || b[i] != '0'
			}
		}
		intLit = false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false, false
		}
		e := int64(0)
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			if e < 1<<40 {
				e = e*10 + int64(b[i]-'0')
			}
		}
		if eneg {
			e = -e
		}
		exp += e
		intLit = false
	}
	if exp > math.MaxInt32 || exp < math.MinInt32 {
		truncated, exp = true, 0
	}
	*num = decimal{mant: mant, exp: int32(exp), neg: neg, truncated: truncated}
	d.pos = i
	return intLit, true
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// float is the decimal's float64 when the fast path is exact (Clinger: a mantissa below 2^53
// times or over an exact power of ten rounds once, correctly), else false.
func (n *decimal) float() (float64, bool) {
	if n.truncated || n.mant >= 1<<53 || n.exp < -22 || n.exp > 22 {
		return 0, false
	}
	x := float64(n.mant)
	if n.exp < 0 {
		x /= pow10[-n.exp]
	} else {
		x *= pow10[n.exp]
	}
	if n.neg {
		x = -x
	}
	return x, true
}

// scanString scans the string at d.pos (an opening quote) and leaves d.pos after its closing
// quote. It rejects control characters, bad escapes, invalid UTF-8 and unpaired surrogates.
func (d *decoder) scanString() (esc bool, r Reason, detail string) {
	b := d.data
	start := d.pos
	i := d.pos + 1
	for i < len(b) {
		// Most strings are plain ASCII (a base64 payload is 1.4 KB of it): skip eight such
		// bytes per step while a word has no control byte, no byte >= 0x80, no quote and no
		// backslash, then one table lookup per byte.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if hasLess(w, 0x20) || w&hiBits != 0 || hasZero(w^(loBits*'"')) || hasZero(w^(loBits*'\\')) {
				break
			}
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return esc, "", ""
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return esc, ReasonNotJSON, "unterminated string at offset " + strconv.Itoa(start)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r1, ok := hex4(b[i+2:])
				if !ok {
					return esc, ReasonNotJSON, "invalid \\u escape at offset " + strconv.Itoa(i)
				}
				i += 6
				if r1 >= 0xD800 && r1 <= 0xDFFF {
					if r1 >= 0xDC00 || i+1 >= len(b) || b[i] != '\\' || b[i+1] != 'u' {
						return esc, ReasonInvalidUTF8, "unpaired surrogate escape at offset " + strconv.Itoa(i-6)
					}
					r2, ok := hex4(b[i+2:])
					if !ok {
						return esc, ReasonNotJSON, "invalid \\u escape at offset " + strconv.Itoa(i)
					}
					if r2 < 0xDC00 || r2 > 0xDFFF {
						return esc, ReasonInvalidUTF8, "unpaired surrogate escape at offset " + strconv.Itoa(i-6)
					}
					i += 6
				}
			default:
				return esc, ReasonNotJSON, "invalid escape at offset " + strconv.Itoa(i)
			}
		case c < 0x20:
			return esc, ReasonNotJSON, "control character in string at offset " + strconv.Itoa(i)
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return esc, ReasonInvalidUTF8, "invalid UTF-8 at offset " + strconv.Itoa(i)
			}
			i += size
		}
	}
	return esc, ReasonNotJSON, "unterminated string at offset " + strconv.Itoa(start)
}

// Word-at-a-time tests (Hacker's Delight; "Bit Twiddling Hacks", determine if a word has a
// zero byte / a byte less than n). They never miss a byte that matches; a false alarm only
// sends the scan to the exact byte loop.
const (
	loBits = 0x0101010101010101
	hiBits = 0x8080808080808080
)

// hasZero reports whether some byte of w is zero.
func hasZero(w uint64) bool { return (w-loBits)&^w&hiBits != 0 }

// hasLess reports whether some byte of w is below n (n <= 128).
func hasLess(w uint64, n uint64) bool { return (w-loBits*n)&^w&hiBits != 0 }

// plain marks the bytes a string may hold as they are: printable ASCII but quote and
// backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// unescape appends the decoded form of a string's inside (without quotes) that scanString
// accepted.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s[i+2:])
			i += 6
			if r >= 0xD800 && r <= 0xDBFF {
				r2, _ := hex4(s[i+2:])
				r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}
