package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The annotated example at the repository root is accepted and says what
// the defaults are.
func TestExampleConfig(t *testing.T) {
	c, err := Load("../../trailwatch.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	d.Detect.Parallelism = c.Detect.Parallelism // the example pins it; the default is per machine
	// Compare as printed: the example's empty lists are [] where the defaults have nil.
	if fmt.Sprintf("%+v", c.Kafka) != fmt.Sprintf("%+v", d.Kafka) || c.HTTP != d.HTTP || c.Log != d.Log || c.State != d.State {
		t.Errorf("example's service sections differ from the defaults:\n%+v\n%+v", c.Kafka, d.Kafka)
	}
	if fmt.Sprintf("%+v", c.Detect) != fmt.Sprintf("%+v", d.Detect) {
		t.Errorf("example's detect section differs from the defaults:\n%+v\n%+v", c.Detect, d.Detect)
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"TRAILWATCH_KAFKA_BROKERS":              "b1:9092, b2:9093",
		"TRAILWATCH_KAFKA_COMMIT_INTERVAL":      "10s",
		"TRAILWATCH_KAFKA_TLS_ENABLED":          "true",
		"TRAILWATCH_KAFKA_SASL_MECHANISM":       "SCRAM-SHA-256",
		"TRAILWATCH_KAFKA_SASL_USERNAME":        "tw",
		"TRAILWATCH_DETECT_SIGMA":               "3.5",
		"TRAILWATCH_DETECT_MIN_SIGMA_API_CALLS": "2",
		"TRAILWATCH_HTTP_ADDR":                  ":9464",
		"TRAILWATCH_STATE_PATH":                 "/var/lib/trailwatch/state",
		"TRAILWATCH_SCALE_ROLE":                 "single",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := LoadEnv("testdata/good.yaml", lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Kafka.Brokers, []string{"b1:9092", "b2:9093"}) || c.Kafka.CommitInterval != 10*time.Second ||
		!c.Kafka.TLS.Enabled || c.Kafka.SASL.Mechanism != "SCRAM-SHA-256" || c.Detect.Sigma != 3.5 ||
		c.Detect.MinSigma.APICalls != 2 || c.HTTP.Addr != ":9464" || c.State.Path != "/var/lib/trailwatch/state" {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if c.Detect.Window != 5*time.Minute {
		t.Fatal("the file's settings were lost")
	}
}

func TestEnvOverrideErrors(t *testing.T) {
	for name, tc := range map[string]struct{ key, val, want string }{
		"duration": {"TRAILWATCH_KAFKA_COMMIT_INTERVAL", "soon", `TRAILWATCH_KAFKA_COMMIT_INTERVAL="soon"`},
		"invalid":  {"TRAILWATCH_KAFKA_START_OFFSET", "middle", "kafka.start_offset"},
		"number":   {"TRAILWATCH_DETECT_SIGMA", "high", `TRAILWATCH_DETECT_SIGMA="high"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadEnv("", func(k string) (string, bool) {
				if k == tc.key {
					return tc.val, true
				}
				return "", false
			})
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestEnvNames(t *testing.T) {
	n := EnvNames()
	for env, path := range map[string]string{
		"TRAILWATCH_KAFKA_BROKERS":              "kafka.brokers",
		"TRAILWATCH_KAFKA_SASL_PASSWORD_ENV":    "kafka.sasl.password_env",
		"TRAILWATCH_DETECT_MIN_SIGMA_API_CALLS": "detect.min_sigma.api_calls",
		"TRAILWATCH_LOG_LEVEL":                  "log.level",
	} {
		if n[env] != path {
			t.Errorf("%s -> %q, want %q", env, n[env], path)
		}
	}
	if _, ok := n["TRAILWATCH_DETECT_SUPPRESS"]; ok {
		t.Error("a list of structures has no environment override")
	}
}
