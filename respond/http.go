package respond

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// HTTPOptions are the dependencies of the HTTP sinks (webhook, Slack,
// PagerDuty). Zero values take defaults.
type HTTPOptions struct {
	// Client sends the requests; default a client that never follows
	// redirects (a 3xx is a permanent failure, not a hop to elsewhere).
	Client *http.Client
	// Getenv reads secrets named in the config; default os.Getenv.
	Getenv func(string) string
	// Now stamps webhook signatures; default time.Now.
	Now func() time.Time
}

func (o HTTPOptions) withDefaults() HTTPOptions {
	if o.Client == nil {
		o.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// secretFromEnv reads a required secret; the error names the config key and
// the variable, never the value.
func secretFromEnv(getenv func(string) string, key, name string) (string, error) {
	v := getenv(name)
	if v == "" {
		return "", fmt.Errorf("%w: respond.%s: environment variable %s is empty or unset", ErrInvalidConfig, key, name)
	}
	return v, nil
}

// resolveURL returns the sink's URL from url or url_env.
func resolveURL(getenv func(string) string, key string, c *SinkConfig, def string) (string, error) {
	if c.URL != "" {
		return c.URL, nil
	}
	if c.URLEnv == "" {
		return def, nil
	}
	u, err := secretFromEnv(getenv, key+".url_env", c.URLEnv)
	if err != nil {
		return "", err
	}
	if err := checkURL(u); err != nil {
		// The URL is a secret: say which variable, not what it holds.
		return "", fmt.Errorf("%w: respond.%s.url_env: %s does not hold an http(s) URL", ErrInvalidConfig, key, c.URLEnv)
	}
	return u, nil
}

// poster POSTs JSON to one endpoint and classifies the answer.
type poster struct {
	client  *http.Client
	url     string
	timeout time.Duration
}

func newPoster(client *http.Client, url string, timeout time.Duration) poster {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return poster{client: client, url: url, timeout: timeout}
}

// post sends body and returns nil on 2xx, a RetryAfterError on 429, an
// error wrapped by Permanent on any other 4xx except 408 (and on 3xx), and a
// plain (retryable) error on 408, 5xx and transport failures. Errors never
// include the URL, which may carry a secret (Slack).
func (p *poster) post(ctx context.Context, body []byte, hdr http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(errors.New("build request: invalid URL"))
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "trailwatch")
	resp, err := p.client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop *url.Error's "Post <url>:" prefix
		}
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // reuse the connection
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	herr := &HTTPStatusError{Code: resp.StatusCode, Body: string(bytes.ToValidUTF8(snippet, []byte("?")))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &RetryAfterError{After: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: herr}
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return herr
	default:
		return Permanent(herr)
	}
}

// HTTPStatusError is a non-2xx answer.
type HTTPStatusError struct {
	Code int
	Body string // the first 512 bytes of the response body
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("HTTP %d: %q", e.Code, e.Body)
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// unreadable (the responder then uses its own backoff).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		if s > 86400 {
			s = 86400
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
