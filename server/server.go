package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authzed/authzed-go/pkg/responsemeta"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// Limits bound what one request may ask. The zero value of a field takes
// its default (the Default* constants), which follow SpiceDB's; a negative
// one is refused.
type Limits struct {
	// MaxCheckItems is the most items of one CheckBulkPermissions.
	MaxCheckItems int
	// MaxPreconditions is the most preconditions of one write or delete.
	// (The most updates of one write is the store's MaxBatch.)
	MaxPreconditions int
	// MaxReadLimit, MaxLookupLimit and MaxDeleteLimit are the largest
	// optional_limit ReadRelationships, LookupResources and
	// DeleteRelationships accept (0 there means no limit).
	MaxReadLimit   int
	MaxLookupLimit int
	MaxDeleteLimit int
	// MaxExportBatch is the largest (and default) batch of
	// ExportBulkRelationships.
	MaxExportBatch int
	// MaxMessageBytes is the largest message received.
	MaxMessageBytes int
	// RequestTimeout bounds a request that has no earlier deadline: a unary
	// call, or a stream (but Watch, long-lived by design) from its start to
	// its last message.
	RequestTimeout time.Duration
	// MaxConcurrentStreams is the most requests one connection runs at once.
	MaxConcurrentStreams uint32

	// HTTPReadTimeout bounds reading one HTTP request, headers and body
	// (the headers alone get at most 10s).
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds one HTTP request from the end of its headers
	// to the end of its response, except a Watch stream (long-lived by
	// design). Keep it above RequestTimeout.
	HTTPWriteTimeout time.Duration
	// HTTPIdleTimeout is how long a kept-alive HTTP connection may wait for
	// its next request.
	HTTPIdleTimeout time.Duration
	// MaxHTTPConnections is the most HTTP connections open at once; further
	// ones wait to be accepted until one closes.
	MaxHTTPConnections int
}

// Defaults of Limits.
const (
	DefaultMaxCheckItems        = 1000
	DefaultMaxPreconditions     = 1000
	DefaultMaxReadLimit         = 1000
	DefaultMaxLookupLimit       = 1000
	DefaultMaxDeleteLimit       = 1000
	DefaultMaxExportBatch       = 10000
	DefaultMaxMessageBytes      = 4 << 20
	DefaultRequestTimeout       = 30 * time.Second
	DefaultMaxConcurrentStreams = 1000
	DefaultHTTPReadTimeout      = 30 * time.Second
	DefaultHTTPWriteTimeout     = 60 * time.Second
	DefaultHTTPIdleTimeout      = 120 * time.Second
	DefaultMaxHTTPConnections   = 1000
	// DefaultShutdownTimeout is how long a graceful shutdown waits for
	// requests in flight.
	DefaultShutdownTimeout = 15 * time.Second
)

// check refuses a negative limit.
func (l *Limits) check() error {
	for _, v := range []struct {
		name  string
		value int64
	}{
		{"MaxCheckItems", int64(l.MaxCheckItems)},
		{"MaxPreconditions", int64(l.MaxPreconditions)},
		{"MaxReadLimit", int64(l.MaxReadLimit)},
		{"MaxLookupLimit", int64(l.MaxLookupLimit)},
		{"MaxDeleteLimit", int64(l.MaxDeleteLimit)},
		{"MaxExportBatch", int64(l.MaxExportBatch)},
		{"MaxMessageBytes", int64(l.MaxMessageBytes)},
		{"RequestTimeout", int64(l.RequestTimeout)},
		{"HTTPReadTimeout", int64(l.HTTPReadTimeout)},
		{"HTTPWriteTimeout", int64(l.HTTPWriteTimeout)},
		{"HTTPIdleTimeout", int64(l.HTTPIdleTimeout)},
		{"MaxHTTPConnections", int64(l.MaxHTTPConnections)},
	} {
		if v.value < 0 {
			return fmt.Errorf("limit %s cannot be negative", v.name)
		}
	}
	return nil
}

func (l *Limits) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxCheckItems, DefaultMaxCheckItems)
	def(&l.MaxPreconditions, DefaultMaxPreconditions)
	def(&l.MaxReadLimit, DefaultMaxReadLimit)
	def(&l.MaxLookupLimit, DefaultMaxLookupLimit)
	def(&l.MaxDeleteLimit, DefaultMaxDeleteLimit)
	def(&l.MaxExportBatch, DefaultMaxExportBatch)
	def(&l.MaxMessageBytes, DefaultMaxMessageBytes)
	def(&l.MaxHTTPConnections, DefaultMaxHTTPConnections)
	dur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	dur(&l.RequestTimeout, DefaultRequestTimeout)
	dur(&l.HTTPReadTimeout, DefaultHTTPReadTimeout)
	dur(&l.HTTPWriteTimeout, DefaultHTTPWriteTimeout)
	dur(&l.HTTPIdleTimeout, DefaultHTTPIdleTimeout)
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
}

// httpServer is an http.Server with the limits' timeouts. The write timeout
// is set per request (see guardHTTP), so that a Watch stream can be exempt.
func (l *Limits) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, l.HTTPReadTimeout),
		ReadTimeout:       l.HTTPReadTimeout,
		IdleTimeout:       l.HTTPIdleTimeout,
	}
}

// Config configures a Server.
type Config struct {
	// PresharedKeys are the accepted bearer tokens. At least one is needed
	// unless InsecureNoAuth.
	PresharedKeys []string
	// InsecureNoAuth serves without authentication.
	InsecureNoAuth bool
	// Playground, if set, is served under /playground/ on the HTTP
	// listener, behind the same key as the API (see playground.go).
	Playground http.Handler
	// TLS, if set, serves gRPC and HTTP over TLS.
	TLS *tls.Config
	// Logger receives the server's structured logs (default: slog.Default()).
	Logger *slog.Logger
	// Limits bound requests.
	Limits Limits
	// ShutdownTimeout bounds the graceful shutdown (default
	// DefaultShutdownTimeout); requests still running then are cut.
	ShutdownTimeout time.Duration
	// Version is reach's version, reported to the clients that ask for it
	// with SpiceDB's header (see version.go); "" reports none.
	Version string
	// MetricsPprof serves Go's profiles (net/http/pprof) under
	// /debug/pprof/ on the metrics listener, without a key. Off by
	// default: SpiceDB always serves them there, but a profile shows the
	// process's internals to whoever reaches the port.
	MetricsPprof bool
	// TracerProvider, when set, makes an OpenTelemetry span of every gRPC
	// request (HTTP requests included: the gateway calls the API over
	// gRPC), continuing a trace the client sends in W3C traceparent
	// metadata. Spans of store reads come from wrapping the store given to
	// New and to the engine (datastore.Traced).
	TracerProvider trace.TracerProvider
}

// Server serves the authzed.api.v1 API over a store and an engine.
type Server struct {
	store   datastore.Datastore
	eng     *engine.Engine
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	health  *health.Server
	version string // as sent (wireVersion)
	// versionMD is the trailer that reports it (nil: none reported).
	versionMD metadata.MD
	// lastToken is the token of the revision last answered (see token).
	lastToken atomic.Pointer[revToken]

	grpc   *grpc.Server // the public server
	inproc *grpc.Server // plain server on an in-memory listener, for the gateway
	pipe   *bufconn.Listener

	// closingCtx is cancelled when shutdown begins, to end watch streams
	// (which never finish by themselves).
	closingCtx context.Context
	closing    context.CancelFunc
}

// New builds a Server. It serves nothing until Run.
func New(store datastore.Datastore, eng *engine.Engine, cfg Config) (*Server, error) {
	if len(cfg.PresharedKeys) == 0 && !cfg.InsecureNoAuth {
		return nil, errors.New("a preshared key is required (or insecure-no-auth)")
	}
	for _, k := range cfg.PresharedKeys {
		if k == "" {
			return nil, errors.New("a preshared key cannot be empty")
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout < 0 {
		return nil, errors.New("the shutdown timeout cannot be negative")
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if err := cfg.Limits.check(); err != nil {
		return nil, err
	}
	cfg.Limits.setDefaults()
	s := &Server{store: store, eng: eng, cfg: cfg, log: cfg.Logger, health: health.NewServer(), version: wireVersion(cfg.Version)}
	if s.version != "" {
		s.versionMD = metadata.Pairs(string(responsemeta.ServerVersion), s.version)
	}
	s.closingCtx, s.closing = context.WithCancel(context.Background())
	s.metrics = newMetrics(s)

	// The codec: vtprotobuf's code for the API's messages (codec.go).
	opts := []grpc.ServerOption{grpc.ForceServerCodecV2(newCodec())}
	if cfg.TracerProvider != nil {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(cfg.TracerProvider),
			otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		)))
	}
	opts = append(opts,
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
		grpc.MaxRecvMsgSize(cfg.Limits.MaxMessageBytes),
		grpc.MaxConcurrentStreams(cfg.Limits.MaxConcurrentStreams),
		// Fixed flow-control windows (see client.go).
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
	)
	public := opts
	if cfg.TLS != nil {
		public = append(public, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	s.grpc = grpc.NewServer(public...)
	s.inproc = grpc.NewServer(opts...)
	for _, g := range []*grpc.Server{s.grpc, s.inproc} {
		g.RegisterService(&permissionsDesc, newPermissionsService(s)) // (checkcall.go)
		v1.RegisterSchemaServiceServer(g, &schemaService{s: s})
		v1.RegisterWatchServiceServer(g, &watchService{s: s})
		healthpb.RegisterHealthServer(g, s.health)
	}
	// Server reflection (v1 and v1alpha), so that grpcurl and the like
	// can list and call the API; like SpiceDB's, it needs no key.
	reflection.Register(s.grpc)
	for _, name := range []string{"", "authzed.api.v1.PermissionsService", "authzed.api.v1.SchemaService", "authzed.api.v1.WatchService"} {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	return s, nil
}

// GRPCServer is the public gRPC server (to serve on a listener of one's own).
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Listeners are where Run serves. GRPC is required; HTTP (the JSON
// gateway) and Metrics (Prometheus) are optional.
type Listeners struct {
	GRPC, HTTP, Metrics net.Listener
}

// Run serves on the listeners until ctx ends, then shuts down gracefully:
// it stops accepting, ends watch streams, lets requests in flight finish (up
// to Config.ShutdownTimeout) and returns. It does not close the store. The
// listeners are closed when Run returns.
func (s *Server) Run(ctx context.Context, ln Listeners) error {
	if ln.GRPC == nil {
		return errors.New("no gRPC listener")
	}
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	serve := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("%s server: %w", name, err)
			}
		}()
	}
	s.log.Info("serving gRPC", "addr", ln.GRPC.Addr().String(), "tls", s.cfg.TLS != nil, "auth", !s.cfg.InsecureNoAuth)
	s.warnPlaintext("gRPC", ln.GRPC)
	serve("gRPC", func() error { return s.grpc.Serve(ln.GRPC) })

	var httpSrv, metricsSrv *http.Server
	if ln.HTTP != nil {
		s.pipe = bufconn.Listen(1 << 20)
		serve("in-process gRPC", func() error { return s.inproc.Serve(s.pipe) })
		h, closeGW, err := s.gatewayHandler(ctx)
		if err != nil {
			s.grpc.Stop()
			s.inproc.Stop()
			wg.Wait()
			return err
		}
		defer closeGW()
		httpSrv = s.cfg.Limits.httpServer(s.withProbes(h))
		httpSrv.TLSConfig = s.cfg.TLS
		s.log.Info("serving HTTP gateway", "addr", ln.HTTP.Addr().String(), "tls", s.cfg.TLS != nil,
			"max_connections", s.cfg.Limits.MaxHTTPConnections)
		s.warnPlaintext("HTTP gateway", ln.HTTP)
		httpLn := netutil.LimitListener(ln.HTTP, s.cfg.Limits.MaxHTTPConnections)
		serve("HTTP", func() error {
			if s.cfg.TLS != nil {
				return httpSrv.ServeTLS(httpLn, "", "")
			}
			return httpSrv.Serve(httpLn)
		})
	}
	if ln.Metrics != nil {
		metricsSrv = s.cfg.Limits.httpServer(s.withProbes(s.metrics.handler(s.cfg.MetricsPprof)))
		metricsSrv.WriteTimeout = s.cfg.Limits.HTTPWriteTimeout
		s.log.Info("serving metrics", "addr", ln.Metrics.Addr().String())
		serve("metrics", func() error { return metricsSrv.Serve(ln.Metrics) })
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("shutting down")
	s.shutdown(httpSrv, metricsSrv)
	wg.Wait()
	s.log.Info("stopped")
	return runErr
}

// warnPlaintext warns when the key would cross a network in plaintext: a
// key is required, there is no TLS, and l is a TCP listener on an address
// other than loopback (every interface included).
func (s *Server) warnPlaintext(name string, l net.Listener) {
	if s.cfg.InsecureNoAuth || s.cfg.TLS != nil || !onNetwork(l.Addr()) {
		return
	}
	s.log.Warn("serving "+name+" without TLS on an address other than loopback: "+
		"the preshared key and the data cross the network in plaintext (give a TLS certificate)",
		"addr", l.Addr().String())
}

// onNetwork reports whether a is a TCP address other than loopback.
func onNetwork(a net.Addr) bool {
	switch a.Network() {
	case "tcp", "tcp4", "tcp6":
	default:
		return false // unix sockets, in-memory listeners
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// shutdown stops the servers gracefully, within the shutdown timeout.
func (s *Server) shutdown(httpSrv, metricsSrv *http.Server) {
	s.health.Shutdown()
	s.closing()
	deadline, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if httpSrv != nil {
		if err := httpSrv.Shutdown(deadline); err != nil {
			httpSrv.Close()
		}
	}
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		s.inproc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-deadline.Done():
		s.log.Warn("shutdown timeout: cutting requests in flight")
		s.grpc.Stop()
		s.inproc.Stop()
		<-done
	}
	if metricsSrv != nil {
		metricsSrv.Close()
	}
}

// status converts an error for the API (see toStatus).
func (s *Server) status(ctx context.Context, err error) error {
	return toStatus(ctx, s.log, err)
}

// checkLimit refuses a requested limit above the server's maximum, with
// SpiceDB's reason and metadata.
func checkLimit(limit, max int) error {
	if limit <= max {
		return nil
	}
	return withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_EXCEEDS_MAXIMUM_ALLOWABLE_LIMIT,
		map[string]string{"limit_provided": strconv.Itoa(limit), "maximum_limit_allowed": strconv.Itoa(max)},
		"provided limit %d is greater than maximum allowed of %d", limit, max)
}

// startRevision is the revision a paged read without a cursor starts at:
// the one its consistency asks for, resolved by resolve.
func (s *Server) startRevision(ctx context.Context, c *v1.Consistency) (tuples.Revision, error) {
	cons, err := consistency(c)
	if err != nil {
		return 0, err
	}
	rev, err := s.resolve(ctx, cons)
	if err != nil {
		return 0, s.status(ctx, err)
	}
	return rev, nil
}

// pageStart is where a paged read of the store starts: after its cursor
// when it continues one, else at the revision its consistency asks for.
func (s *Server) pageStart(ctx context.Context, cursor *v1.Cursor, c *v1.Consistency) (pageCursor, error) {
	if cursor != nil {
		pc, err := decodePageCursor(cursor)
		if err != nil {
			return pageCursor{}, s.status(ctx, err)
		}
		return pc, nil
	}
	rev, err := s.startRevision(ctx, c)
	if err != nil {
		return pageCursor{}, err
	}
	return pageCursor{Revision: rev}, nil
}

// resolve picks the revision a read with consistency c reads, for the calls
// that read the store directly (ReadRelationships, ExportBulkRelationships)
// or need the revision before they start (LookupResources): the engine's
// choice, so that minimize_latency shares the quantized revision (and its
// cache entries) with checks. A token newer than the head is refused here,
// before anything is streamed.
func (s *Server) resolve(ctx context.Context, c engine.Consistency) (tuples.Revision, error) {
	rev, err := s.eng.Revision(ctx, c)
	if err != nil {
		return 0, err
	}
	head, err := s.store.HeadRevision(ctx)
	if err != nil {
		return 0, err
	}
	if rev > head {
		return 0, fmt.Errorf("revision %d: %w", rev, tuples.ErrRevisionInFuture)
	}
	return rev, nil
}

// Authentication and validation. SpiceDB checks the key first, then
// validates the request: a request without a key is Unauthenticated even
// when it is malformed. A wrong key is PermissionDenied (DESIGN.md, verified
// against SpiceDB). The health service needs no key, and neither does
// server reflection (SpiceDB registers it through grpcutil's
// NewAuthlessReflectionInterceptor): it describes the API, which is
// public, and reads nothing of the store.

const bearerPrefix = "bearer "

// keyless are the services served without a key.
var keyless = []string{"/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"}

func (s *Server) authenticate(ctx context.Context, fullMethod string) error {
	if s.cfg.InsecureNoAuth {
		return nil
	}
	for _, p := range keyless {
		if strings.HasPrefix(fullMethod, p) {
			return nil
		}
	}
	return s.checkKey(metadata.ValueFromIncomingContext(ctx, "authorization"))
}

// checkKey checks the values of the authorization header (gRPC metadata or
// HTTP header) against the preshared keys: none or no bearer token is
// Unauthenticated, a wrong key PermissionDenied.
func (s *Server) checkKey(vals []string) error {
	if s.cfg.InsecureNoAuth {
		return nil
	}
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "Request unauthenticated with bearer")
	}
	v := vals[0]
	if len(v) < len(bearerPrefix) || !strings.EqualFold(v[:len(bearerPrefix)], bearerPrefix) {
		return status.Error(codes.Unauthenticated, "Request unauthenticated with bearer")
	}
	token := strings.TrimSpace(v[len(bearerPrefix):])
	if token == "" {
		return status.Error(codes.Unauthenticated, "Request unauthenticated with bearer")
	}
	ok := 0
	for _, k := range s.cfg.PresharedKeys {
		ok |= constantTimeEqual(token, k)
	}
	if ok != 1 {
		return status.Error(codes.PermissionDenied, "invalid preshared key: invalid token")
	}
	return nil
}

// constantTimeEqual is subtle.ConstantTimeCompare of two strings (1 when
// they are equal), without copying them into byte slices: its time depends
// on their lengths only.
func constantTimeEqual(a, b string) int {
	if len(a) != len(b) {
		return 0
	}
	var v byte
	for i := 0; i < len(a); i++ {
		v |= a[i] ^ b[i]
	}
	return subtle.ConstantTimeByteEq(v, 0)
}

// validatable is implemented by the generated messages (protoc-gen-validate).
type validatable interface{ Validate() error }

// validFastOff turns validFast off (for its test).
var validFastOff bool

// handwritten is implemented by the messages authzed-go validates by hand.
type handwritten interface{ HandwrittenValidate() error }

func validate(m any) error {
	if !validFastOff && validFast(m) {
		return nil
	}
	if v, ok := m.(validatable); ok {
		if err := v.Validate(); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
	}
	if h, ok := m.(handwritten); ok {
		if err := h.HandwrittenValidate(); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return nil
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := func() (any, error) {
		if err := s.authenticate(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		s.reportVersion(ctx)
		msg, dl := callParts(req)
		if err := validate(msg); err != nil {
			return nil, err
		}
		ctx, bounded := withDeadlineIn(dl, ctx, start.Add(s.cfg.Limits.RequestTimeout))
		if bounded != nil {
			defer bounded.cancel()
		}
		return handler(ctx, req)
	}()
	err = boundStatus(err)
	s.observe(ctx, info.FullMethod, start, err)
	return resp, err
}

// longLived are the streams exempt from the request timeout: those that run
// until the client or the server ends them, and the export of a whole store,
// whose length grows with the data (the client's own deadline bounds it, and
// its cursor resumes it); the server only sends on it, so a stalled client
// is held back by flow control, not by a blocked read.
var longLived = map[string]bool{
	v1.WatchService_Watch_FullMethodName:                          true,
	healthpb.Health_Watch_FullMethodName:                          true,
	v1.PermissionsService_ExportBulkRelationships_FullMethodName:  true,
	v1.ExperimentalService_BulkExportRelationships_FullMethodName: true,
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := s.authenticate(ss.Context(), info.FullMethod)
	if err == nil {
		if md := s.versionTrailer(ss.Context()); md != nil {
			ss.SetTrailer(md)
		}
		st := &serverStream{ServerStream: ss, ctx: ss.Context()}
		if !longLived[info.FullMethod] {
			var cancel context.CancelFunc
			st.ctx, cancel = context.WithTimeout(st.ctx, s.cfg.Limits.RequestTimeout)
			defer cancel()
			st.bounded = info.IsClientStream
		}
		err = handler(srv, st)
	}
	err = boundStatus(err)
	s.observe(ss.Context(), info.FullMethod, start, err)
	return err
}

// serverStream is a stream under the request deadline (its ctx): once the
// deadline passes, sending fails, and so does receiving (which gRPC would
// otherwise let block until the client sends or goes away). It validates
// every message received.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
	// bounded: a receive waits at most until ctx ends (client streams).
	bounded bool
}

func (v *serverStream) Context() context.Context { return v.ctx }

func (v *serverStream) SendMsg(m any) error {
	if err := v.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	return v.ServerStream.SendMsg(m)
}

func (v *serverStream) RecvMsg(m any) error {
	if err := v.ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	var err error
	if v.bounded {
		// The receive left waiting when ctx ends returns when the handler
		// does (gRPC then ends the stream); nothing receives meanwhile.
		done := make(chan error, 1)
		go func() { done <- v.ServerStream.RecvMsg(m) }()
		select {
		case err = <-done:
		case <-v.ctx.Done():
			return status.FromContextError(v.ctx.Err()).Err()
		}
	} else {
		err = v.ServerStream.RecvMsg(m)
	}
	if err != nil {
		return err
	}
	return validate(m)
}

// observe logs a request and counts it in the metrics.
func (s *Server) observe(ctx context.Context, method string, start time.Time, err error) {
	code := status.Code(err)
	d := time.Since(start)
	s.metrics.observeRequest(method, code, d)
	level := slog.LevelDebug
	switch code {
	case codes.OK, codes.Canceled:
	case codes.Internal, codes.Unknown, codes.DataLoss:
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	if s.log.Enabled(ctx, level) {
		attrs := []any{"method", method, "code", code.String(), "duration", d}
		if err != nil {
			attrs = append(attrs, "err", status.Convert(err).Message())
		}
		s.log.Log(ctx, level, "request", attrs...)
	}
}
