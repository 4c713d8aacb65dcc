package protocol

import "unsafe"

// aliasBytes returns the bytes of s without copying; they must not be
// modified.
func aliasBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// aliasString returns b as a string without copying. The decoders use it
// for keys, cursors and tokens, which then alias the message (see Request).
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
