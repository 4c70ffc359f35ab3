package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 12.8: a limit below zero is refused, not replaced by its default.
func TestNewRefusesNegativeLimits(t *testing.T) {
	for _, l := range []Limits{
		{MaxMessageBytes: -1},
		{RequestTimeout: -5 * time.Second},
		{MaxPreconditions: -1},
		{HTTPReadTimeout: -time.Second},
		{MaxHTTPConnections: -1},
	} {
		_, err := New(nil, nil, Config{InsecureNoAuth: true, Limits: l})
		require.ErrorContains(t, err, "cannot be negative", "%+v", l)
	}
	_, err := New(nil, nil, Config{InsecureNoAuth: true, ShutdownTimeout: -time.Second})
	require.ErrorContains(t, err, "cannot be negative")
}

// addrListener is a listener that claims another address.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

// syncBuffer is a bytes.Buffer safe for a logger and a test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Issue 12.8: a key served without TLS on an address other than loopback
// starts with a warning (the key crosses the network in plaintext).
func TestPlaintextKeyWarning(t *testing.T) {
	public := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 50051}
	every := &net.TCPAddr{IP: net.IPv4zero, Port: 50051}
	loop := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50051}
	cert, _ := selfSigned(t)
	tests := []struct {
		name     string
		cfg      Config
		addr     net.Addr
		warnings int // one per listener (gRPC and HTTP)
	}{
		{"key on a public address", Config{PresharedKeys: []string{testKey}}, public, 2},
		{"key on every interface", Config{PresharedKeys: []string{testKey}}, every, 2},
		{"key on loopback", Config{PresharedKeys: []string{testKey}}, loop, 0},
		{"key with TLS", Config{PresharedKeys: []string{testKey}, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, public, 0},
		{"no key", Config{InsecureNoAuth: true}, loop, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			tt.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			srv, err := New(nil, nil, tt.cfg)
			require.NoError(t, err)
			listen := func() net.Listener {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(t, err)
				return addrListener{l, tt.addr}
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // Run logs what it serves, then stops
			require.NoError(t, srv.Run(ctx, Listeners{GRPC: listen(), HTTP: listen()}))
			require.Equal(t, tt.warnings, strings.Count(logs.String(), "level=WARN msg=\"serving"), logs.String())
			if tt.warnings > 0 {
				require.Contains(t, logs.String(), "plaintext")
				require.Contains(t, logs.String(), "addr="+tt.addr.String())
			}
		})
	}
}
