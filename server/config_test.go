package server

import (
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
