package respond

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailwatch/trailwatch/detect"
)

func goawsConfig() aws.Config {
	return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("x", "y", ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
}

func goawsClients() (*sns.Client, *sqs.Client) {
	cfg := goawsConfig()
	return sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(goawsURL) }),
		sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(goawsURL) })
}

// snsToSQS creates a topic and a queue subscribed to it, and returns the
// topic ARN and queue URL.
func snsToSQS(t *testing.T, name string, raw bool, filter string) (string, string) {
	t.Helper()
	ctx := context.Background()
	sn, sq := goawsClients()
	top, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-q")})
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{}
	if raw {
		attrs["RawMessageDelivery"] = "true"
	}
	if filter != "" {
		attrs["FilterPolicy"] = filter
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String("arn:aws:sqs:us-east-1:100010001000:" + name + "-q"), Attributes: attrs}); err != nil {
		t.Fatal(err)
	}
	return *top.TopicArn, *q.QueueUrl
}

func receive(t *testing.T, queueURL string) []sqstypes.Message {
	t.Helper()
	_, sq := goawsClients()
	out, err := sq.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
		MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

func TestSNSThroughSQS(t *testing.T) {
	rawTopic, rawQ := snsToSQS(t, "alerts-raw", true, "")
	envTopic, envQ := snsToSQS(t, "alerts-env", false, "")
	sn, _ := goawsClients()
	a := testAlert("arn:aws:iam::111111111111:user/quiet", "IAMUser")
	for _, topic := range []string{rawTopic, envTopic} {
		if err := NewSNS("soc", topic, sn, 0).Deliver(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}

	// Raw delivery: the body is the alert, attributes are SQS attributes.
	msgs := receive(t, rawQ)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if got, want := *msgs[0].Body, string(a.AppendJSON(nil)); got != want {
		t.Fatalf("body\n got %s\nwant %s", got, want)
	}
	for k, want := range map[string]string{"metric": "api_calls", "severity": "critical", "account": "111111111111", "principal_type": "IAMUser"} {
		if v := msgs[0].MessageAttributes[k]; aws.ToString(v.StringValue) != want || aws.ToString(v.DataType) != "String" {
			t.Errorf("attribute %s = %+v, want %s", k, v, want)
		}
	}

	// Envelope delivery: subject and attributes in the SNS notification.
	msgs = receive(t, envQ)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	var env struct {
		Type, Subject, Message, TopicArn string
		// goaws spells the attribute fields DataType/StringValue (AWS: Type/Value).
		MessageAttributes map[string]struct{ DataType, StringValue string }
	}
	if err := json.Unmarshal([]byte(*msgs[0].Body), &env); err != nil {
		t.Fatal(err)
	}
	var back detect.Alert
	if err := json.Unmarshal([]byte(env.Message), &back); err != nil || back.ID != a.ID || back.Observed != 21 {
		t.Fatalf("message %q: %v", env.Message, err)
	}
	if env.Subject != "trailwatch critical: api_calls 21 z=20.6 arn:aws:iam::111111111111:user/quiet" {
		t.Fatalf("subject %q", env.Subject)
	}
	if env.MessageAttributes["severity"].StringValue != "critical" {
		t.Fatalf("attributes %+v", env.MessageAttributes)
	}
}

func TestSNSFilterPolicyOnAttributes(t *testing.T) {
	topic, q := snsToSQS(t, "alerts-critical-only", true, `{"severity":["critical"]}`)
	sn, _ := goawsClients()
	s := NewSNS("soc", topic, sn, 0)
	low := testAlert("arn:aws:iam::111111111111:user/a", "IAMUser")
	low.Severity = "low"
	crit := testAlert("arn:aws:iam::111111111111:user/b", "IAMUser")
	for _, a := range []*detect.Alert{low, crit} {
		if err := s.Deliver(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	msgs := receive(t, q)
	if len(msgs) != 1 || !strings.Contains(*msgs[0].Body, crit.ID) {
		t.Fatalf("filter policy let through %d messages", len(msgs))
	}
}

func TestSNSSizeLimitTrimsEvidence(t *testing.T) {
	a := testAlert("arn:aws:iam::111111111111:user/quiet", "IAMUser")
	for i := 0; i < 20000; i++ {
		a.Evidence = append(a.Evidence, "5e7f0a12-7c3b-4d2e-9f10-000000000000")
	}
	in, err := snsInput("arn:aws:sns:us-east-1:100010001000:t", a)
	if err != nil {
		t.Fatal(err)
	}
	size := len(*in.Message) + len(*in.Subject)
	for k, v := range in.MessageAttributes {
		size += len(k) + len(*v.DataType) + len(*v.StringValue)
	}
	if size > SNSMaxBytes {
		t.Fatalf("request %d bytes", size)
	}
	var back detect.Alert
	if err := json.Unmarshal([]byte(*in.Message), &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != a.ID || back.Principal != a.Principal || len(back.Top) != 1 || len(back.Evidence) == 0 || len(back.Evidence) >= len(a.Evidence) {
		t.Fatalf("trimmed alert: id %s, %d evidence, %d top", back.ID, len(back.Evidence), len(back.Top))
	}
	if *in.MessageAttributes["evidence_dropped"].StringValue == "0" {
		t.Fatal("no evidence_dropped attribute")
	}
	if len(a.Evidence) != 20002 {
		t.Fatal("the caller's alert was modified")
	}

	huge := testAlert(strings.Repeat("x", SNSMaxBytes), "IAMUser")
	if _, err := snsInput("arn:aws:sns:us-east-1:100010001000:t", huge); !errors.Is(err, ErrPermanent) {
		t.Fatalf("oversized core fields: %v", err)
	}
}

func TestSNSSubject(t *testing.T) {
	a := testAlert("arn:aws:iam::111111111111:user/"+strings.Repeat("é\n", 80), "IAMUser")
	s := snsSubject(a)
	if len(s) > snsSubjectMax {
		t.Fatalf("subject %d chars", len(s))
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			t.Fatalf("subject %q has byte %#x", s, c)
		}
	}
}
