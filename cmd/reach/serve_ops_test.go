package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authzed/authzed-go/pkg/requestmeta"
	"github.com/authzed/authzed-go/pkg/responsemeta"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

var metricsListenRE = regexp.MustCompile(`msg="serving metrics" addr=(\S+)`)

func (p *serveProcess) metricsAddr(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := metricsListenRE.FindStringSubmatch(p.logs()); m != nil {
			return m[1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no metrics listener: %s", p.logs())
	return ""
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// Issue 15: reach serve reports its version to clients that ask (as zed
// does), probes answer without a key, and --metrics-pprof turns the
// profiles on.
func TestServeOps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	asking := requestmeta.AddRequestHeaders(ctx, requestmeta.RequestServerVersion)

	p := startServe(t, t.TempDir(), "--preshared-key", "k", "--metrics-addr", "127.0.0.1:0")
	var trailer metadata.MD
	_, _ = p.client(t, "k").ReadSchema(asking, &v1.ReadSchemaRequest{}, grpc.Trailer(&trailer))
	got := trailer.Get(string(responsemeta.ServerVersion))
	require.Len(t, got, 1, "no version trailer")
	require.Contains(t, got[0], "+reach", "zed compares a version without build metadata with SpiceDB's releases")
	require.Contains(t, got[0], strings.TrimPrefix(strings.Trim(buildInfo().Version, "()"), "v"))

	metrics := p.metricsAddr(t)
	for _, addr := range []string{metrics, p.httpAddr} {
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := httpGet(t, "http://"+addr+path)
			require.Equal(t, http.StatusOK, code, "%s%s: %s", addr, path, body)
		}
	}
	code, _ := httpGet(t, "http://"+metrics+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code, "pprof is off by default")

	p = startServe(t, t.TempDir(), "--preshared-key", "k", "--metrics-addr", "127.0.0.1:0", "--metrics-pprof", "--disable-version-response")
	code, _ = httpGet(t, "http://"+p.metricsAddr(t)+"/debug/pprof/")
	require.Equal(t, http.StatusOK, code)
	trailer = nil
	_, _ = p.client(t, "k").ReadSchema(asking, &v1.ReadSchemaRequest{}, grpc.Trailer(&trailer))
	require.Empty(t, trailer.Get(string(responsemeta.ServerVersion)))
}
