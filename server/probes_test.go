package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// brokenStore fails its head revision or its schema on demand.
type brokenStore struct {
	datastore.Datastore
	head, schema atomic.Bool
}

func (b *brokenStore) HeadRevision(ctx context.Context) (tuples.Revision, error) {
	if b.head.Load() {
		return 0, tuples.ErrClosed
	}
	return b.Datastore.HeadRevision(ctx)
}

func (b *brokenStore) Schema(ctx context.Context) (*schema.Program, tuples.Revision, error) {
	if b.schema.Load() {
		return nil, 0, errors.New("schema unreadable")
	}
	return b.Datastore.Schema(ctx)
}

func probe(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, "http://"+addr+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// Issue 15: /healthz and /readyz answer on the HTTP gateway's listener and
// on the metrics listener, without a key: alive while serving; ready while
// the store's head and schema can be read (503 otherwise).
func TestProbes(t *testing.T) {
	var broken *brokenStore
	ts := startServer(t, testOptions{wrapStore: func(d datastore.Datastore) datastore.Datastore {
		broken = &brokenStore{Datastore: d}
		return broken
	}})
	// Ready before a schema is written too: nothing is broken.
	for _, addr := range []string{ts.httpAddr, ts.metricsAddr} {
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := probe(t, addr, path)
			require.Equal(t, http.StatusOK, code, "%s%s: %s", addr, path, body)
			require.Equal(t, "ok\n", body)
		}
	}
	mustWriteSchema(t, ts.client, testSchema)

	for _, fail := range []*atomic.Bool{&broken.head, &broken.schema} {
		fail.Store(true)
		for _, addr := range []string{ts.httpAddr, ts.metricsAddr} {
			code, body := probe(t, addr, "/readyz")
			require.Equal(t, http.StatusServiceUnavailable, code, body)
			require.Contains(t, body, "not ready: ")
			code, _ = probe(t, addr, "/healthz")
			require.Equal(t, http.StatusOK, code)
		}
		fail.Store(false)
	}
	code, _ := probe(t, ts.httpAddr, "/readyz")
	require.Equal(t, http.StatusOK, code)

	// Other methods are refused; the API's routes still want the key.
	resp, err := http.Post("http://"+ts.httpAddr+"/readyz", "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	resp, err = http.Post("http://"+ts.httpAddr+"/v1/schema/read", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
