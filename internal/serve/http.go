package serve

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMux serves the operations endpoints:
//
//	/metrics  Prometheus text format
//	/healthz  200 while the process is alive (liveness)
//	/readyz   200 when consuming with a reachable broker and a working
//	          producer, else 503 (readiness)
func newMux(s *Service) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n")) //nolint:errcheck
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(s.notReadyReason() + "\n")) //nolint:errcheck
			return
		}
		w.Write([]byte("ready\n")) //nolint:errcheck
	})
	return mux
}

func (s *Service) notReadyReason() string {
	switch {
	case !s.running.Load():
		return "not ready: starting"
	case s.stopping.Load():
		return "not ready: shutting down"
	case !s.brokerUp.Load():
		return "not ready: kafka unreachable"
	case !s.prod.Healthy():
		return "not ready: writes to kafka failing"
	}
	return "not ready"
}
