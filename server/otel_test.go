package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/storetest"
	"github.com/reach-authz/reach/tuples"
)

func recordingProvider(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { tp.Shutdown(testCtx(t)) })
	return tp, rec
}

// Issue 15: with a TracerProvider, every request is a server span that
// continues the client's W3C trace, and the store reads it makes (through
// datastore.Traced) are its children; HTTP requests too, through the
// gateway.
func TestTracing(t *testing.T) {
	tp, rec := recordingProvider(t)
	ts := startServer(t, testOptions{
		cfg:       Config{TracerProvider: tp},
		wrapStore: func(d datastore.Datastore) datastore.Datastore { return datastore.Traced(d, tp) },
	})
	mustWriteSchema(t, ts.client, testSchema)
	mustWrite(t, ts.client, "document:d1#viewer@user:ana")

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	ctx := metadata.AppendToOutgoingContext(testCtx(t), "traceparent", "00-"+traceID+"-"+parentID+"-01")
	_, err := ts.client.CheckPermission(ctx, checkReq("user:ana", nil, false))
	require.NoError(t, err)

	// server waits for the server span name whose trace id inTrace accepts.
	server := func(name string, inTrace func(string) bool) (sdktrace.ReadOnlySpan, []sdktrace.ReadOnlySpan) {
		t.Helper()
		// The server ends its span after the client has its answer, so
		// wait for it a little.
		var srv sdktrace.ReadOnlySpan
		deadline := time.Now().Add(10 * time.Second)
		for srv == nil && time.Now().Before(deadline) {
			for _, s := range rec.Ended() {
				if s.SpanKind() == trace.SpanKindServer && s.Name() == name && inTrace(s.SpanContext().TraceID().String()) {
					srv = s
				}
			}
			if srv == nil {
				time.Sleep(5 * time.Millisecond)
			}
		}
		require.NotNil(t, srv, "no server span %s", name)
		var reads []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if strings.HasPrefix(s.Name(), "datastore.") && s.Parent().SpanID() == srv.SpanContext().SpanID() {
				reads = append(reads, s)
			}
		}
		return srv, reads
	}
	srv, reads := server("authzed.api.v1.PermissionsService/CheckPermission", func(id string) bool { return id == traceID })
	require.Equal(t, parentID, srv.Parent().SpanID().String(), "the client's span is the parent")
	require.True(t, srv.Parent().IsRemote())
	var names []string
	for _, r := range reads {
		names = append(names, r.Name())
	}
	require.Contains(t, names, "datastore.Snapshot")
	require.Contains(t, names, "datastore.Get", "%v", names)

	// Over HTTP: the gateway's call is traced the same way.
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodPost, "http://"+ts.httpAddr+"/v1/permissions/check", strings.NewReader(checkBody))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	srv, reads = server("authzed.api.v1.PermissionsService/CheckPermission", func(id string) bool { return id != traceID })
	require.NotEmpty(t, reads)
}

// datastore.Traced keeps the datastore contract: the contract suite passes
// through it, every call recorded as a span.
func TestTracedDatastoreContract(t *testing.T) {
	tp, rec := recordingProvider(t)
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) datastore.Datastore {
		s, err := tuples.Open("", tuples.Options{InMemory: true, MemTableSize: 8 << 20,
			GCWindow: cfg.GCWindow, GCInterval: cfg.GCInterval, MaxBatch: cfg.MaxBatch})
		require.NoError(t, err)
		d := datastore.Traced(s, tp)
		t.Cleanup(func() { d.Close() })
		return d
	})
	require.NotEmpty(t, rec.Ended())
}
