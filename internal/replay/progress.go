package replay

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints a one-line status (records, rate, share done, ETA) to a
// terminal at most every interval. It is driven by the consumer goroutine
// and prints nothing when out is nil, so replays stay quiet in pipelines.
type progress struct {
	mu         sync.Mutex
	out        io.Writer
	start      time.Time
	last       time.Time
	interval   time.Duration
	totalBytes int64 // -1 when some input's size is unknown
	now        func() time.Time
	printed    bool
}

func newProgress(out io.Writer, totalBytes int64, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &progress{out: out, start: t, last: t, interval: 500 * time.Millisecond, totalBytes: totalBytes, now: now}
}

func (p *progress) update(records, bytes int64) {
	if p == nil || p.out == nil {
		return
	}
	t := p.now()
	if t.Sub(p.last) < p.interval {
		return
	}
	p.last = t
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "\r\033[K%s", p.line(records, bytes, t))
	p.printed = true
}

func (p *progress) line(records, bytes int64, t time.Time) string {
	el := t.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(records) / el
	}
	s := fmt.Sprintf("replay: %s records, %s rec/s", human(float64(records)), human(rate))
	if p.totalBytes > 0 && bytes > 0 {
		frac := float64(bytes) / float64(p.totalBytes)
		if frac > 1 {
			frac = 1
		}
		eta := time.Duration(el/frac*(1-frac)) * time.Second
		s += fmt.Sprintf(", %.0f%%, ETA %s", frac*100, eta.Round(time.Second))
	}
	return s
}

func (p *progress) done() {
	if p == nil || p.out == nil || !p.printed {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.out, "\r\033[K")
}

func human(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
