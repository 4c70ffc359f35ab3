package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const checkBody = `{"consistency":{"fullyConsistent":true},"resource":{"objectType":"document","objectId":"d1"},"permission":"view","subject":{"object":{"objectType":"user","objectId":"ana"}}}`

// rawRequest starts an HTTP/1.1 POST on a connection of its own: the
// headers, announcing a body of length bytes, and none of the body.
func rawRequest(t *testing.T, addr, path, key string, length int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	auth := ""
	if key != "" {
		auth = "Authorization: Bearer " + key + "\r\n"
	}
	_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: reach\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", path, auth, length)
	require.NoError(t, err)
	return c
}

// closedWithin reports how long the server took to close c (reading and
// discarding whatever it answers), or fails after limit.
func closedWithin(c net.Conn, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return 0, fmt.Errorf("still open after %s", limit)
	}
	return time.Since(start), nil // EOF or a reset: closed
}

// Issue 12.7: clients that trickle a body are dropped once the read timeout
// passes, whether or not they present the key.
func TestHTTPSlowClientsDropped(t *testing.T) {
	const readTimeout = 500 * time.Millisecond
	ts := startServer(t, testOptions{cfg: Config{Limits: Limits{HTTPReadTimeout: readTimeout}}})
	const n = 100
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = rawRequest(t, ts.httpAddr, "/v1/permissions/check", testKey, 1<<20)
	}
	// Each sends a byte of its body every 50ms, until the server hangs up.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte{' '}); err != nil {
						return
					}
				}
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()
	errs := make(chan error, n)
	for _, c := range conns {
		go func() {
			d, err := closedWithin(c, 10*readTimeout)
			if err == nil && d > 6*readTimeout {
				err = fmt.Errorf("closed only after %s", d)
			}
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
}

// A request without the key, or with a wrong one, is refused from its
// headers: the server answers before reading the body, and hangs up.
func TestHTTPUnauthenticatedBodyNotRead(t *testing.T) {
	var read atomic.Int64
	ts := startServer(t, testOptions{wrapHTTP: func(l net.Listener) net.Listener { return countingListener{l, &read} }})
	const bodySize = 8 << 20 // twice the largest message
	for _, tt := range []struct {
		key  string
		code int
		grpc int
	}{{"", http.StatusUnauthorized, 16}, {"wrong", http.StatusForbidden, 7}} {
		read.Store(0)
		c := rawRequest(t, ts.httpAddr, "/v1/permissions/check", tt.key, bodySize)
		go func() { // the client sends its body regardless
			chunk := []byte(strings.Repeat(" ", 64<<10))
			for sent := 0; sent < bodySize; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		require.Equal(t, tt.code, resp.StatusCode)
		var st struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
		require.Equal(t, tt.grpc, st.Code, st.Message)
		_, err = closedWithin(c, 5*time.Second)
		require.NoError(t, err)
		// The headers and what one read of the connection brought along.
		require.Less(t, read.Load(), int64(64<<10), "the server read the body")
	}
}

// A body larger than the largest message is refused (413) once the limit is
// read, without reading the rest.
func TestHTTPBodyTooLarge(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{Limits: Limits{MaxMessageBytes: 1 << 10}}})
	req, err := http.NewRequest(http.MethodPost, "http://"+ts.httpAddr+"/v1/permissions/check", strings.NewReader(strings.Repeat(" ", 4<<10)+checkBody))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

// The read and write timeouts do not cut a Watch stream over HTTP, nor a
// request whose answer comes after the read timeout; an idle connection is
// closed after the idle timeout.
func TestHTTPTimeoutsSpareWatch(t *testing.T) {
	const timeout = 300 * time.Millisecond
	ts := startServer(t, testOptions{cfg: Config{Limits: Limits{HTTPReadTimeout: timeout, HTTPWriteTimeout: timeout, HTTPIdleTimeout: timeout}}})
	mustWriteSchema(t, ts.client, testSchema)

	req, err := http.NewRequest(http.MethodPost, "http://"+ts.httpAddr+"/v1/watch", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testKey)
	// The gateway sends the headers with the first change.
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		done <- result{resp, err}
	}()
	time.Sleep(4 * timeout)
	mustWrite(t, ts.client, "document:d1#viewer@user:ana")
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the watch")
	}
	require.NoError(t, res.err)
	resp := res.resp
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, `"objectId":"ana"`)

	// A keep-alive connection answers, then is closed once idle.
	c := rawRequest(t, ts.httpAddr, "/v1/permissions/check", testKey, len(checkBody))
	_, err = io.WriteString(c, checkBody)
	require.NoError(t, err)
	br := bufio.NewReader(c)
	r, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.StatusCode)
	_, err = io.Copy(io.Discard, r.Body)
	require.NoError(t, err)
	start := time.Now()
	c.SetReadDeadline(start.Add(10 * timeout))
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the idle connection was not closed")
	require.Less(t, time.Since(start), 6*timeout)
}

// At most MaxHTTPConnections are served at once; another waits until one
// closes.
func TestHTTPMaxConnections(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{Limits: Limits{MaxHTTPConnections: 2}}})
	mustWriteSchema(t, ts.client, testSchema)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ts.httpAddr)
		require.NoError(t, err)
		defer c.Close()
		held = append(held, c)
	}
	check := func(timeout time.Duration) error {
		req, err := http.NewRequest(http.MethodPost, "http://"+ts.httpAddr+"/v1/permissions/check", strings.NewReader(checkBody))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testKey)
		hc := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	require.Error(t, check(500*time.Millisecond), "a third connection was served")
	held[0].Close()
	require.Eventually(t, func() bool { return check(2*time.Second) == nil }, 10*time.Second, 10*time.Millisecond)
}

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
