package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/trailwatch/trailwatch/internal/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check configuration files and list environment overrides",
	}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a config file (with the TRAILWATCH_* environment applied) and exit non-zero on the first error",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.LoadEnv(args[0], nil)
			if err != nil {
				return err
			}
			brokers := "none: development broker on " + cfg.Kafka.DevBroker
			if len(cfg.Kafka.Brokers) > 0 {
				brokers = fmt.Sprint(cfg.Kafka.Brokers)
			}
			topology := "role single: one engine over the inputs"
			if sc := cfg.Scale; sc.Role != config.RoleSingle {
				topology = fmt.Sprintf("role %s: events %s and state %s, %d partitions, placed by %s", sc.Role,
					sc.EventsTopic, sc.StateTopic, sc.Partitions, sc.PartitionBy)
				if sc.Prekeyed {
					topology = fmt.Sprintf("role %s: prekeyed input, state %s", sc.Role, sc.StateTopic)
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (brokers %s, inputs %v, alerts %s, dead letters %s, http %q; %s)\n",
				args[0], brokers, cfg.Kafka.Inputs, cfg.Kafka.AlertsTopic, cfg.Kafka.DeadLetterTopic, cfg.HTTP.Addr, topology)
			return nil
		},
	}
	env := &cobra.Command{
		Use:   "env",
		Short: "List every TRAILWATCH_* environment variable and the setting it overrides",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			names := config.EnvNames()
			keys := make([]string, 0, len(names))
			for k := range names {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "%-48s %s\n", k, names[k])
			}
		},
	}
	cmd.AddCommand(check, env)
	return cmd
}
