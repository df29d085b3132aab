package cloudtrail

import (
	"bytes"
	"unicode/utf8"
)

// interner hands out one shared string per distinct byte sequence, so that the
// strings that repeat from record to record (principal keys, actions, regions,
// account ids, error codes) are allocated once, not once per record. It is
// bounded: when full it starts over, which keeps memory flat on adversarial or
// very high-cardinality input at the cost of re-allocating the hot set.
type interner struct {
	m   map[string]string
	max int
}

// maxInternLen keeps one-off long values (policy documents smuggled into a
// principal field, say) out of the table.
const maxInternLen = 256

func newInterner(max int) *interner {
	return &interner{m: make(map[string]string, 1024), max: max}
}

// str returns b as a string that does not alias b, replacing invalid UTF-8
// so that every string an Event carries is valid UTF-8.
func (t *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := t.m[string(b)]; ok { // no allocation for the lookup
		return s
	}
	if !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
		if s, ok := t.m[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	if len(b) > maxInternLen {
		return s
	}
	if len(t.m) >= t.max {
		clear(t.m)
	}
	t.m[s] = s
	return s
}

// copyStr is str for values that rarely repeat (event ids): a plain copy.
func copyStr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if !utf8.Valid(b) {
		return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
	}
	return string(b)
}
