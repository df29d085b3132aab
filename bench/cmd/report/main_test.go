package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-scale", "huge"}, {"extra"}, {"-nope"}} {
		err := run(context.Background(), args, io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
	err := run(context.Background(), []string{"-scale", "huge"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "large, medium, small") {
		t.Errorf("error %v should list the scales", err)
	}
}
