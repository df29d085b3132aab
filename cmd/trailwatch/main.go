// Command trailwatch is a streaming anomaly-detection engine for AWS audit
// logs: it baselines each principal's behaviour and alerts on 3-sigma outliers.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "trailwatch:", err)
		os.Exit(exitCode(err))
	}
}
