package respond

import (
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

// goawsURL is the in-process SNS/SQS (goaws keeps global state, so there is
// one per test binary; tests use their own topic and queue names).
var goawsURL string

func TestMain(m *testing.M) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	host, port, _ := net.SplitHostPort(l.Addr().String())
	models.CurrentEnvironment.Host, models.CurrentEnvironment.Port = host, port
	models.CurrentEnvironment.Region, models.CurrentEnvironment.AccountID = "us-east-1", "100010001000"
	models.CurrentEnvironment.QueueAttributeDefaults = models.EnvQueueAttributes{VisibilityTimeout: 30, MaximumMessageSize: 262144, MessageRetentionPeriod: 345600}
	logrus.SetLevel(logrus.ErrorLevel)
	srv := &http.Server{Handler: router.New()}
	go srv.Serve(l)
	goawsURL = "http://" + l.Addr().String()
	code := m.Run()
	srv.Close()
	os.Exit(code)
}
