package respond

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trailwatch/trailwatch/detect"
)

// Sink receives alerts. Deliver must be safe to call again with the same
// alert (at-least-once delivery); it returns nil when the alert was accepted,
// an error wrapped by Permanent when retrying cannot help, and any other
// error when it may.
type Sink interface {
	// Name is the sink's name from the config; it is a metric label value.
	Name() string
	Deliver(ctx context.Context, a *detect.Alert) error
}

// Sentinel errors. Match them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every Config.Validate error.
	ErrInvalidConfig = errors.New("invalid respond config")
	// ErrPermanent marks a delivery error that must not be retried (a 4xx
	// other than 408 and 429, an alert too large to send).
	ErrPermanent = errors.New("permanent delivery failure")
	// ErrCircuitOpen is returned without calling a sink whose circuit
	// breaker is open.
	ErrCircuitOpen = errors.New("circuit breaker open")
	// ErrNoAuditRecord is returned by Release when the audit log holds no
	// active quarantine of the principal.
	ErrNoAuditRecord = errors.New("no active quarantine in the audit log")
	// ErrOtherAccount is returned when a principal lives in an account the
	// responder has no credentials for.
	ErrOtherAccount = errors.New("principal in another account and no assume_role configured")
)

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// RetryAfterError asks the responder to wait at least After before the next
// attempt (HTTP 429 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }
