package config

import (
	"fmt"

	"github.com/trailwatch/trailwatch/ingest/kafka"
	"github.com/trailwatch/trailwatch/internal/partition"
)

// Roles of a `trailwatch serve` process; see docs/scaling.md.
const (
	// RoleAll runs both stages of the scale-out topology in one process:
	// the default.
	RoleAll = "all"
	// RoleIngest runs stage 1 only: consume the raw inputs, decode, and
	// produce normalized events keyed by principal to the events topic.
	RoleIngest = "ingest"
	// RoleDetect runs stage 2 only: consume the events topic and run
	// baselines and detection with per-partition state.
	RoleDetect = "detect"
	// RoleSingle is the one-stage pipeline: one engine per process over the
	// raw inputs, state in a local snapshot file (state.path). Right for one
	// instance only: with more, a principal's events are split between
	// instances and each sees part of its behaviour.
	RoleSingle = "single"
)

// Scale configures the scale-out topology.
type Scale struct {
	// Role: all (default), ingest, detect or single.
	Role string `yaml:"role"`
	// EventsTopic carries normalized events keyed by principal (stage 1 to
	// stage 2); StateTopic is the compacted changelog of detection state,
	// co-partitioned with it. Both are created with Partitions partitions if
	// missing, and checked to have exactly that many if present.
	EventsTopic string `yaml:"events_topic"`
	StateTopic  string `yaml:"state_topic"`
	// Partitions is the partition count of the events and state topics: the
	// most detect instances that can share the work. Fixed for the life of
	// the state (changing it moves principals between partitions). Default 12.
	Partitions int `yaml:"partitions"`
	// PartitionBy places events in the events topic: "principal" (default;
	// murmur2 of the principal key, the most even load) or "account"
	// (murmur2 of the account: an account's principals share a partition, so
	// peer groups are complete as in a single engine, but an account's whole
	// volume is one partition's). The message key is the principal either way.
	PartitionBy string `yaml:"partition_by"`
	// Replication is the replication factor of topics the service creates;
	// 0 uses the broker's default.
	Replication int `yaml:"replication"`
	// DetectGroupID is stage 2's consumer group; default kafka.group_id
	// followed by ".detect". Stage 1 uses kafka.group_id.
	DetectGroupID string `yaml:"detect_group_id"`
	// Prekeyed says the inputs are already keyed by principal (every event
	// of a principal in one partition): stage 2 consumes and decodes them
	// directly, with no stage 1 and no events topic. The state topic then has
	// as many partitions as each input (all inputs must agree).
	Prekeyed bool `yaml:"prekeyed"`
	// SnapshotDir, if set, holds a local snapshot per owned partition,
	// written when the partition is revoked or the service stops; a restore
	// then reads the changelog only from where the snapshot ends (fast path).
	SnapshotDir string `yaml:"snapshot_dir"`
}

// Scale defaults.
const (
	DefaultEventsTopic = "trailwatch.events"
	DefaultStateTopic  = "trailwatch.state"
	DefaultPartitions  = 12
	maxPartitions      = 4096
)

func defaultScale() Scale {
	return Scale{Role: RoleAll, EventsTopic: DefaultEventsTopic, StateTopic: DefaultStateTopic, Partitions: DefaultPartitions,
		PartitionBy: partition.ByPrincipal}
}

// DetectGroup returns stage 2's consumer group.
func (c *Config) DetectGroup() string {
	if c.Scale.DetectGroupID != "" {
		return c.Scale.DetectGroupID
	}
	return c.Kafka.GroupID + ".detect"
}

// StateTopicSpec is the changelog topic: compacted, so that only the
// latest state per partition and principal is kept.
func (c *Config) StateTopicSpec(partitions int) kafka.TopicSpec {
	return kafka.TopicSpec{Name: c.Scale.StateTopic, Partitions: partitions, Replication: c.Scale.Replication,
		Configs: map[string]string{"cleanup.policy": "compact"}}
}

func (c *Config) validateScale(check func(key, topic string) error) error {
	s := &c.Scale
	switch s.Role {
	case RoleAll, RoleIngest, RoleDetect, RoleSingle:
	default:
		return fmt.Errorf("%w: scale.role: want all, ingest, detect or single, got %q", ErrInvalid, s.Role)
	}
	if s.Role == RoleSingle {
		return nil
	}
	if s.Partitions < 1 || s.Partitions > maxPartitions {
		return fmt.Errorf("%w: scale.partitions must be in 1..%d, got %d", ErrInvalid, maxPartitions, s.Partitions)
	}
	if s.PartitionBy != partition.ByPrincipal && s.PartitionBy != partition.ByAccount {
		return fmt.Errorf("%w: scale.partition_by: want principal or account, got %q", ErrInvalid, s.PartitionBy)
	}
	if s.PartitionBy == partition.ByAccount && s.Prekeyed {
		return fmt.Errorf("%w: scale.partition_by account with scale.prekeyed: prekeyed inputs are placed by their producer", ErrInvalid)
	}
	if s.Replication < 0 {
		return fmt.Errorf("%w: scale.replication must not be negative", ErrInvalid)
	}
	if s.Prekeyed && s.Role == RoleIngest {
		return fmt.Errorf("%w: scale.role ingest with scale.prekeyed: prekeyed inputs have no stage 1", ErrInvalid)
	}
	if !s.Prekeyed {
		if err := check("scale.events_topic", s.EventsTopic); err != nil {
			return err
		}
	}
	if err := check("scale.state_topic", s.StateTopic); err != nil {
		return err
	}
	if c.State.Path != "" {
		return fmt.Errorf("%w: state.path is the snapshot of scale.role single; with role %s state lives in scale.state_topic (local fast path: scale.snapshot_dir)", ErrInvalid, s.Role)
	}
	return nil
}
