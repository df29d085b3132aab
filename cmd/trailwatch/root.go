package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errRejected is returned by replay --strict when records were rejected.
var errRejected = errors.New("records were rejected")

func exitCode(err error) int {
	if errors.Is(err, errRejected) {
		return 3
	}
	return 1
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "trailwatch",
		Short:         "Streaming anomaly detection for AWS CloudTrail and VPC Flow Logs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newReplayCmd())
	root.AddCommand(newServeCmd())
	root.AddCommand(newDemoCmd())
	root.AddCommand(newConfigCmd())
	root.AddCommand(newReleaseCmd())
	return root
}
