// Package jsonenc appends JSON strings to byte slices without allocating, for the telemetry
// processor's hot path (the pipeline's records and the envelope's encrypted fields).
package jsonenc

const hex = "0123456789abcdef"

// AppendString appends s to dst as a quoted JSON string. s is taken as bytes: the pipeline
// has already checked it is valid UTF-8.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
