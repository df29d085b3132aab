package respond

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/trailwatch/trailwatch/detect"
)

// SNSMaxBytes is SNS's limit on a message, attributes included.
const SNSMaxBytes = 256 * 1024

// snsSubjectMax: SNS subjects must be under 100 ASCII characters.
const snsSubjectMax = 99

type snsAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNS publishes the full alert JSON to a topic, with a readable subject
// and message attributes (metric, severity, account, principal_type) for
// subscription filter policies.
type SNS struct {
	name    string
	topic   string
	client  snsAPI
	timeout time.Duration
}

var _ Sink = (*SNS)(nil)

// NewSNS returns an SNS sink publishing to topicARN through client (an
// *sns.Client); timeout bounds one Publish (default 10s).
func NewSNS(name, topicARN string, client snsAPI, timeout time.Duration) *SNS {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &SNS{name: name, topic: topicARN, client: client, timeout: timeout}
}

// Name implements Sink.
func (s *SNS) Name() string { return s.name }

// Deliver implements Sink.
func (s *SNS) Deliver(ctx context.Context, a *detect.Alert) error {
	in, err := snsInput(s.topic, a)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.client.Publish(ctx, in); err != nil {
		return classifyAWS(fmt.Errorf("sns publish: %w", err))
	}
	return nil
}

func strAttr(v string) snstypes.MessageAttributeValue {
	if v == "" {
		v = "-" // SNS rejects empty attribute values
	}
	return snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// snsInput builds the Publish request, trimming the evidence (then the top
// list) from the end until the request fits SNSMaxBytes. The core fields are
// never trimmed; an alert that does not fit without evidence is a permanent
// failure (and gets parked).
func snsInput(topic string, a *detect.Alert) (*sns.PublishInput, error) {
	attrs := map[string]snstypes.MessageAttributeValue{
		"metric":         strAttr(a.Metric),
		"severity":       strAttr(a.Severity),
		"account":        strAttr(a.Account),
		"principal_type": strAttr(a.PrincipalType),
	}
	subject := snsSubject(a)
	overhead := len(subject)
	for k, v := range attrs {
		overhead += len(k) + len(*v.DataType) + len(*v.StringValue)
	}
	budget := SNSMaxBytes - overhead - 64
	msg := a.AppendJSON(nil)
	if len(msg) > budget {
		// Keep the longest prefix of the evidence (then of the top list)
		// that fits; binary search, so a huge alert costs O(log n) encodes.
		t := *a
		fits := func() bool { msg = t.AppendJSON(msg[:0]); return len(msg) <= budget }
		t.Evidence = nil
		if fits() {
			keep := longestFit(len(a.Evidence), func(k int) bool { t.Evidence = a.Evidence[:k]; return fits() })
			t.Evidence = a.Evidence[:keep]
		} else {
			keep := longestFit(len(a.Top), func(k int) bool { t.Top = a.Top[:k]; return fits() })
			t.Top = a.Top[:keep]
		}
		if !fits() {
			return nil, Permanent(fmt.Errorf("alert %s: %d bytes without evidence, over the SNS limit", a.ID, len(msg)))
		}
		attrs["evidence_dropped"] = snstypes.MessageAttributeValue{DataType: aws.String("Number"),
			StringValue: aws.String(strconv.Itoa(len(a.Evidence) - len(t.Evidence)))}
	}
	return &sns.PublishInput{
		TopicArn: aws.String(topic), Message: aws.String(string(msg)),
		Subject: aws.String(subject), MessageAttributes: attrs,
	}, nil
}

// longestFit returns the largest k in [0, n] with ok(k), given ok(0) and
// ok monotone (true up to some k, false after).
func longestFit(n int, ok func(int) bool) int {
	lo, hi := 0, n // ok(lo) holds
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// snsSubject is a one-line summary in printable ASCII (SNS's rule for
// subjects), at most snsSubjectMax characters.
func snsSubject(a *detect.Alert) string {
	s := fmt.Sprintf("trailwatch %s: %s %s z=%s %s", a.Severity, a.Metric, num(a.Observed), num(float64(int64(a.ZScore*10))/10), a.Principal)
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < snsSubjectMax; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}
