package service

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// opsHandler serves the plain-HTTP ops endpoints: /metrics for Prometheus,
// /healthz (the process is alive) and /readyz (it should get traffic).
func (s *Service) opsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// readiness is the /readyz body.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz responds 503 while shutting down and 200 otherwise. A store or KMS
// outage is reported as "degraded" with 200: validations and the DTMF path
// still work, and taking every task out of the load balancer would stop
// them too. The checks are cached by runChecks, never probed per request.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	body := readiness{Status: "ready", Checks: map[string]string{"keys": "ok", "store": "ok", "kms": "ok"}}
	if !s.dec.KMSEnabled() {
		body.Checks["kms"] = "disabled"
	} else if !s.kmsOK.Load() {
		body.Checks["kms"], body.Status = "unreachable", "degraded"
	}
	if !s.storeOK.Load() {
		body.Checks["store"], body.Status = "unavailable", "degraded"
	}
	status := http.StatusOK
	if s.shuttingDown.Load() {
		body.Status, status = "shutting_down", http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// runChecks refreshes the cached store and KMS checks until ctx ends.
func (s *Service) runChecks(ctx context.Context) {
	ticker := time.NewTicker(checkInterval)
	defer ticker.Stop()
	for {
		s.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (s *Service) check(ctx context.Context) {
	storeCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	storeErr := s.store.Ping(storeCtx)
	cancel()
	if was := s.storeOK.Swap(storeErr == nil); was != (storeErr == nil) {
		if storeErr != nil {
			s.log.Error("authorization store unavailable; authorizations fail with store_unavailable", zap.Error(storeErr))
		} else {
			s.log.Info("authorization store available again")
		}
	}
	if s.kmsHead == nil {
		s.metrics.SetKMSReachable(false, false)
		return
	}
	kmsCtx, cancel := context.WithTimeout(ctx, checkTimeout)
	kmsErr := s.kmsHead(kmsCtx)
	cancel()
	if was := s.kmsOK.Swap(kmsErr == nil); was != (kmsErr == nil) {
		if kmsErr != nil {
			s.log.Error("KMS unreachable; KMS tokens fail with kms_unavailable", zap.Error(kmsErr))
		} else {
			s.log.Info("KMS reachable again")
		}
	}
	s.metrics.SetKMSReachable(true, kmsErr == nil)
}
