package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/playground"
	"github.com/reach-authz/reach/server"
	"github.com/reach-authz/reach/tuples"
)

func init() { subcommands = append(subcommands, newServeCmd) }

// presharedKeyEnv is the environment variable read when no
// --preshared-key is given.
const presharedKeyEnv = "REACH_PRESHARED_KEY"

type serveOptions struct {
	grpcAddr, httpAddr, metricsAddr string
	keys, keyAliases                []string
	insecureNoAuth                  bool
	playground                      bool
	tlsCert, tlsKey                 string
	inMemory, syncWrites            bool
	maxUpdates                      int
	limits                          server.Limits
	shutdownTimeout                 time.Duration
	logLevel, logFormat             string
	cacheSize                       int
	cacheMaxBytes                   byteSize
	maxLookupResults                int
	groupIndex                      bool
	metricsPprof                    bool
	noVersionResponse               bool
	otel                            otelOptions
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the SpiceDB API (authzed.api.v1) over gRPC and HTTP",
		Long: `Serve the store in --data-dir with SpiceDB's API, authzed.api.v1, over gRPC
and (through the gRPC gateway) HTTP/JSON, so that SpiceDB's clients work unchanged.

Every request must carry a preshared key as a bearer token
("authorization: Bearer KEY"); give it with --preshared-key (or its alias
--grpc-preshared-key, repeatable for several keys) or the environment
variable ` + presharedKeyEnv + `. Without a key the server refuses to start unless
--insecure-no-auth is given, and then only on loopback addresses. Every
address defaults to 127.0.0.1; an empty --http-addr or --metrics-addr turns
that listener off. SIGTERM or SIGINT shuts down gracefully: requests in
flight finish, then the store is closed.

Request limits (defaults follow SpiceDB's): at most 1000 updates and 1000
preconditions per write, 1000 items per bulk check, limits of at most 1000 for
reads, lookups and deletes, 10000 per export batch, 4 MiB per message, 1000
concurrent requests per connection, 30s per request (streams included, from
the first message to the last, but Watch).

The HTTP gateway checks the key from a request's headers before reading its
body, and bounds slow clients: --http-read-timeout (default 30s) to read a
whole request, --http-write-timeout (default 60s, keep it above
--request-timeout) from the end of the headers to the end of the answer
(Watch streams excepted), --http-idle-timeout (default 2m) for a kept-alive
connection between requests, and --http-max-connections (default 1000)
connections at once; further ones wait to be accepted.

For orchestrators, GET /healthz (alive) and /readyz (the store answers; 503
otherwise) are served without a key on --http-addr and --metrics-addr.
Clients that ask (zed does) are told reach's version, as SpiceDB tells its
own; gRPC server reflection (for grpcurl) needs no key, as in SpiceDB.
--metrics-pprof adds Go's profiles under /debug/pprof/ on --metrics-addr.

OpenTelemetry tracing (a span per request, a span per store read) is off
unless --otel-provider otlpgrpc or the standard environment asks for it
(OTEL_TRACES_EXPORTER=otlp, or OTEL_EXPORTER_OTLP_ENDPOINT); it exports over
OTLP/gRPC to --otel-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT, else
localhost:4317), sampling --otel-sample-ratio of the traces (default 0.01, as
SpiceDB; OTEL_TRACES_SAMPLER when the flag is not given) and every trace a
client sends sampled in W3C traceparent.`,
		Example: `  reach serve --preshared-key "$KEY"
  REACH_PRESHARED_KEY=secret reach serve --grpc-addr 127.0.0.1:50051 --http-addr 127.0.0.1:8443
  reach serve --insecure-no-auth --in-memory`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runServe(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:50051", "address of the gRPC API")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8443", `address of the HTTP/JSON gateway ("" turns it off)`)
	f.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9090", `address of the Prometheus metrics ("" turns them off)`)
	f.StringSliceVar(&o.keys, "preshared-key", nil, "preshared key clients present as a bearer token (env "+presharedKeyEnv+"); repeat for several")
	f.StringSliceVar(&o.keyAliases, "grpc-preshared-key", nil, "alias of --preshared-key")
	f.BoolVar(&o.insecureNoAuth, "insecure-no-auth", false, "serve without authentication (loopback addresses only)")
	f.BoolVar(&o.playground, "playground", false, "serve reach playground under /playground/ on --http-addr, behind the key (a browser asks for it as a password)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM) for gRPC and HTTP")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	f.BoolVar(&o.inMemory, "in-memory", false, "serve an empty in-memory store instead of --data-dir (lost on exit)")
	f.BoolVar(&o.syncWrites, "sync-writes", false, "make every write wait for fsync (survives a machine crash, not only a process crash)")
	f.IntVar(&o.maxUpdates, "write-relationships-max-updates-per-call", tuples.DefaultMaxBatch, "most updates in one WriteRelationships")
	f.IntVar(&o.limits.MaxPreconditions, "update-relationships-max-preconditions-per-call", server.DefaultMaxPreconditions, "most preconditions in one write or delete")
	f.IntVar(&o.limits.MaxPreconditions, "write-relationships-max-preconditions-per-call", server.DefaultMaxPreconditions, "alias of --update-relationships-max-preconditions-per-call")
	f.IntVar(&o.limits.MaxCheckItems, "max-bulk-check-items", server.DefaultMaxCheckItems, "most items in one CheckBulkPermissions")
	f.IntVar(&o.limits.MaxReadLimit, "max-read-relationships-limit", server.DefaultMaxReadLimit, "largest limit of ReadRelationships")
	f.IntVar(&o.limits.MaxLookupLimit, "max-lookup-resources-limit", server.DefaultMaxLookupLimit, "largest limit of LookupResources")
	f.IntVar(&o.limits.MaxDeleteLimit, "max-delete-relationships-limit", server.DefaultMaxDeleteLimit, "largest limit of DeleteRelationships")
	f.IntVar(&o.limits.MaxExportBatch, "max-bulk-export-relationships-limit", server.DefaultMaxExportBatch, "largest (and default) batch of ExportBulkRelationships")
	f.IntVar(&o.limits.MaxMessageBytes, "max-message-bytes", server.DefaultMaxMessageBytes, "largest request message, in bytes")
	f.DurationVar(&o.limits.RequestTimeout, "request-timeout", server.DefaultRequestTimeout, "longest a request may run, streams included (but Watch)")
	f.Uint32Var(&o.limits.MaxConcurrentStreams, "max-concurrent-streams", server.DefaultMaxConcurrentStreams, "most requests one connection runs at once")
	f.DurationVar(&o.limits.HTTPReadTimeout, "http-read-timeout", server.DefaultHTTPReadTimeout, "longest the HTTP gateway takes to read one request, headers and body")
	f.DurationVar(&o.limits.HTTPWriteTimeout, "http-write-timeout", server.DefaultHTTPWriteTimeout, "longest an HTTP request may take from the end of its headers to the end of its answer (Watch streams excepted)")
	f.DurationVar(&o.limits.HTTPIdleTimeout, "http-idle-timeout", server.DefaultHTTPIdleTimeout, "longest a kept-alive HTTP connection waits for its next request")
	f.IntVar(&o.limits.MaxHTTPConnections, "http-max-connections", server.DefaultMaxHTTPConnections, "most HTTP connections open at once (more wait to be accepted)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "longest a graceful shutdown waits for requests in flight")
	o.cacheMaxBytes = engine.DefaultCacheMaxBytes
	f.Var(&o.cacheMaxBytes, "cache-max-bytes", "memory of the check cache, taken as it fills (as 256MiB or 1GiB; <0: off)")
	f.IntVar(&o.cacheSize, "cache-size", 0, "most entries of the check cache besides --cache-max-bytes (0: no more bound; <0: off)")
	f.IntVar(&o.maxLookupResults, "max-lookup-results", 0, fmt.Sprintf("most subjects one LookupSubjects holds in memory (0: the engine's default, %d): past it the lookup reads the store to give each subject once, and fails with ResourceExhausted where it must hold more (a wildcard's exclusions)", engine.DefaultMaxLookupResults))
	f.BoolVar(&o.groupIndex, "group-index", true, "keep the transitive closure of nested groups in memory (a Leopard index, followed from the store's changes), so that a nested group check is one lookup; false: walk every check")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&o.metricsPprof, "metrics-pprof", false, "serve Go's profiles (net/http/pprof) under /debug/pprof/ on --metrics-addr, without a key")
	f.BoolVar(&o.noVersionResponse, "disable-version-response", false, "do not tell clients that ask (io.spicedb.requestversion, as zed does) the server's version")
	o.otel.add(cmd)
	return cmd
}

func runServe(cmd *cobra.Command, o serveOptions) error {
	log, err := newLogger(cmd, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	o.keys = append(o.keys, o.keyAliases...)
	if len(o.keys) == 0 {
		if k := os.Getenv(presharedKeyEnv); k != "" {
			o.keys = strings.Split(k, ",")
		}
	}
	for _, k := range o.keys {
		if strings.TrimSpace(k) == "" {
			return usagef("a preshared key cannot be empty")
		}
	}
	switch {
	case len(o.keys) == 0 && !o.insecureNoAuth:
		return usagef("a preshared key is required: --preshared-key KEY or %s (or --insecure-no-auth, on loopback only)", presharedKeyEnv)
	case len(o.keys) > 0 && o.insecureNoAuth:
		return usagef("--insecure-no-auth and a preshared key exclude each other")
	case o.grpcAddr == "":
		return usagef("--grpc-addr cannot be empty")
	case o.playground && o.httpAddr == "":
		return usagef("--playground is served on --http-addr, which is off")
	}
	if err := checkServeNumbers(o); err != nil {
		return err
	}
	if o.insecureNoAuth {
		for _, a := range []struct{ flag, addr string }{{"--grpc-addr", o.grpcAddr}, {"--http-addr", o.httpAddr}, {"--metrics-addr", o.metricsAddr}} {
			if a.addr != "" && !isLoopback(a.addr) {
				return usagef("--insecure-no-auth serves only on loopback addresses, not %s %s", a.flag, a.addr)
			}
		}
	}
	var tlsConf *tls.Config
	if o.tlsCert != "" || o.tlsKey != "" {
		if o.tlsCert == "" || o.tlsKey == "" {
			return usagef("--tls-cert and --tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("loading the TLS key pair: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	tp, stopTracing, err := startTracing(cmd.Context(), cmd, o.otel, log)
	if err != nil {
		return err
	}
	defer stopTracing() // after the server and the store: the last spans too

	store, err := openDatastore(cmd.Context(), openParams{inMemory: o.inMemory, maxBatch: o.maxUpdates, syncWrites: o.syncWrites, serving: true})
	if err != nil {
		return err
	}
	if w, ok := store.(interface{ Writable() error }); ok {
		if err := w.Writable(); err != nil {
			// A full disk: reads are served, writes fail with
			// ResourceExhausted until space returns.
			log.Warn("the store is read-only for now; serving reads", "reason", err)
		}
	}
	if tp != nil {
		store = datastore.Traced(store, tp)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("closing the store", "err", err)
		} else {
			log.Info("store closed")
		}
	}()
	eng := engine.New(store, engine.Options{
		CacheSize:         o.cacheSize,
		CacheMaxBytes:     int64(o.cacheMaxBytes),
		MaxLookupResults:  o.maxLookupResults,
		DisableGroupIndex: !o.groupIndex,
	})
	defer eng.Close() // before the store closes: the index stops reading it
	var pg http.Handler
	if o.playground {
		pg = playground.New(playground.Options{Log: log})
	}
	srv, err := server.New(store, eng, server.Config{
		PresharedKeys:   o.keys,
		InsecureNoAuth:  o.insecureNoAuth,
		Playground:      pg,
		TLS:             tlsConf,
		Logger:          log,
		Limits:          o.limits,
		ShutdownTimeout: o.shutdownTimeout,
		Version:         serverVersion(o),
		MetricsPprof:    o.metricsPprof,
		TracerProvider:  tp,
	})
	if err != nil {
		return err
	}

	var ln server.Listeners
	var opened []net.Listener
	closeAll := func() {
		for _, l := range opened {
			l.Close()
		}
	}
	for _, a := range []struct {
		addr string
		dst  *net.Listener
	}{{o.grpcAddr, &ln.GRPC}, {o.httpAddr, &ln.HTTP}, {o.metricsAddr, &ln.Metrics}} {
		if a.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", a.addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("listening on %s: %w", a.addr, err)
		}
		opened = append(opened, l)
		*a.dst = l
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := srv.Run(ctx, ln); err != nil {
		return err
	}
	return nil
}

// serverVersion is the version the server reports: reach's (see
// version.go), unless --disable-version-response.
func serverVersion(o serveOptions) string {
	if o.noVersionResponse {
		return ""
	}
	return buildInfo().Version
}

// checkServeNumbers refuses negative limits and timeouts (zero takes the
// default; --cache-size has a meaning of its own below zero).
func checkServeNumbers(o serveOptions) error {
	l := o.limits
	for _, v := range []struct {
		flag  string
		value int64
		shown string
	}{
		{"--write-relationships-max-updates-per-call", int64(o.maxUpdates), ""},
		{"--update-relationships-max-preconditions-per-call", int64(l.MaxPreconditions), ""},
		{"--max-bulk-check-items", int64(l.MaxCheckItems), ""},
		{"--max-read-relationships-limit", int64(l.MaxReadLimit), ""},
		{"--max-lookup-resources-limit", int64(l.MaxLookupLimit), ""},
		{"--max-lookup-results", int64(o.maxLookupResults), ""},
		{"--max-delete-relationships-limit", int64(l.MaxDeleteLimit), ""},
		{"--max-bulk-export-relationships-limit", int64(l.MaxExportBatch), ""},
		{"--max-message-bytes", int64(l.MaxMessageBytes), ""},
		{"--http-max-connections", int64(l.MaxHTTPConnections), ""},
		{"--request-timeout", int64(l.RequestTimeout), l.RequestTimeout.String()},
		{"--http-read-timeout", int64(l.HTTPReadTimeout), l.HTTPReadTimeout.String()},
		{"--http-write-timeout", int64(l.HTTPWriteTimeout), l.HTTPWriteTimeout.String()},
		{"--http-idle-timeout", int64(l.HTTPIdleTimeout), l.HTTPIdleTimeout.String()},
		{"--shutdown-timeout", int64(o.shutdownTimeout), o.shutdownTimeout.String()},
	} {
		if v.value < 0 {
			if v.shown == "" {
				v.shown = fmt.Sprint(v.value)
			}
			return usagef("%s cannot be negative, not %s", v.flag, v.shown)
		}
	}
	return nil
}

// isLoopback reports whether addr (host:port) names a loopback host; an
// empty host (every interface) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newLogger(cmd *cobra.Command, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level must be debug, info, warn or error, not %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	w := cmd.ErrOrStderr()
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format must be text or json, not %q", format)
}
