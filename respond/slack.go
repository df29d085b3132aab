package respond

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/trailwatch/trailwatch/detect"
)

// Slack posts to a Slack incoming webhook: a header, who and what, how far
// from normal, the top actions and links to the evidence, as Block Kit
// blocks with a plain-text fallback.
type Slack struct {
	name     string
	post     poster
	evidence string
}

var _ Sink = (*Slack)(nil)

// NewSlack builds a Slack sink; key is the sink's config path.
func NewSlack(c SinkConfig, key string, o HTTPOptions) (*Slack, error) {
	o = o.withDefaults()
	u, err := resolveURL(o.Getenv, key, &c, "")
	if err != nil {
		return nil, err
	}
	return &Slack{name: c.Name, post: newPoster(o.Client, u, c.Timeout), evidence: c.EvidenceURL}, nil
}

// Name implements Sink.
func (s *Slack) Name() string { return s.name }

// Deliver implements Sink.
func (s *Slack) Deliver(ctx context.Context, a *detect.Alert) error {
	body, err := json.Marshal(slackMessage(a, s.evidence))
	if err != nil {
		return Permanent(err)
	}
	return s.post.post(ctx, body, nil)
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackPayload struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackEscape escapes the three characters Slack's mrkdwn treats as control
// (so a principal name cannot inject a link or a mention) and caps length.
func slackEscape(s string, max int) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	return truncateRunes(s, max)
}

func truncateRunes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

func slackMessage(a *detect.Alert, evidenceURL string) slackPayload {
	p := slackEscape(a.Principal, 300)
	summary := fmt.Sprintf("trailwatch %s: %s %s anomaly", a.Severity, p, a.Metric)
	blocks := []slackBlock{
		{Type: "header", Text: &slackText{"plain_text", truncateRunes(fmt.Sprintf("%s: %s anomaly (%s)", strings.ToUpper(a.Severity), a.Metric, a.PrincipalType), 150)}},
		{Type: "section", Fields: []slackText{
			{"mrkdwn", "*Who*\n`" + p + "`"},
			{"mrkdwn", "*Account*\n" + slackEscape(a.Account, 40) + " (" + slackEscape(a.PrincipalType, 40) + ")"},
			{"mrkdwn", "*What*\n" + slackEscape(a.Metric, 40) + " = " + num(a.Observed) + " in " + slackEscape(a.WindowStart, 40) + " – " + slackEscape(a.WindowEnd, 40)},
			{"mrkdwn", fmt.Sprintf("*How far from normal*\nz = %s (mean %s, σ %s, threshold %s, %d windows of history)",
				num(a.ZScore), num(a.Mean), num(a.StdDev), num(a.Threshold), a.BaselineWindows)},
		}},
	}
	if len(a.Top) > 0 {
		var b strings.Builder
		b.WriteString("*Top actions*")
		for i, t := range a.Top {
			if i == 5 {
				fmt.Fprintf(&b, "\n… and %d more", len(a.Top)-5)
				break
			}
			fmt.Fprintf(&b, "\n• `%s` %s (%s%%)", slackEscape(t.Key, 200), num(t.Value), num(float64(int(t.Share*1000+0.5))/10))
		}
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{"mrkdwn", b.String()}})
	}
	if len(a.Evidence) > 0 {
		var els []slackText
		for i, e := range a.Evidence {
			if i == 9 { // a context block holds at most 10 elements
				break
			}
			if evidenceURL != "" {
				u := strings.ReplaceAll(evidenceURL, "{id}", url.QueryEscape(e))
				els = append(els, slackText{"mrkdwn", "<" + u + "|" + slackEscape(e, 100) + ">"})
			} else {
				els = append(els, slackText{"mrkdwn", "`" + slackEscape(e, 100) + "`"})
			}
		}
		blocks = append(blocks, slackBlock{Type: "context", Elements: append([]slackText{{"mrkdwn", "*Evidence*"}}, els...)})
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{"mrkdwn", "alert `" + slackEscape(a.ID, 64) + "` detected at " + slackEscape(a.DetectedAt, 40)}}})
	return slackPayload{Text: summary, Blocks: blocks}
}
