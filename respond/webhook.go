package respond

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/trailwatch/trailwatch/detect"
)

// Webhook headers. The signature is HMAC-SHA256 over the timestamp, a dot
// and the raw body, keyed by the shared secret: see docs/webhooks.md.
const (
	HeaderTimestamp = "X-Trailwatch-Timestamp" // Unix seconds
	HeaderSignature = "X-Trailwatch-Signature" // "v1=" + lower-case hex
	HeaderAlertID   = "X-Trailwatch-Alert-Id"  // for receivers that deduplicate
)

// Errors of VerifySignature.
var (
	ErrBadSignature = errors.New("webhook signature does not match")
	ErrStale        = errors.New("webhook timestamp outside the tolerance")
)

// Sign returns the X-Trailwatch-Signature value for body sent at timestamp
// (Unix seconds, as written in X-Trailwatch-Timestamp).
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature is what a receiver does: it checks the signature in
// constant time and rejects timestamps more than tolerance away from now,
// so a captured request cannot be replayed later. Receivers should also
// drop alert ids they have already processed inside the tolerance window.
func VerifySignature(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad timestamp", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	for _, s := range strings.Split(signature, ",") { // several during key rotation
		if hmac.Equal([]byte(strings.TrimSpace(s)), []byte(Sign(secret, timestamp, body))) {
			return nil
		}
	}
	return ErrBadSignature
}

// Webhook POSTs the alert JSON (docs/alerts.md), signed.
type Webhook struct {
	name    string
	post    poster
	secret  []byte
	headers http.Header
	now     func() time.Time
}

var _ Sink = (*Webhook)(nil)

// NewWebhook builds a generic webhook sink; key is the sink's config path
// (e.g. "sinks[0]") for error messages. Secrets are read from the
// environment now, so a missing one fails at startup, not at the first alert.
func NewWebhook(c SinkConfig, key string, o HTTPOptions) (*Webhook, error) {
	o = o.withDefaults()
	u, err := resolveURL(o.Getenv, key, &c, "")
	if err != nil {
		return nil, err
	}
	secret, err := secretFromEnv(o.Getenv, key+".secret_env", c.SecretEnv)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for i, hd := range c.Headers {
		v := hd.Value
		if hd.ValueEnv != "" {
			if v, err = secretFromEnv(o.Getenv, fmt.Sprintf("%s.headers[%d].value_env", key, i), hd.ValueEnv); err != nil {
				return nil, err
			}
		}
		h.Add(hd.Name, v)
	}
	return &Webhook{name: c.Name, post: newPoster(o.Client, u, c.Timeout), secret: []byte(secret), headers: h, now: o.Now}, nil
}

// Name implements Sink.
func (w *Webhook) Name() string { return w.name }

// Deliver implements Sink.
func (w *Webhook) Deliver(ctx context.Context, a *detect.Alert) error {
	body := a.AppendJSON(nil)
	ts := strconv.FormatInt(w.now().Unix(), 10)
	h := w.headers.Clone()
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, Sign(w.secret, ts, body))
	h.Set(HeaderAlertID, a.ID)
	return w.post.post(ctx, body, h)
}
