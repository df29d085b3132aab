package respond

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/trailwatch/trailwatch/detect"
)

// PagerDutyEventsURL is the Events API v2 endpoint.
const PagerDutyEventsURL = "https://events.pagerduty.com/v2/enqueue"

// PagerDuty triggers an incident through the Events API v2. The alert id is
// the dedup_key, so a re-delivered alert updates the same incident.
type PagerDuty struct {
	name       string
	post       poster
	routingKey string
	evidence   string
}

var _ Sink = (*PagerDuty)(nil)

// NewPagerDuty builds a PagerDuty sink; key is the sink's config path.
func NewPagerDuty(c SinkConfig, key string, o HTTPOptions) (*PagerDuty, error) {
	o = o.withDefaults()
	u, err := resolveURL(o.Getenv, key, &c, PagerDutyEventsURL)
	if err != nil {
		return nil, err
	}
	rk, err := secretFromEnv(o.Getenv, key+".routing_key_env", c.RoutingKeyEnv)
	if err != nil {
		return nil, err
	}
	return &PagerDuty{name: c.Name, post: newPoster(o.Client, u, c.Timeout), routingKey: rk, evidence: c.EvidenceURL}, nil
}

// Name implements Sink.
func (p *PagerDuty) Name() string { return p.name }

// PagerDutySeverity maps an alert severity to the Events API's.
func PagerDutySeverity(s string) string {
	switch s {
	case "critical":
		return "critical"
	case "high":
		return "error"
	case "medium":
		return "warning"
	default:
		return "info"
	}
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

type pdPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp,omitempty"`
	Component     string          `json:"component"`
	Group         string          `json:"group"`
	Class         string          `json:"class"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

type pdEvent struct {
	RoutingKey  string    `json:"routing_key"`
	EventAction string    `json:"event_action"`
	DedupKey    string    `json:"dedup_key"`
	Payload     pdPayload `json:"payload"`
	Client      string    `json:"client"`
	Links       []pdLink  `json:"links,omitempty"`
}

func pagerDutyEvent(a *detect.Alert, routingKey, evidenceURL string) pdEvent {
	e := pdEvent{
		RoutingKey: routingKey, EventAction: "trigger", DedupKey: a.ID, Client: "trailwatch",
		Payload: pdPayload{
			Summary:  truncateRunes(fmt.Sprintf("%s anomaly: %s %s = %s (z %s, normal %s)", a.Severity, a.Principal, a.Metric, num(a.Observed), num(a.ZScore), num(a.Mean)), 1024),
			Source:   truncateRunes(a.Principal, 255),
			Severity: PagerDutySeverity(a.Severity), Timestamp: a.DetectedAt,
			Component: a.Metric, Group: a.Account, Class: a.PrincipalType,
			CustomDetails: a.AppendJSON(nil),
		},
	}
	if evidenceURL != "" {
		for i, ev := range a.Evidence {
			if i == 5 {
				break
			}
			e.Links = append(e.Links, pdLink{Href: strings.ReplaceAll(evidenceURL, "{id}", url.QueryEscape(ev)), Text: "evidence " + ev})
		}
	}
	return e
}

// Deliver implements Sink.
func (p *PagerDuty) Deliver(ctx context.Context, a *detect.Alert) error {
	body, err := json.Marshal(pagerDutyEvent(a, p.routingKey, p.evidence))
	if err != nil {
		return Permanent(err)
	}
	return p.post.post(ctx, body, nil)
}
