package main

import (
	"context"
	"errors"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/trailwatch/trailwatch/detect"
	"github.com/trailwatch/trailwatch/respond"
)

// replayResponder builds the response stage for `replay --respond`: the
// configured sinks, delivered to synchronously (with the configured retries)
// through Responder.Dispatch, without Kafka. Failed deliveries are logged and
// counted; they do not stop the replay. Without --respond it returns nil.
func replayResponder(ctx context.Context, on bool, cfg respond.Config, log *zap.Logger) (func(*detect.Alert), func(), error) {
	if !on {
		return nil, func() {}, nil
	}
	if len(cfg.Sinks) == 0 && !cfg.Quarantine.Enabled {
		return nil, nil, errors.New("--respond: the config's respond section has no sinks and quarantine is off")
	}
	m := respond.NewMetrics(nil)
	sinks, audit, err := respond.BuildSinks(ctx, cfg, respond.Deps{Logger: log}, m, nil)
	if err != nil {
		return nil, nil, err
	}
	r, err := respond.NewResponder(respond.ResponderOptions{Sinks: sinks, Retry: cfg.Retry, Breaker: cfg.Breaker,
		Metrics: m, Logger: log, Parked: noParking{}})
	if err != nil {
		if audit != nil {
			audit.Close()
		}
		return nil, nil, err
	}
	deliver := func(a *detect.Alert) {
		for _, f := range r.Dispatch(ctx, a) {
			log.Warn("alert not delivered", zap.String("alert", a.ID), zap.String("sink", f.Sink),
				zap.String("reason", f.Reason), zap.Int("attempts", f.Attempts), zap.Error(f.Err))
		}
	}
	closeFn := func() {
		if audit != nil {
			audit.Close()
		}
	}
	return deliver, closeFn, nil
}

// noParking is the parked-topic writer of a replay: Dispatch reports
// failures to the caller instead of parking, so nothing is ever written.
type noParking struct{}

func (noParking) WriteMessages(context.Context, ...kafka.Message) error {
	return errors.New("replay does not park alerts: failures are logged")
}
