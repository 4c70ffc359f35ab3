package server

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/reach-authz/reach/engine"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	checks   *prometheus.CounterVec
	writes   prometheus.Counter
	watchers prometheus.Gauge

	methods  sync.Map              // full method name → *methodMetrics
	byResult [3]prometheus.Counter // checks_total by Permissionship
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "reach", Subsystem: "grpc", Name: "requests_total",
		Help: "gRPC requests handled, by method and status code.",
	}, []string{"method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "reach", Subsystem: "grpc", Name: "request_duration_seconds",
		Help:    "Time to handle a gRPC request (a stream: until it ends), by method.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"method"})
	m.checks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "reach", Name: "checks_total",
		Help: "Permission checks answered (single and bulk), by result.",
	}, []string{"result"})
	for _, p := range []engine.Permissionship{engine.Denied, engine.Conditional, engine.Allowed} {
		if int(p) >= 0 && int(p) < len(m.byResult) {
			m.byResult[p] = m.checks.WithLabelValues(p.String())
		}
	}
	m.writes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "reach", Name: "relationships_written_total",
		Help: "Relationship updates written through WriteRelationships and ImportBulkRelationships.",
	})
	m.watchers = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "reach", Name: "watch_streams",
		Help: "Watch streams open.",
	})
	cacheHits := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "reach", Subsystem: "check_cache", Name: "hits_total",
		Help: "Check cache hits.",
	}, func() float64 { return float64(s.eng.CacheStats().Hits) })
	cacheMisses := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "reach", Subsystem: "check_cache", Name: "misses_total",
		Help: "Check cache misses.",
	}, func() float64 { return float64(s.eng.CacheStats().Misses) })
	cacheEntries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "reach", Subsystem: "check_cache", Name: "entries",
		Help: "Entries in the check cache.",
	}, func() float64 { return float64(s.eng.CacheStats().Entries) })
	cacheBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "reach", Subsystem: "check_cache", Name: "bytes",
		Help: "Memory the check cache holds (its index and the entries written so far), at most its bound.",
	}, func() float64 { return float64(s.eng.CacheStats().Bytes) })
	head := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "reach", Name: "head_revision",
		Help: "The store's head revision.",
	}, func() float64 {
		r, err := s.store.HeadRevision(context.Background())
		if err != nil {
			return 0
		}
		return float64(r)
	})
	m.reg.MustRegister(m.requests, m.latency, m.checks, m.writes, m.watchers,
		cacheHits, cacheMisses, cacheEntries, cacheBytes, head,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// methodMetrics are a method's series, looked up once: finding a series
// by its labels hashes them under a lock, a few hundred nanoseconds a
// request.
type methodMetrics struct {
	ok      prometheus.Counter // requests_total{code="OK"}
	latency prometheus.Observer
}

func (m *metrics) observeRequest(method string, code codes.Code, d time.Duration) {
	mm, ok := m.methods.Load(method)
	if !ok {
		name := strings.TrimPrefix(method, "/")
		mm, _ = m.methods.LoadOrStore(method, &methodMetrics{
			ok:      m.requests.WithLabelValues(name, codes.OK.String()),
			latency: m.latency.WithLabelValues(name),
		})
	}
	mt := mm.(*methodMetrics)
	if code == codes.OK {
		mt.ok.Inc()
	} else {
		m.requests.WithLabelValues(strings.TrimPrefix(method, "/"), code.String()).Inc()
	}
	mt.latency.Observe(d.Seconds())
}

func (m *metrics) observeCheck(p engine.Permissionship) {
	if int(p) >= 0 && int(p) < len(m.byResult) {
		m.byResult[p].Inc()
		return
	}
	m.checks.WithLabelValues(p.String()).Inc()
}

// handler serves /metrics and, with pprof, Go's profiles under
// /debug/pprof/ as SpiceDB does, but the command line (which may hold the
// preshared key), which answers 404 as in SpiceDB.
func (m *metrics) handler(pprofOn bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "the command line is not served: it may hold the preshared key", http.StatusNotFound)
		})
	}
	return mux
}
