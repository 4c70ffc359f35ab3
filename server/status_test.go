package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// The store's faults map to the codes a client can act on: a shared
// database out of reach is Unavailable (retry, here or on another node).
func TestStoreFaultCodes(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("write: %w", datastore.ErrUnavailable), codes.Unavailable},
		{fmt.Errorf("read: %w", tuples.ErrClosed), codes.Unavailable},
		{fmt.Errorf("snapshot: %w", tuples.ErrRevisionTooOld), codes.OutOfRange},
		{fmt.Errorf("write: %w", tuples.ErrNoSpace), codes.ResourceExhausted},
		{fmt.Errorf("write: %w", tuples.ErrReadOnly), codes.Unavailable},
		{&tuples.CorruptError{Path: "000001.sst", Err: fmt.Errorf("checksum")}, codes.DataLoss},
		{fmt.Errorf("something else"), codes.Internal},
	}
	for _, tt := range tests {
		if got := status.Code(toStatus(context.Background(), log, tt.err)); got != tt.want {
			t.Errorf("%v: code %s, want %s", tt.err, got, tt.want)
		}
	}
}
