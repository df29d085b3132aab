package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/trailwatch/trailwatch/ingest"
	"github.com/trailwatch/trailwatch/ingest/eventcodec"
	"github.com/trailwatch/trailwatch/internal/config"
	"github.com/trailwatch/trailwatch/internal/devbroker"
	"github.com/trailwatch/trailwatch/internal/serve"
)

// The scale-out row measures the topology of `trailwatch serve` with role
// all (stage 1 repartitions the raw input by principal into the events
// topic, stage 2 runs one engine per events partition with its state in the
// changelog) in two ways a reader deciding how to deploy it asks about: does
// a second instance change the rate at which the input drains, and how long
// does a new owner of a partition wait for its state.

// ScaleSpec sizes the scale-out row.
type ScaleSpec struct {
	// The throughput input: this organisation's records (KafkaMessages with
	// these fields), at most Records of them (default 100,000), produced
	// unkeyed (round robin) to an input topic of InputPartitions partitions
	// (default 4). Partitions is scale.partitions (default 4).
	Seed            int64
	Principals      int
	Instances       int
	Duration        time.Duration
	Records         int
	InputPartitions int32
	Partitions      int
	// Runs alternates one and two instances this many times; the fastest of
	// each is kept (default 1).
	Runs int
	// The restore: RestorePrincipals principals (default 100,000) with
	// EventsPerPrincipal events each (default 4, ten minutes apart, so that
	// each principal has closed windows) in one events partition.
	RestorePrincipals  int
	EventsPerPrincipal int
	// WorkDir holds the local snapshot of the restore's fast path; default a
	// temporary directory, removed after.
	WorkDir string
}

func (s *ScaleSpec) fill() {
	if s.Records <= 0 {
		s.Records = 100_000
	}
	if s.InputPartitions <= 0 {
		s.InputPartitions = 4
	}
	if s.Partitions <= 0 {
		s.Partitions = 4
	}
	s.Runs = max(s.Runs, 1)
	if s.RestorePrincipals <= 0 {
		s.RestorePrincipals = 100_000
	}
	if s.EventsPerPrincipal <= 0 {
		s.EventsPerPrincipal = 4
	}
}

// ScaleSpecOf is the scale-out row's spec at a report scale: the Kafka
// row's organisation and size (200,000 records), 100,000 principals to
// restore.
func ScaleSpecOf(sc Scale) ScaleSpec {
	return ScaleSpec{Seed: 1, Principals: sc.Principals, Instances: sc.Instances, Duration: sc.Duration,
		Records: 200_000, InputPartitions: 4, Partitions: 4, Runs: max(sc.ReplayRuns, 1),
		RestorePrincipals: 100_000, EventsPerPrincipal: 4}
}

// ScaleRow is the report's ScaleOutFunc: MeasureScale at ScaleSpecOf(sc),
// with the snapshot of the fast path under workDir.
func ScaleRow(ctx context.Context, sc Scale, workDir string) (*ScaleResult, error) {
	spec := ScaleSpecOf(sc)
	spec.WorkDir = workDir
	return MeasureScale(ctx, spec)
}

// ScaleResult is the scale-out row.
type ScaleResult struct {
	Records       int64      `json:"records"`          // raw input messages
	Partitions    int        `json:"partitions"`       // scale.partitions
	One           ScaleRun   `json:"one_instance"`     // fastest run with one instance
	Two           ScaleRun   `json:"two_instances"`    // fastest run with two
	RatioTwoToOne float64    `json:"ratio_two_to_one"` // Two.RecordsPerSec / One.RecordsPerSec
	Restore       ScaleStore `json:"restore"`
	Broker        string     `json:"broker"`
	Note          string     `json:"note,omitempty"`
}

// ScaleRun is one timed drain of the input through both stages.
type ScaleRun struct {
	Instances     int     `json:"instances"`
	Seconds       float64 `json:"seconds"`               // start to both groups committed to the end
	FirstSeconds  float64 `json:"first_message_seconds"` // start to the first input message processed (group join, first fetch)
	IngestSeconds float64 `json:"ingest_seconds"`        // start to stage 1's group committed to the end of the input
	CoresBusy     float64 `json:"cores_busy"`            // CPU time of the process over the run (broker included) / Seconds; 0 unknown
	RecordsPerSec float64 `json:"records_per_sec"`       // Records / Seconds
	Events        int64   `json:"events"`                // records stage 1 produced to the events topic
	Consumed      int64   `json:"events_consumed"`       // events stage 2 processed (more than Events if a rebalance replayed some)
}

// ScaleStore is the restore measurement: the state of Principals principals
// in one partition, built by a detect instance and restored as a new owner
// would.
type ScaleStore struct {
	Principals  int     `json:"principals"`
	Events      int64   `json:"events"`               // events that built the state
	BuildPerSec float64 `json:"build_events_per_sec"` // the one partition's engine, group join included
	// Changelog is the restore from the changelog alone (no scale.snapshot_dir).
	Changelog RestoreRun `json:"changelog"`
	// Snapshot is the fast path: the local snapshot written at shutdown,
	// then the changelog from where it ends.
	Snapshot *RestoreRun `json:"snapshot,omitempty"`
}

// RestoreRun is one serve.RestorePartition.
type RestoreRun struct {
	Source            string  `json:"source"` // "changelog" or "snapshot"
	Principals        int     `json:"principals"`
	Records           int64   `json:"changelog_records"`
	Bytes             int64   `json:"bytes"`
	Seconds           float64 `json:"seconds"`
	SecondsPer100k    float64 `json:"seconds_per_100k_principals"`
	BytesPerPrincipal float64 `json:"bytes_per_principal"`
}

// ScaleOutFunc measures the scale-out row; workDir is a scratch directory.
type ScaleOutFunc func(ctx context.Context, sc Scale, workDir string) (*ScaleResult, error)

// scaleInput is the raw input topic of the throughput runs.
const scaleInput = "bench-scale-input"

// Group timing of the measured instances: the serve tests' short heartbeats
// and commit interval, so that a two-instance rebalance and the last commit
// cost fractions of a second instead of the defaults' seconds. The same for
// both instance counts.
const (
	scaleCommitInterval = 250 * time.Millisecond
	scalePoll           = 100 * time.Millisecond
)

// scaleConfig is an instance of the scale-out topology on the broker.
func scaleConfig(addr, group string, partitions int) config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = []string{addr}
	cfg.Kafka.Inputs = []string{scaleInput}
	cfg.Kafka.GroupID = group
	cfg.Kafka.StartOffset = "earliest"
	cfg.Kafka.CommitInterval = scaleCommitInterval
	cfg.Kafka.FetchMaxWait = 100 * time.Millisecond
	cfg.Kafka.HeartbeatInterval = 200 * time.Millisecond
	cfg.Kafka.SessionTimeout = 3 * time.Second
	cfg.Kafka.RebalanceTimeout = 3 * time.Second
	cfg.Kafka.ShutdownTimeout = 5 * time.Minute
	cfg.HTTP.Addr = ""
	cfg.Scale.Role = config.RoleAll
	cfg.Scale.Partitions = partitions
	return cfg
}

// MeasureScale measures the scale-out row. Throughput: the generated input
// is produced unkeyed to a fresh in-process broker, then one instance (and,
// on another fresh broker, two) of role all drains it; the time runs from
// the start of the instances until stage 1's group has committed the end of
// every input partition and stage 2's group the end of every events
// partition. Restore: a role-detect instance builds the state of
// RestorePrincipals principals in one partition and stops gracefully (its
// final checkpoint writes the changelog and the local snapshot), then
// serve.RestorePartition is timed from the changelog alone and from the
// snapshot.
func MeasureScale(ctx context.Context, spec ScaleSpec) (*ScaleResult, error) {
	spec.fill()
	load := loadAverage()
	ks := KafkaSpec{Seed: spec.Seed, Principals: spec.Principals, Instances: spec.Instances, Duration: spec.Duration, MaxRecords: spec.Records}
	msgs, err := KafkaMessages(ks)
	if err != nil {
		return nil, err
	}
	for i := range msgs {
		msgs[i] = kafkago.Message{Topic: scaleInput, Value: msgs[i].Value}
	}
	n := int64(len(msgs))
	r := &ScaleResult{Records: n, Partitions: spec.Partitions,
		Broker: fmt.Sprintf("kfake (devbroker, in process, a fresh one per run), input topic of %d partitions", spec.InputPartitions)}
	var rates [2][]string
	for run := range spec.Runs {
		for i, inst := range []int{1, 2} {
			sr, err := timeScaleRun(ctx, spec, msgs, inst, run)
			if err != nil {
				return nil, fmt.Errorf("scale-out throughput, %d instance(s): %w", inst, err)
			}
			rates[i] = append(rates[i], fmtNum(sr.RecordsPerSec))
			best := &r.One
			if inst == 2 {
				best = &r.Two
			}
			if best.Seconds == 0 || sr.Seconds < best.Seconds {
				*best = sr
			}
		}
	}
	r.RatioTwoToOne = r.Two.RecordsPerSec / r.One.RecordsPerSec
	if r.Restore, err = measureRestore(ctx, spec); err != nil {
		return nil, fmt.Errorf("scale-out restore: %w", err)
	}
	r.Note = fmt.Sprintf("Best of %d alternating runs (1 instance records/s: %s; 2 instances: %s); "+
		"kafka.commit_interval %s and heartbeats of 200 ms for both, drain polled every %s. "+
		"This machine has %d cores (GOMAXPROCS %d) and the instances run in one process beside the broker, whose one goroutine "+
		"serves every request: two instances share the same cores and Go runtime, so the ratio is not how the topology scales "+
		"on separate machines. It weighs what a second instance costs (a rebalance, the work it replays, twice the readers, "+
		"writers and group traffic) against what it gains on the same cores: an instance's stage 1 decodes on its one pipeline "+
		"goroutine, so a second instance can put a core that one instance leaves idle to work (compare cores busy)",
		spec.Runs, strings.Join(rates[0], ", "), strings.Join(rates[1], ", "), scaleCommitInterval, scalePoll,
		runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if load > 0 {
		r.Note += fmt.Sprintf(". The 1-minute load average was %.1f when the row started: other processes shared the cores, "+
			"which is why the best of several runs is kept", load)
	}
	if d := r.Two.Events - r.One.Events; d > 0 {
		r.Note += fmt.Sprintf(". In the fastest two-instance run stage 1 produced %d events more than with one instance: "+
			"the second instance's join revoked partitions whose progress was not committed yet, and their records were "+
			"decoded and produced again (at-least-once; stage 2 counts such duplicates)", d)
	}
	return r, nil
}

// timeScaleRun starts a broker, produces the input, runs inst instances of
// role all until both stages have committed everything, and stops them.
func timeScaleRun(ctx context.Context, spec ScaleSpec, msgs []kafkago.Message, inst, run int) (ScaleRun, error) {
	b, err := devbroker.Start(devbroker.Options{Addr: "127.0.0.1:0", Partitions: spec.InputPartitions,
		GroupMinSessionTimeout: 100 * time.Millisecond,
		Topics:                 []string{scaleInput, config.DefaultAlertsTopic, config.DefaultDeadLetterTopic}})
	if err != nil {
		return ScaleRun{}, err
	}
	defer b.Close()
	addr := b.Addrs()[0]
	if err := produceWith(ctx, addr, &kafkago.RoundRobin{}, msgs); err != nil {
		return ScaleRun{}, err
	}
	cfg := scaleConfig(addr, fmt.Sprintf("bench-scale-%d-%d", inst, run), spec.Partitions)
	n := int64(len(msgs))
	cpu0 := cpuSeconds()
	g, err := startGroup(ctx, cfg, inst)
	if err != nil {
		return ScaleRun{}, err
	}
	defer g.stop() //nolint:errcheck // stopped explicitly below; this is for the error paths
	cl, closeClient := offsetsClient(addr)
	defer closeClient()

	sr := ScaleRun{Instances: inst}
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(10*time.Minute + time.Duration(n)*time.Millisecond)
	defer limit.Stop()
	lastPoll := time.Time{}
	for {
		if sr.FirstSeconds == 0 && g.processed() > 0 {
			sr.FirstSeconds = time.Since(g.began).Seconds()
		}
		if time.Since(lastPoll) >= scalePoll {
			lastPoll = time.Now()
			ok := sr.IngestSeconds > 0
			if !ok {
				if ok, _ = committedToEnd(ctx, cl, cfg.Kafka.GroupID, scaleInput); ok {
					sr.IngestSeconds = time.Since(g.began).Seconds()
				}
			}
			if ok {
				if ok, events := committedToEnd(ctx, cl, cfg.DetectGroup(), cfg.Scale.EventsTopic); ok {
					sr.Seconds = time.Since(g.began).Seconds()
					sr.Events = events
					break
				}
			}
		}
		select {
		case err := <-g.failed:
			return sr, fmt.Errorf("an instance stopped before the input drained: %v", err)
		case <-limit.C:
			return sr, fmt.Errorf("the input did not drain through both stages (%d of %d messages processed by stage 1)", g.processed(), n)
		case <-ctx.Done():
			return sr, ctx.Err()
		case <-tick.C:
		}
	}
	sr.RecordsPerSec = float64(n) / sr.Seconds
	sr.CoresBusy = (cpuSeconds() - cpu0) / sr.Seconds
	sr.Consumed = int64(g.counter("trailwatch_partition_messages_total"))
	if err := g.stop(); err != nil {
		return sr, err
	}
	if p := g.processed(); p < n {
		return sr, fmt.Errorf("stage 1 processed %d messages, want %d", p, n)
	}
	if sr.Events == 0 || sr.Consumed < sr.Events {
		return sr, fmt.Errorf("stage 2 processed %d events of the %d produced", sr.Consumed, sr.Events)
	}
	return sr, nil
}

// loadAverage is the 1-minute load average from /proc/loadavg; 0 where
// that file does not exist.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return v
}

// cpuSeconds is the CPU time (user and system) this process has used, from
// /proc/self/stat in USER_HZ ticks (100 a second on Linux); 0 where that
// file does not exist.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// contain spaces: state is the first, utime the 12th, stime the 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return float64(utime+stime) / 100
}

// group is a set of serve instances running in this process.
type group struct {
	svcs   []*serve.Service
	cancel context.CancelFunc
	done   []chan error
	failed chan error // the first instance to stop on its own
	began  time.Time
	errs   []error
}

// startGroup builds inst services of cfg, then starts them together.
func startGroup(ctx context.Context, cfg config.Config, inst int) (*group, error) {
	g := &group{failed: make(chan error, inst)}
	for range inst {
		s, err := serve.New(serve.Options{Config: cfg, ProbeInterval: time.Second, JoinGroupBackoff: 200 * time.Millisecond})
		if err != nil {
			return nil, err
		}
		g.svcs = append(g.svcs, s)
	}
	runCtx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	g.began = time.Now()
	for _, s := range g.svcs {
		done := make(chan error, 1)
		g.done = append(g.done, done)
		go func() {
			err := s.Run(runCtx)
			if runCtx.Err() == nil {
				g.failed <- err
			}
			done <- err
		}()
	}
	return g, nil
}

// stop shuts every instance down gracefully and returns their errors; it
// is idempotent.
func (g *group) stop() error {
	if g.cancel != nil {
		g.cancel()
		g.cancel = nil
		for _, d := range g.done {
			if err := <-d; err != nil {
				g.errs = append(g.errs, err)
			}
		}
	}
	if len(g.errs) > 0 {
		return fmt.Errorf("serve shutdown: %w", errors.Join(g.errs...))
	}
	return nil
}

func (g *group) processed() int64 {
	var n int64
	for _, s := range g.svcs {
		n += s.Processed()
	}
	return n
}

// counter sums a counter over the instances.
func (g *group) counter(name string) float64 {
	var v float64
	for _, s := range g.svcs {
		v += counterOf(s.Registry(), name)
	}
	return v
}

// counterOf is the sum of a counter's series on reg (0 if absent).
func counterOf(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return 0
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue()
		}
	}
	return v
}

// offsetsClient is a client for committedToEnd. Its metadata expires
// quickly: kafka-go's default would keep a topic created after the first
// request (the events topic) unknown for six seconds.
func offsetsClient(addr string) (*kafkago.Client, func()) {
	tr := &kafkago.Transport{MetadataTTL: scalePoll / 2}
	return &kafkago.Client{Addr: kafkago.TCP(addr), Transport: tr, Timeout: 10 * time.Second}, tr.CloseIdleConnections
}

// committedToEnd reports whether group has committed the end of every
// partition of topic, and the sum of those ends. A topic that does not exist
// yet is not drained.
func committedToEnd(ctx context.Context, cl *kafkago.Client, group, topic string) (bool, int64) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	md, err := cl.Metadata(c, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) == 0 {
		return false, 0
	}
	var reqs []kafkago.OffsetRequest
	var parts []int
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafkago.LastOffsetOf(p.ID))
		parts = append(parts, p.ID)
	}
	lo, err := cl.ListOffsets(c, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return false, 0
	}
	of, err := cl.OffsetFetch(c, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil || of.Error != nil {
		return false, 0
	}
	committed := map[int]int64{}
	for _, p := range of.Topics[topic] {
		if p.Error == nil {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	var total int64
	for _, p := range lo.Topics[topic] {
		if p.Error != nil {
			return false, 0
		}
		total += p.LastOffset
		if p.LastOffset > 0 && committed[p.Partition] < p.LastOffset {
			return false, 0
		}
	}
	return len(lo.Topics[topic]) == len(parts), total
}

// measureRestore builds one partition's state and times its restore.
func measureRestore(ctx context.Context, spec ScaleSpec) (ScaleStore, error) {
	var out ScaleStore
	dir := spec.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "trailwatch-scale-")
		if err != nil {
			return out, err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return out, err
	}
	b, err := devbroker.Start(devbroker.Options{Addr: "127.0.0.1:0", Partitions: 1, GroupMinSessionTimeout: 100 * time.Millisecond,
		Topics: []string{scaleInput, config.DefaultEventsTopic, config.DefaultAlertsTopic, config.DefaultDeadLetterTopic}})
	if err != nil {
		return out, err
	}
	defer b.Close()
	addr := b.Addrs()[0]
	cfg := scaleConfig(addr, "bench-restore", 1)
	cfg.Scale.Role = config.RoleDetect
	cfg.Scale.SnapshotDir = dir
	// Only the final checkpoint writes the changelog: one record per
	// principal (and the engine's own), what compaction would leave of a
	// longer history, so the restore reads what a compacted changelog holds.
	cfg.Kafka.CommitInterval = time.Hour
	n, err := produceStateEvents(ctx, addr, cfg.Scale.EventsTopic, spec.RestorePrincipals, spec.EventsPerPrincipal)
	if err != nil {
		return out, err
	}
	out.Events = n
	g, err := startGroup(ctx, cfg, 1)
	if err != nil {
		return out, err
	}
	defer g.stop() //nolint:errcheck // stopped explicitly below; this is for the error paths
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(10*time.Minute + time.Duration(n)*time.Millisecond)
	defer limit.Stop()
	for int64(g.counter("trailwatch_partition_messages_total")) < n {
		select {
		case err := <-g.failed:
			return out, fmt.Errorf("the detect instance stopped: %v", err)
		case <-limit.C:
			return out, fmt.Errorf("the detect instance processed %.0f of %d events", g.counter("trailwatch_partition_messages_total"), n)
		case <-ctx.Done():
			return out, ctx.Err()
		case <-tick.C:
		}
	}
	out.BuildPerSec = float64(n) / time.Since(g.began).Seconds()
	if err := g.stop(); err != nil {
		return out, err
	}
	// The final checkpoint committed the end of the events partition only
	// after its changelog records were acknowledged.
	cl, closeClient := offsetsClient(addr)
	defer closeClient()
	if ok, _ := committedToEnd(ctx, cl, cfg.DetectGroup(), cfg.Scale.EventsTopic); !ok {
		return out, errors.New("the detect instance stopped without committing the end of the events partition")
	}

	fromLog := cfg
	fromLog.Scale.SnapshotDir = ""
	st, err := serve.RestorePartition(ctx, fromLog, 0)
	if err != nil {
		return out, err
	}
	out.Principals = st.Principals
	out.Changelog = restoreRun(st)
	if st, err = serve.RestorePartition(ctx, cfg, 0); err != nil {
		return out, err
	}
	if st.Source == "snapshot" {
		rr := restoreRun(st)
		out.Snapshot = &rr
	}
	return out, nil
}

func restoreRun(st serve.RestoreStats) RestoreRun {
	r := RestoreRun{Source: st.Source, Principals: st.Principals, Records: st.Records, Bytes: st.Bytes, Seconds: st.Seconds}
	if st.Principals > 0 {
		r.SecondsPer100k = st.Seconds * 100_000 / float64(st.Principals)
		r.BytesPerPrincipal = float64(st.Bytes) / float64(st.Principals)
	}
	return r
}

// produceStateEvents writes events of principals distinct principals (each
// with perPrincipal CloudTrail calls ten minutes apart, in time order
// across principals) keyed by principal to topic, as stage 1 would, and
// returns how many.
func produceStateEvents(ctx context.Context, addr, topic string, principals, perPrincipal int) (int64, error) {
	const step = 10 * time.Minute
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	ev := ingest.Event{Source: ingest.SourceCloudTrail, Action: "s3.amazonaws.com:GetObject", Region: "eu-west-1",
		SourceIP: netip.MustParseAddr("10.1.2.3"), EgressBytes: 1 << 20}
	var n int64
	msgs := make([]kafkago.Message, 0, principals)
	for k := range perPrincipal {
		msgs = msgs[:0]
		for i := range principals {
			ev.Time = base.Add(time.Duration(k)*step + time.Duration(i)*step/time.Duration(principals))
			ev.Principal = ingest.Principal{Key: memKey(i), Type: ingest.PrincipalAssumedRole, Account: "123456789012", SubKey: "session"}
			ev.EventID = fmt.Sprintf("bench-%d-%d", k, i)
			msgs = append(msgs, kafkago.Message{Topic: topic, Key: []byte(ev.Principal.Key), Value: eventcodec.Append(nil, &ev)})
		}
		if err := produceWith(ctx, addr, &kafkago.Murmur2Balancer{}, msgs); err != nil {
			return n, err
		}
		n += int64(len(msgs))
	}
	return n, nil
}

// produceWith writes msgs in large synchronous batches, spread over the
// partitions by bal (produce's writer, with the balancer chosen).
func produceWith(ctx context.Context, addr string, bal kafkago.Balancer, msgs []kafkago.Message) error {
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Transport: tr, Balancer: bal, RequiredAcks: kafkago.RequireAll,
		BatchSize: 1000, BatchBytes: 512 << 10, BatchTimeout: time.Millisecond, WriteTimeout: 30 * time.Second}
	defer w.Close()
	const chunk = 20_000
	for i := 0; i < len(msgs); i += chunk {
		if err := w.WriteMessages(ctx, msgs[i:min(i+chunk, len(msgs))]...); err != nil {
			return fmt.Errorf("produce to %s: %w", addr, err)
		}
	}
	return nil
}

// mdScaleOut is the scale-out row's section of report.md.
func (r *Report) mdScaleOut(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Scale-out on Kafka\n\n")
	s := r.ScaleOut
	if s == nil {
		w("Not measured (`go run ./bench/cmd/report` measures it unless `-scaleout=false`).\n\n")
		return
	}
	w("`trailwatch serve` with `scale.role: all` (stage 1 decodes the raw input and produces events keyed by principal "+
		"to the events topic; stage 2 runs one engine per events partition with its state in the changelog), on %s. "+
		"%d messages (one CloudTrail record or v2 flow line each) produced unkeyed, `scale.partitions: %d`; each run is timed "+
		"from the start of the instances until both consumer groups (the input's and `<group>.detect` on the events topic) "+
		"have committed the end of every partition:\n\n", s.Broker, s.Records, s.Partitions)
	w("| instances | seconds | to the first message | to stage 1 committed | records/s | cores busy (process, broker included) | events produced | events processed by stage 2 |\n|---|---|---|---|---|---|---|---|\n")
	for _, x := range []ScaleRun{s.One, s.Two} {
		w("| %d | %.2f | %.2f | %.2f | **%s** | %.2f | %d | %d |\n", x.Instances, x.Seconds, x.FirstSeconds, x.IngestSeconds,
			fmtNum(x.RecordsPerSec), x.CoresBusy, x.Events, x.Consumed)
	}
	w("\nTwo instances drain at **%s** of one instance's rate. %s.\n\n", pct(s.RatioTwoToOne), s.Note)
	st := s.Restore
	w("Restore of one partition holding **%s principals** (%d events, %d per principal; one role-detect instance built the state "+
		"at %s events/s, group join included, and stopped gracefully, so its final checkpoint wrote the changelog, one record per "+
		"principal as a compacted changelog holds, and the local snapshot), timed with `serve.RestorePartition` as a new owner "+
		"runs it:\n\n", fmtNum(float64(st.Principals)), st.Events, st.Events/int64(max(st.Principals, 1)), fmtNum(st.BuildPerSec))
	w("| source | principals | changelog records read | bytes read | seconds | seconds per 100k principals | bytes per principal |\n|---|---|---|---|---|---|---|\n")
	row := func(name string, x RestoreRun) {
		w("| %s | %d | %d | %s | %.2f s | **%.2f s** | %.0f bytes |\n", name, x.Principals, x.Records, fmtBytes(x.Bytes), x.Seconds, x.SecondsPer100k, x.BytesPerPrincipal)
	}
	row("changelog only", st.Changelog)
	if st.Snapshot != nil {
		row("local snapshot (`scale.snapshot_dir`), then the changelog from its end", *st.Snapshot)
	}
	w("\nReproduce this section alone: `go test -run '^$' -bench BenchmarkScaleOut -benchtime 1x -timeout 30m ./bench` " +
		"(`-scaleout.scale` picks the report scale, default small).\n\n")
}
