package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
)

// collector is an in-process OTLP/gRPC trace collector: it keeps every span
// exported to it.
type collector struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
	attrs []string // service.name of each resource received
	addr  string
}

func (c *collector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				c.attrs = append(c.attrs, a.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (c *collector) snapshot() ([]*tracepb.Span, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.spans...), append([]string(nil), c.attrs...)
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &collector{addr: l.Addr().String()}
	g := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(g, c)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	return c
}

// checkSpans finds, among the spans received, the server span of a
// CheckPermission and the store reads under it.
func checkSpans(spans []*tracepb.Span) (server *tracepb.Span, reads []*tracepb.Span) {
	for _, s := range spans {
		if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && s.GetName() == "authzed.api.v1.PermissionsService/CheckPermission" {
			server = s
		}
	}
	if server == nil {
		return nil, nil
	}
	for _, s := range spans {
		if strings.HasPrefix(s.GetName(), "datastore.") && bytes.Equal(s.GetParentSpanId(), server.GetSpanId()) {
			reads = append(reads, s)
		}
	}
	return server, reads
}

// Issue 15: with tracing on (here by the standard environment, and by
// SpiceDB's flags), reach serve exports over OTLP/gRPC a server span for a
// CheckPermission, with the store reads it made as its children.
func TestServeExportsTraces(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  []string
		args func(c *collector) []string
	}{
		{"environment", []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_TRACES_SAMPLER=always_on", "OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_SERVICE_NAME=reach-test"},
			func(c *collector) []string { return nil }},
		{"flags", nil, func(c *collector) []string {
			return []string{"--otel-provider", "otlpgrpc", "--otel-endpoint", c.addr, "--otel-insecure", "--otel-sample-ratio", "1", "--otel-service-name", "reach-test"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := startCollector(t)
			env := append([]string{"OTEL_BSP_SCHEDULE_DELAY=50"}, tt.env...)
			if tt.name == "environment" {
				env = append(env, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+c.addr)
			}
			p := startServeEnv(t, t.TempDir(), env, append([]string{"--preshared-key", "k"}, tt.args(c)...)...)
			require.Contains(t, p.logs(), "tracing with OpenTelemetry")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cl := p.client(t, "k")
			_, err := cl.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: serveSchema})
			require.NoError(t, err)
			_, err = cl.CheckPermission(ctx, &v1.CheckPermissionRequest{
				Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
				Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "d1"}, Permission: "view",
				Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "ana"}},
			})
			require.NoError(t, err)
			var server *tracepb.Span
			var reads []*tracepb.Span
			var names []string
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				var spans []*tracepb.Span
				spans, names = c.snapshot()
				if server, reads = checkSpans(spans); server != nil && len(reads) > 0 {
					break
				}
			}
			require.NotNil(t, server, "no CheckPermission server span reached the collector; log:\n%s", p.logs())
			require.NotEmpty(t, reads, "no store-read span under the CheckPermission span")
			var readNames []string
			for _, r := range reads {
				readNames = append(readNames, r.GetName())
				require.Equal(t, server.GetTraceId(), r.GetTraceId())
			}
			require.Contains(t, readNames, "datastore.Snapshot")
			require.Contains(t, readNames, "datastore.Get", "a read of a relation through the snapshot: %v", readNames)
			require.Contains(t, names, "reach-test")
		})
	}
}

// Tracing is off unless asked; a protocol or exporter reach lacks is a
// usage error.
func TestServeTracingOptions(t *testing.T) {
	for _, tt := range []struct {
		name  string
		env   map[string]string
		args  []string
		want  string // "" off, "otlpgrpc" on
		usage string // a usage error containing this
	}{
		{name: "default"},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, want: "otlpgrpc"},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1"}, want: "otlpgrpc"},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "flag wins", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, args: []string{"--otel-provider", "none"}},
		{name: "flag", args: []string{"--otel-provider", "otlpgrpc"}, want: "otlpgrpc"},
		{name: "http protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, usage: "OTLP/gRPC only"},
		{name: "zipkin", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, usage: "otlp only"},
		{name: "otlphttp", args: []string{"--otel-provider", "otlphttp"}, usage: "not supported"},
		{name: "unknown", args: []string{"--otel-provider", "jaeger"}, usage: "none or otlpgrpc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
				"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
				t.Setenv(v, tt.env[v])
			}
			var o otelOptions
			cmd := &cobra.Command{}
			o.add(cmd)
			require.NoError(t, cmd.Flags().Parse(tt.args))
			got, err := otelProvider(cmd, o)
			if tt.usage != "" {
				require.ErrorContains(t, err, tt.usage)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
