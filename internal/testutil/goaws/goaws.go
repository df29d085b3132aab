// Package goaws starts the in-process SNS/SQS peer (Admiral-Piett/goaws)
// for tests. goaws keeps global state, so a test binary starts it once, in
// TestMain, and its tests use their own topic and queue names.
package goaws

import (
	"net"
	"net/http"

	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

// AccountID is the account goaws puts in ARNs; Region its region.
const (
	AccountID = "100010001000"
	Region    = "us-east-1"
)

// Start serves goaws on a free loopback port and returns its URL and a stop
// function.
func Start() (url string, stop func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	host, port, _ := net.SplitHostPort(l.Addr().String())
	models.CurrentEnvironment.Host, models.CurrentEnvironment.Port = host, port
	models.CurrentEnvironment.Region, models.CurrentEnvironment.AccountID = Region, AccountID
	models.CurrentEnvironment.QueueAttributeDefaults = models.EnvQueueAttributes{VisibilityTimeout: 30, MaximumMessageSize: 262144, MessageRetentionPeriod: 345600}
	logrus.SetLevel(logrus.ErrorLevel)
	srv := &http.Server{Handler: router.New()}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	return "http://" + l.Addr().String(), func() { srv.Close() }
}
