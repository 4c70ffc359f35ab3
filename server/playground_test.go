package server

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reach-authz/reach/playground"
)

// Issue 16: reach serve --playground serves the playground under
// /playground/ behind the API's key, as a bearer token or as the password of
// HTTP Basic authentication (what a browser can send); the API beside it is
// unchanged.
func TestPlaygroundBehindKey(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{Playground: playground.New(playground.Options{})}})
	base := "http://" + ts.httpAddr
	do := func(method, path, body string, auth func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(testCtx(t), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if auth != nil {
			auth(req)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	bearer := func(key string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
	}
	basic := func(key string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth("anyone", key) }
	}

	resp, _ := do("GET", "/playground/", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
	resp, _ = do("GET", "/playground/", "", basic("wrong"))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, page := do("GET", "/playground/", "", basic(testKey))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "app.js")
	resp, _ = do("GET", "/playground/app.js", "", bearer(testKey))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := do("POST", "/playground/api/analyze", `{"schema":"definition user {}"}`, basic(testKey))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	resp, _ = do("GET", "/playground", "", nil)
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "/playground/", resp.Header.Get("Location"))

	// The API is as before: the key as a bearer token.
	resp, _ = do("POST", "/v1/schema/read", "{}", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = do("POST", "/v1/schema/read", "{}", bearer(testKey))
	require.NotEqual(t, http.StatusUnauthorized, resp.StatusCode)
}
