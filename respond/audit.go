package respond

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Audit actions and results. Results are metric label values, so the set
// is fixed.
const (
	ActionQuarantine = "quarantine"
	ActionRelease    = "release"

	ResultQuarantined        = "quarantined"         // live calls made
	ResultDryRun             = "dry_run"             // calls logged and audited, not made
	ResultAlreadyQuarantined = "already_quarantined" // an earlier quarantine is still in place
	ResultProtected          = "protected"           // protected principal: alert only
	ResultNotQuarantinable   = "not_quarantinable"   // Root, AWSService, ...: alert only
	ResultRateLimited        = "rate_limited"        // max_actions_per_hour reached: alert only
	ResultFailed             = "failed"              // a call failed; see Error and Calls
	ResultDuplicate          = "duplicate"           // alert already handled (re-delivery); not audited again
	ResultReleased           = "released"
)

// ActionResults lists every result, for metrics.
var ActionResults = []string{ResultQuarantined, ResultDryRun, ResultAlreadyQuarantined, ResultProtected,
	ResultNotQuarantinable, ResultRateLimited, ResultFailed, ResultDuplicate, ResultReleased}

// AuditRecord is one line of the audit log: what was decided about one
// alert (or one release), the exact calls, and the state they replaced.
type AuditRecord struct {
	Time          string         `json:"time"` // RFC 3339 UTC, wall clock
	Action        string         `json:"action"`
	AlertID       string         `json:"alert_id,omitempty"`
	Principal     string         `json:"principal"`
	PrincipalType string         `json:"principal_type"`
	Account       string         `json:"account"`
	DryRun        bool           `json:"dry_run"`
	Result        string         `json:"result"`
	Reason        string         `json:"reason,omitempty"` // why alert-only, in words
	Calls         []Call         `json:"calls"`
	Previous      *PreviousState `json:"previous,omitempty"`
	Error         string         `json:"error,omitempty"`
}

// Call is one AWS API call, made or (in dry-run) to be made.
type Call struct {
	API    string            `json:"api"` // "iam:PutUserPolicy"
	Params map[string]string `json:"params"`
	Made   bool              `json:"made"` // the call returned success
	Error  string            `json:"error,omitempty"`
}

// PreviousState is what a quarantine replaced, for Release.
type PreviousState struct {
	UserName          string     `json:"user_name,omitempty"`
	RoleName          string     `json:"role_name,omitempty"`
	PolicyName        string     `json:"policy_name,omitempty"`        // the inline policy added
	AccessKeys        []string   `json:"access_keys,omitempty"`        // keys that were Active and were deactivated
	NetworkInterfaces []ENIState `json:"network_interfaces,omitempty"` // security groups before the swap
}

// ENIState is one network interface's security groups before quarantine.
type ENIState struct {
	ID     string   `json:"id"`
	VPC    string   `json:"vpc"`
	Groups []string `json:"groups"`
}

type auditWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// AuditLog is the append-only JSON-lines audit file, indexed in memory:
// which alerts were handled, which principals are quarantined now (a live
// quarantine not followed by a release) and when actions were taken. It
// re-reads lines appended by other processes (trailwatch release) before
// every decision, so a release is seen without a restart.
type AuditLog struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	off     int64 // bytes of the file indexed so far
	alerts  map[string]bool
	active  map[string]*AuditRecord
	actions []time.Time // times of quarantine actions (live or dry-run), oldest first
	mirror  auditWriter
	topic   string
}

// OpenAuditLog opens (creating) the audit file and indexes it.
func OpenAuditLog(path string) (*AuditLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	l := &AuditLog{path: path, f: f, alerts: map[string]bool{}, active: map[string]*AuditRecord{}}
	if err := l.refresh(); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// MirrorTo also writes every record to a Kafka topic (keyed by principal).
func (l *AuditLog) MirrorTo(w auditWriter, topic string) { l.mirror, l.topic = w, topic }

// Close closes the file.
func (l *AuditLog) Close() error { return l.f.Close() }

// refresh indexes lines appended since the last call. A torn last line (a
// crash mid-write) is left for the next call; an unreadable complete line
// is an error, because an audit log that cannot be read cannot be trusted
// for release or idempotence.
func (l *AuditLog) refresh() error {
	st, err := l.f.Stat()
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if st.Size() <= l.off {
		return nil
	}
	r := bufio.NewReader(io.NewSectionReader(l.f, l.off, st.Size()-l.off))
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return nil // a partial line without newline waits
		}
		if err != nil {
			return fmt.Errorf("audit log: %w", err)
		}
		n := int64(len(line))
		if line = bytes.TrimSpace(line); len(line) > 0 {
			var rec AuditRecord
			if err := json.Unmarshal(line, &rec); err != nil {
				return fmt.Errorf("audit log %s at byte %d: %w", l.path, l.off, err)
			}
			l.index(&rec)
		}
		l.off += n
	}
}

func (l *AuditLog) index(rec *AuditRecord) {
	if rec.AlertID != "" && rec.Result != ResultFailed {
		l.alerts[rec.AlertID] = true
	}
	switch {
	case rec.Action == ActionQuarantine && (rec.Result == ResultQuarantined || rec.Result == ResultDryRun):
		if t, err := time.Parse(time.RFC3339Nano, rec.Time); err == nil {
			l.actions = append(l.actions, t)
		}
		if rec.Result == ResultQuarantined {
			l.active[rec.Principal] = rec
		}
	case rec.Action == ActionQuarantine && rec.Result == ResultFailed && !rec.DryRun:
		// A partly applied quarantine: keep it so a retry merges its
		// previous state and a release can undo what was done.
		if _, ok := l.active[rec.Principal]; !ok && anyMade(rec.Calls) {
			l.active[rec.Principal] = rec
		}
	case rec.Action == ActionRelease && rec.Result == ResultReleased && !rec.DryRun:
		delete(l.active, rec.Principal)
	}
}

func anyMade(cs []Call) bool {
	for _, c := range cs {
		if c.Made {
			return true
		}
	}
	return false
}

// Append writes rec as one line, syncs it, indexes it and mirrors it.
func (l *AuditLog) Append(ctx context.Context, rec *AuditRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.refresh(); err != nil {
		return err
	}
	if _, err := l.f.Write(b); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	l.off += int64(len(b))
	l.index(rec)
	if l.mirror != nil {
		if err := l.mirror.WriteMessages(ctx, kafka.Message{Topic: l.topic, Key: []byte(rec.Principal), Value: b[:len(b)-1]}); err != nil {
			return fmt.Errorf("audit topic: %w", err)
		}
	}
	return nil
}

// Seen reports whether an alert was already handled (any result but failed).
func (l *AuditLog) Seen(alertID string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.refresh(); err != nil {
		return false, err
	}
	return l.alerts[alertID], nil
}

// Active returns the record of the principal's quarantine in place (a live
// quarantine, possibly partly failed, not followed by a release).
func (l *AuditLog) Active(principal string) (*AuditRecord, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.refresh(); err != nil {
		return nil, err
	}
	return l.active[principal], nil
}

// ActionsSince counts quarantine actions (live or dry-run) at or after t.
func (l *AuditLog) ActionsSince(t time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.refresh(); err != nil {
		return 0, err
	}
	n := 0
	for _, a := range l.actions {
		if !a.Before(t) {
			n++
		}
	}
	return n, nil
}

// ReadAudit reads every record of an audit file, in order.
func ReadAudit(path string) ([]AuditRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out []AuditRecord
	for i, line := range bytes.Split(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r AuditRecord
		if err := json.Unmarshal(line, &r); err != nil {
			return out, fmt.Errorf("audit log %s line %d: %w", path, i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}
