package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// Alert is one explained outlier: a principal whose metric in one window is
// at least Config.Sigma effective standard deviations above its baseline.
// docs/alerts.md documents every field; AppendJSON writes them in a fixed
// order with fixed float formatting, one object per line.
type Alert struct {
	ID              string    `json:"id"` // hex, deterministic from principal, metric and window start
	Principal       string    `json:"principal"`
	PrincipalType   string    `json:"principal_type"`
	Account         string    `json:"account"`
	Source          string    `json:"source"` // of the event that crossed the threshold
	Metric          string    `json:"metric"`
	WindowStart     string    `json:"window_start"` // RFC 3339 UTC
	WindowEnd       string    `json:"window_end"`
	Observed        float64   `json:"observed"`  // the window's value when the threshold was crossed
	Mean            float64   `json:"mean"`      // baseline (or peer) mean as the window opened
	StdDev          float64   `json:"stddev"`    // effective sigma used: max(stddev, Poisson floor, min_sigma)
	ZScore          float64   `json:"zscore"`    // (observed - mean) / stddev
	Threshold       float64   `json:"threshold"` // the value observed had to reach
	Severity        string    `json:"severity"`
	BaselineWindows int       `json:"baseline_windows"`
	PeerGroup       string    `json:"peer_group,omitempty"`
	Top             []TopItem `json:"top"`
	Evidence        []string  `json:"evidence"`
	DetectedAt      string    `json:"detected_at"` // event time of the crossing event
	EmittedAt       string    `json:"emitted_at,omitempty"`

	detected time.Time // for ordering; DetectedAt's value
	window   int64     // window index, for ordering
}

// TopItem is one entry of an alert's explanation: an action or destination,
// its (Space-Saving upper-bound) value in the window so far and its share of
// the observed value.
type TopItem struct {
	Key   string  `json:"key"`
	Value float64 `json:"value"`
	Share float64 `json:"share"`
}

// AlertID derives an alert's id: the first 16 bytes of SHA-256 over the
// principal key, the metric name and the window start (RFC 3339), each
// followed by a NUL byte, in lower-case hex.
func AlertID(principal, metric, windowStart string) string {
	h := sha256.New()
	h.Write([]byte(principal))
	h.Write([]byte{0})
	h.Write([]byte(metric))
	h.Write([]byte{0})
	h.Write([]byte(windowStart))
	h.Write([]byte{0})
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// MarshalJSON implements json.Marshaler with AppendJSON.
func (a *Alert) MarshalJSON() ([]byte, error) { return a.AppendJSON(nil), nil }

// AppendJSON appends the alert as one JSON object (no trailing newline).
// Fields appear in the order of the struct; floats are rounded to 6
// decimal places and written in their shortest form, never in exponent
// notation, so the bytes depend only on the values.
func (a *Alert) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendString(dst, a.ID)
	dst = append(dst, `,"principal":`...)
	dst = appendString(dst, a.Principal)
	dst = append(dst, `,"principal_type":`...)
	dst = appendString(dst, a.PrincipalType)
	dst = append(dst, `,"account":`...)
	dst = appendString(dst, a.Account)
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, a.Source)
	dst = append(dst, `,"metric":`...)
	dst = appendString(dst, a.Metric)
	dst = append(dst, `,"window_start":`...)
	dst = appendString(dst, a.WindowStart)
	dst = append(dst, `,"window_end":`...)
	dst = appendString(dst, a.WindowEnd)
	dst = append(dst, `,"observed":`...)
	dst = appendFloat(dst, a.Observed)
	dst = append(dst, `,"mean":`...)
	dst = appendFloat(dst, a.Mean)
	dst = append(dst, `,"stddev":`...)
	dst = appendFloat(dst, a.StdDev)
	dst = append(dst, `,"zscore":`...)
	dst = appendFloat(dst, a.ZScore)
	dst = append(dst, `,"threshold":`...)
	dst = appendFloat(dst, a.Threshold)
	dst = append(dst, `,"severity":`...)
	dst = appendString(dst, a.Severity)
	dst = append(dst, `,"baseline_windows":`...)
	dst = strconv.AppendInt(dst, int64(a.BaselineWindows), 10)
	if a.PeerGroup != "" {
		dst = append(dst, `,"peer_group":`...)
		dst = appendString(dst, a.PeerGroup)
	}
	dst = append(dst, `,"top":[`...)
	for i, t := range a.Top {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendString(dst, t.Key)
		dst = append(dst, `,"value":`...)
		dst = appendFloat(dst, t.Value)
		dst = append(dst, `,"share":`...)
		dst = appendFloat(dst, t.Share)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"evidence":[`...)
	for i, e := range a.Evidence {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, e)
	}
	dst = append(dst, `],"detected_at":`...)
	dst = appendString(dst, a.DetectedAt)
	if a.EmittedAt != "" {
		dst = append(dst, `,"emitted_at":`...)
		dst = appendString(dst, a.EmittedAt)
	}
	return append(dst, '}')
}

// appendFloat writes x rounded to 6 decimals in plain notation; values that
// JSON cannot carry (NaN, infinities) become null. Rounding keeps the last
// bits of float arithmetic, which may differ between CPU architectures (fused
// multiply-add), out of the output.
func appendFloat(dst []byte, x float64) []byte {
	if !finite(x) {
		return append(dst, "null"...)
	}
	if math.Abs(x) < 1e15 {
		x = math.Round(x*1e6) / 1e6
	}
	if x == 0 {
		x = 0 // no "-0"
	}
	return strconv.AppendFloat(dst, x, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// control characters and U+2028/U+2029 are escaped, so any principal name an
// attacker chooses yields one valid line of JSON.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
