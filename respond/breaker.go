package respond

import (
	"sync"
	"time"
)

// breaker is one sink's circuit breaker: closed until threshold consecutive
// failures, then open (no calls) for cooldown, then half-open: one trial
// call closes it on success or re-opens it on failure. It keeps a sink that
// is down from consuming every alert's retry budget at full timeout.
type breaker struct {
	mu        sync.Mutex
	threshold int
	cooldown  time.Duration
	failures  int
	state     int
	openedAt  time.Time
	onChange  func(state int)
}

func newBreaker(threshold int, cooldown time.Duration, onChange func(int)) *breaker {
	if onChange == nil {
		onChange = func(int) {}
	}
	b := &breaker{threshold: threshold, cooldown: cooldown, onChange: onChange}
	onChange(BreakerClosed)
	return b
}

// allow reports whether a call may be made now; when it returns false, wait
// is how long until the breaker goes half-open.
func (b *breaker) allow(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != BreakerOpen {
		return true, 0
	}
	if d := b.openedAt.Add(b.cooldown).Sub(now); d > 0 {
		return false, d
	}
	b.set(BreakerHalfOpen)
	return true, 0
}

// record reports a call's outcome. Permanent failures (the sink answered
// and refused this alert) say nothing about its health and are not counted.
func (b *breaker) record(now time.Time, success bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if success {
		b.failures = 0
		b.set(BreakerClosed)
		return
	}
	b.failures++
	if b.state == BreakerHalfOpen || b.failures >= b.threshold {
		b.openedAt = now
		b.set(BreakerOpen)
	}
}

func (b *breaker) set(s int) {
	if b.state != s {
		b.state = s
		b.onChange(s)
	}
}

func (b *breaker) current() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// remaining is how long the breaker stays open (0 when it is not open).
func (b *breaker) remaining(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != BreakerOpen {
		return 0
	}
	return max(b.openedAt.Add(b.cooldown).Sub(now), 0)
}
