package pipeline

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

// TestScanStringWordPath: the eight-bytes-at-a-time skip stops exactly where the byte loop
// would, for every byte value at every position of a word, so no control character, quote,
// backslash or non-ASCII byte slips through unchecked.
func TestScanStringWordPath(t *testing.T) {
	for c := 0; c < 256; c++ {
		for k := 0; k < 24; k++ {
			body := bytes.Repeat([]byte("a"), 32)
			body[k] = byte(c)
			data := append(append([]byte(`"`), body...), '"')
			d := decoder{data: data}
			_, r, detail := d.scanString()
			at := "offset " + strconv.Itoa(k+1)
			switch {
			case c == '"':
				if r != "" || d.pos != k+2 {
					t.Fatalf("byte %#x at %d: reason %q, pos %d; want the string to end there", c, k, r, d.pos)
				}
			case c == '\\':
				if r != ReasonNotJSON || !strings.Contains(detail, "invalid escape at "+at) {
					t.Fatalf("byte %#x at %d: %q %q", c, k, r, detail)
				}
			case c < 0x20:
				if r != ReasonNotJSON || !strings.Contains(detail, "control character in string at "+at) {
					t.Fatalf("byte %#x at %d: %q %q", c, k, r, detail)
				}
			case c >= 0x80:
				if r != ReasonInvalidUTF8 || !strings.Contains(detail, at) {
					t.Fatalf("byte %#x at %d: %q %q", c, k, r, detail)
				}
			default:
				if r != "" || d.pos != len(data) {
					t.Fatalf("byte %#x at %d: reason %q %q, pos %d of %d", c, k, r, detail, d.pos, len(data))
				}
			}
		}
	}
}
