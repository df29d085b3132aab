// Package devbroker runs an in-process Kafka-protocol broker (franz-go's
// kfake) so that `trailwatch serve` and `trailwatch demo` work with nothing
// installed: anyone can produce to it with kcat or any Kafka client. It keeps
// every message in memory and loses them on exit; it is for development and
// demonstrations, never for production, and says so loudly when it starts.
package devbroker

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// DefaultAddr is where the development broker listens by default.
const DefaultAddr = "127.0.0.1:9092"

// Options configure the broker. Zero values get defaults.
type Options struct {
	// Addr is host:port to listen on; default DefaultAddr. Port 0 picks a
	// free port (tests).
	Addr string
	// Topics are created at start with Partitions partitions each (default 6).
	Topics     []string
	Partitions int32
	// GroupMinSessionTimeout lets clients use short session timeouts, which
	// make rebalances fast (tests); default 1s.
	GroupMinSessionTimeout time.Duration
	Logger                 *zap.Logger
}

// Broker is a running development broker.
type Broker struct {
	c     *kfake.Cluster
	addrs []string
}

// Start starts a single-node broker.
func Start(o Options) (*Broker, error) {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Partitions <= 0 {
		o.Partitions = 6
	}
	if o.GroupMinSessionTimeout <= 0 {
		o.GroupMinSessionTimeout = time.Second
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	host, portS, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("devbroker address %q: %w", o.Addr, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("devbroker address %q: bad port", o.Addr)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.GroupMinSessionTimeout(o.GroupMinSessionTimeout),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(o.Partitions)),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
	}
	if len(o.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(o.Partitions, o.Topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("devbroker on %s: %w", o.Addr, err)
	}
	b := &Broker{c: c, addrs: c.ListenAddrs()}
	o.Logger.Warn("DEVELOPMENT BROKER: an in-process Kafka-protocol broker (kfake) is running because no brokers are configured; "+
		"it keeps every message in memory and loses them on exit. Do not use it in production: set kafka.brokers.",
		zap.Strings("addrs", b.addrs), zap.Strings("topics", o.Topics), zap.Int32("partitions", o.Partitions))
	return b, nil
}

// Addrs returns the listen addresses (host:port).
func (b *Broker) Addrs() []string { return append([]string(nil), b.addrs...) }

// Close stops the broker and drops its data. It is safe to call twice.
func (b *Broker) Close() {
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}
