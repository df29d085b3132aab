package respond

import (
	"encoding/json"
	"testing"

	"github.com/trailwatch/trailwatch/detect"
)

// FuzzPayloads feeds arbitrary alert JSON (what the responder reads from
// Kafka) to every payload builder: no panic, SNS subjects stay printable
// ASCII under 100 characters, and every body is valid JSON that carries the
// alert id.
func FuzzPayloads(f *testing.F) {
	f.Add(testAlert("arn:aws:iam::111111111111:user/quiet", "IAMUser").AppendJSON(nil))
	f.Add([]byte(`{"id":"x","principal":"\u2028<!here>\u0000","severity":"high","top":[{"key":"&","share":2}],"evidence":["a b"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a detect.Alert
		if json.Unmarshal(b, &a) != nil {
			return
		}
		if in, err := snsInput("arn:aws:sns:us-east-1:111111111111:t", &a); err == nil {
			if s := *in.Subject; len(s) > snsSubjectMax {
				t.Fatalf("subject %d bytes", len(s))
			} else {
				for _, c := range []byte(s) {
					if c < 0x20 || c > 0x7e {
						t.Fatalf("subject byte %#x", c)
					}
				}
			}
			var back detect.Alert
			if err := json.Unmarshal([]byte(*in.Message), &back); err != nil || back.ID != a.ID && json.Valid([]byte(a.ID)) {
				t.Fatalf("message %q: %v", *in.Message, err)
			}
		}
		for _, v := range []any{slackMessage(&a, "https://x/{id}"), pagerDutyEvent(&a, "k", "https://x/{id}")} {
			out, err := json.Marshal(v)
			if err != nil || !json.Valid(out) {
				t.Fatalf("payload: %v", err)
			}
		}
	})
}
