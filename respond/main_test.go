package respond

import (
	"os"
	"testing"

	"github.com/trailwatch/trailwatch/internal/testutil/goaws"
)

// goawsURL is the in-process SNS/SQS (goaws keeps global state, so there is
// one per test binary; tests use their own topic and queue names).
var goawsURL string

func TestMain(m *testing.M) {
	url, stop := goaws.Start()
	goawsURL = url
	code := m.Run()
	stop()
	os.Exit(code)
}
