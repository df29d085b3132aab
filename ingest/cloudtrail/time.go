package cloudtrail

import "time"

// parseTime reads an RFC 3339 timestamp: YYYY-MM-DD, then 'T' (or 't', or a
// space as RFC 3339 section 5.6 allows), hh:mm:ss, an optional fraction, and a
// zone ('Z' or ±hh:mm). A timestamp without a zone is refused rather than
// guessed. The result is in UTC. It is written out instead of using
// time.Parse so that the hot path neither allocates nor accepts layouts other
// than RFC 3339; the error is a short reason for a reject's Detail.
//
// With assumeUTC a timestamp without a zone is read as UTC instead (see
// Options.AssumeUTC).
func parseTime(b []byte, assumeUTC bool) (time.Time, string) {
	if len(b) < len("2006-01-02T15:04:05") {
		return time.Time{}, "not an RFC 3339 timestamp"
	}
	year, ok1 := digits(b, 0, 4)
	month, ok2 := digits(b, 5, 2)
	day, ok3 := digits(b, 8, 2)
	hour, ok4 := digits(b, 11, 2)
	minute, ok5 := digits(b, 14, 2)
	sec, ok6 := digits(b, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, "not an RFC 3339 timestamp"
	}
	switch b[10] {
	case 'T', 't', ' ':
	default:
		return time.Time{}, "not an RFC 3339 timestamp"
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, "date or time out of range"
	}
	i, nsec := 19, 0
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start < 9 {
				nsec = nsec*10 + int(b[i]-'0')
			}
			i++
		}
		if i == start {
			return time.Time{}, "empty fraction of a second"
		}
		for n := i - start; n < 9; n++ {
			nsec *= 10
		}
	}
	offset := 0
	if i == len(b) {
		if !assumeUTC {
			return time.Time{}, "no time zone"
		}
		return finish(year, month, day, hour, minute, sec, nsec, 0)
	}
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return time.Time{}, "bad zone offset"
		}
		oh, ok1 := digits(b, i+1, 2)
		om, ok2 := digits(b, i+4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, "bad zone offset"
		}
		offset = (oh*60 + om) * 60
		if b[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, "bad time zone"
	}
	if i != len(b) {
		return time.Time{}, "trailing characters after the time zone"
	}
	return finish(year, month, day, hour, minute, sec, nsec, offset)
}

func finish(year, month, day, hour, minute, sec, nsec, offset int) (time.Time, string) {
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC).Add(-time.Duration(offset) * time.Second)
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, "year out of range in UTC"
	}
	return t, ""
}

// digits reads n decimal digits of b at i.
func digits(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
