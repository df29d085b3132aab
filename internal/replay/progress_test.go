package replay

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var buf bytes.Buffer
	p := newProgress(&buf, 1000, clock)
	p.update(10, 10) // too soon: nothing
	if buf.Len() != 0 {
		t.Fatalf("printed before the interval: %q", buf.String())
	}
	now = now.Add(2 * time.Second)
	p.update(200000, 250)
	got := buf.String()
	for _, want := range []string{"200.0k records", "100.0k rec/s", "25%", "ETA 6s"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress line %q lacks %q", got, want)
		}
	}
	p.done()
	if !strings.HasSuffix(buf.String(), "\r\033[K") {
		t.Error("line not cleared at the end")
	}
	// Unknown total: no share, no ETA.
	buf.Reset()
	p = newProgress(&buf, -1, clock)
	now = now.Add(time.Second)
	p.update(5, 5)
	if strings.Contains(buf.String(), "ETA") {
		t.Errorf("ETA without a known total: %q", buf.String())
	}
	// Not on a terminal: quiet.
	var q *progress = newProgress(nil, 10, clock)
	now = now.Add(time.Minute)
	q.update(1, 1)
	q.done()
}
