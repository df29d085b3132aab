package vpcflow

import (
	"net/netip"
	"unsafe"
)

// isSpace reports the separators of a flow line. AWS writes single spaces; runs
// of spaces and tabs are tolerated.
func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// trimLine removes surrounding blanks and the line terminator.
func trimLine(b []byte) []byte {
	for len(b) > 0 {
		c := b[len(b)-1]
		if c != '\n' && c != '\r' && c != ' ' && c != '\t' {
			break
		}
		b = b[:len(b)-1]
	}
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// split appends the space-separated tokens of line to dst, at most limit+1 of
// them (one more than allowed, so that "too many columns" is detectable
// without scanning a hostile line to its end).
func split(dst [][]byte, line []byte, limit int) [][]byte {
	i, n := 0, len(line)
	for i < n {
		for i < n && isSpace(line[i]) {
			i++
		}
		if i == n {
			break
		}
		j := i
		for j < n && !isSpace(line[j]) {
			j++
		}
		dst = append(dst, line[i:j:j])
		if len(dst) > limit {
			break
		}
		i = j
	}
	return dst
}

func isNull(b []byte) bool { return len(b) == 1 && b[0] == '-' }

// parseUint parses a decimal number no larger than max. ok is false for
// anything else (signs, spaces, overflow, empty).
func parseUint(b []byte, max uint64) (v uint64, ok bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, false
		}
		if v > (max-uint64(d))/10 {
			return 0, false
		}
		v = v*10 + uint64(d)
	}
	return v, true
}

// parseAddr parses an IPv4 or IPv6 address without allocating. IPv4 is parsed
// by hand; IPv6 goes to netip on a string that aliases b, which is safe because
// zones (the only part netip keeps a reference to) are refused first and the
// error is dropped.
func parseAddr(b []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(b); ok {
		return a, true
	}
	if len(b) < 2 || len(b) > 45 {
		return netip.Addr{}, false
	}
	hasColon := false
	for _, c := range b {
		switch {
		case c == ':':
			hasColon = true
		case c == '.', c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return netip.Addr{}, false // also refuses '%' zones
		}
	}
	if !hasColon {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

func parseIPv4(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	part, digits, val := 0, 0, 0
	for _, c := range b {
		if c == '.' {
			if digits == 0 || part == 3 {
				return netip.Addr{}, false
			}
			ip[part] = byte(val)
			part, digits, val = part+1, 0, 0
			continue
		}
		d := int(c) - '0'
		if d < 0 || d > 9 || (digits == 1 && val == 0) { // no leading zeros, as netip
			return netip.Addr{}, false
		}
		val = val*10 + d
		digits++
		if val > 255 {
			return netip.Addr{}, false
		}
	}
	if part != 3 || digits == 0 {
		return netip.Addr{}, false
	}
	ip[3] = byte(val)
	return netip.AddrFrom4(ip), true
}

// equalFoldASCII compares b with an upper-case ASCII s, ignoring case.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
