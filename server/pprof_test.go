package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Issue 15: Go's profiles are served on the metrics listener only when
// Config.MetricsPprof is set (reach serve --metrics-pprof), never the
// command line (it may hold the key), and never on the gateway.
func TestMetricsPprof(t *testing.T) {
	off := startServer(t, testOptions{})
	code, _ := probe(t, off.metricsAddr, "/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code)
	code, _ = probe(t, off.metricsAddr, "/metrics")
	require.Equal(t, http.StatusOK, code)

	on := startServer(t, testOptions{cfg: Config{MetricsPprof: true}})
	code, body := probe(t, on.metricsAddr, "/debug/pprof/")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "goroutine")
	code, body = probe(t, on.metricsAddr, "/debug/pprof/heap?debug=1")
	require.Equal(t, http.StatusOK, code)
	require.True(t, strings.HasPrefix(body, "heap profile"), body[:min(len(body), 80)])
	code, _ = probe(t, on.metricsAddr, "/debug/pprof/cmdline")
	require.Equal(t, http.StatusNotFound, code)

	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, "http://"+on.httpAddr+"/debug/pprof/", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the gateway serves no profiles")
}
