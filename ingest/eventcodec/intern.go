package eventcodec

// Interner deduplicates decoded strings for DecodeInterned: events from one
// principal, region or topic share one copy of each string instead of one per
// event. It holds at most Max distinct strings and forgets them all when
// full, so attacker-controlled values cannot grow it without bound. It is not
// safe for concurrent use; give each decoding goroutine its own.
type Interner struct {
	// Max is the number of distinct strings kept; 0 means 4096.
	Max int
	m   map[string]string
}

// Intern returns a string equal to p that does not alias p.
func (in *Interner) Intern(p []byte) string {
	if s, ok := in.m[string(p)]; ok { // the conversion does not allocate
		return s
	}
	limit := in.Max
	if limit <= 0 {
		limit = 4096
	}
	if in.m == nil || len(in.m) >= limit {
		in.m = make(map[string]string, min(limit, 256))
	}
	s := string(p)
	in.m[s] = s
	return s
}
