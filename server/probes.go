package server

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Probes for orchestrators (Kubernetes' liveness and readiness), served on
// the HTTP gateway's listener and on the metrics listener, without a key:
//
//   - GET /healthz: 200 while the process serves (liveness);
//   - GET /readyz: 200 when the store answers (its head revision and its
//     schema can be read) and the server is not shutting down, 503
//     otherwise, with the reason in the body (readiness).
//
// gRPC clients have the health service (grpc.health.v1) for the same.

// probeTimeout bounds the store reads of one readiness probe.
const probeTimeout = 5 * time.Second

// withProbes answers /healthz and /readyz, and passes every other request
// to next.
func (s *Server) withProbes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz":
		default:
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Path == "/healthz" {
			probeAnswer(w, http.StatusOK, "ok")
			return
		}
		if err := s.ready(r.Context()); err != nil {
			probeAnswer(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
			return
		}
		probeAnswer(w, http.StatusOK, "ok")
	})
}

func probeAnswer(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}

// ready reports why the server cannot take requests, or nil.
func (s *Server) ready(ctx context.Context) error {
	if err := s.closingCtx.Err(); err != nil {
		return errShuttingDown
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := s.store.HeadRevision(ctx); err != nil {
		return err
	}
	if _, _, err := s.store.Schema(ctx); err != nil {
		return err
	}
	return nil
}

var errShuttingDown = errors.New("shutting down")
