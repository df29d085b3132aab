package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/config"
)

// compose is the part of docker-compose.yml the test reads.
type compose struct {
	Services map[string]struct {
		Image       string   `yaml:"image"`
		Build       string   `yaml:"build"`
		Command     []string `yaml:"command"`
		Entrypoint  []string `yaml:"entrypoint"`
		Volumes     []string `yaml:"volumes"`
		Ports       []string `yaml:"ports"`
		Environment map[string]string
	} `yaml:"services"`
}

// docker-compose.yml cannot run here; this checks on paper that it agrees
// with the repository: official Kafka image in KRaft mode, the mounted config
// exists and passes config check, the published port is the config's http
// port, the topics created are the config's, and the image is built by the
// Dockerfile with the same command.
func TestDockerCompose(t *testing.T) {
	root := "../.."
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	k, ok := c.Services["kafka"]
	if !ok || !strings.HasPrefix(k.Image, "apache/kafka:") {
		t.Fatalf("kafka service must use the official apache/kafka image: %+v", k)
	}
	if !strings.Contains(k.Environment["KAFKA_PROCESS_ROLES"], "controller") {
		t.Error("kafka is not in KRaft mode (process roles without controller)")
	}
	tw, ok := c.Services["trailwatch"]
	if !ok || tw.Build != "." {
		t.Fatalf("trailwatch service must be built from the repository: %+v", tw)
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	if len(tw.Command) < 3 || tw.Command[0] != "serve" || tw.Command[1] != "--config" {
		t.Fatalf("trailwatch command %v, want serve --config FILE", tw.Command)
	}
	var cfgPath string
	for _, v := range tw.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == tw.Command[2] {
			cfgPath = filepath.Join(root, parts[0])
		}
	}
	if cfgPath == "" {
		t.Fatalf("the config %s is not mounted: %v", tw.Command[2], tw.Volumes)
	}
	cfg, err := config.LoadEnv(cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("mounted config fails config check: %v", err)
	}
	port := cfg.HTTP.Addr[strings.LastIndex(cfg.HTTP.Addr, ":")+1:]
	if !slices.Contains(tw.Ports, port+":"+port) {
		t.Errorf("ports %v do not publish the config's http port %s", tw.Ports, port)
	}
	for _, bk := range cfg.Kafka.Brokers {
		if !strings.HasPrefix(bk, "kafka:") {
			t.Errorf("broker %s is not the compose kafka service", bk)
		}
	}
	init := strings.Join(c.Services["topics"].Command, "\n")
	m := regexp.MustCompile(`for t in ([^;]+);`).FindStringSubmatch(init)
	if m == nil {
		t.Fatalf("topic-init step not found: %s", init)
	}
	created := strings.Fields(m[1])
	want := append(append([]string(nil), cfg.Kafka.Inputs...), cfg.Kafka.AlertsTopic, cfg.Kafka.DeadLetterTopic)
	slices.Sort(created)
	slices.Sort(want)
	if !slices.Equal(created, want) {
		t.Errorf("topics created %v, config uses %v", created, want)
	}
	// The internal topics: events and a compacted changelog, both with the
	// config's partition count.
	for _, want := range []string{
		fmt.Sprintf("--topic %s --partitions %d ", cfg.Scale.EventsTopic, cfg.Scale.Partitions),
		fmt.Sprintf("--topic %s --partitions %d --replication-factor 1 --config cleanup.policy=compact", cfg.Scale.StateTopic, cfg.Scale.Partitions),
	} {
		if !strings.Contains(init, want) {
			t.Errorf("topic-init step does not create %q", want)
		}
	}
	df, _ := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if !strings.Contains(string(df), "./cmd/trailwatch") || !strings.Contains(string(df), `"serve", "--config", "`+tw.Command[2]+`"`) {
		t.Error("Dockerfile does not build cmd/trailwatch with the compose command as default")
	}
	if !strings.Contains(string(df), "EXPOSE "+port) {
		t.Errorf("Dockerfile does not expose %s", port)
	}
}
