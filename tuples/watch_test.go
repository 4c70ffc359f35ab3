package tuples

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

func TestWatchEnds(t *testing.T) {
	s := newTestStore(t, Options{})
	head, _ := s.HeadRevision(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Watch(ctx, head, func(ChangeSet) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Watch after its context ends: %v", err)
	}
	stop := errors.New("stop")
	if _, err := s.Write(context.Background(), updates(t, Touch, "document:a#viewer@user:ana")); err != nil {
		t.Fatal(err)
	}
	if err := s.Watch(context.Background(), head, func(ChangeSet) error { return stop }); err != stop {
		t.Errorf("Watch whose callback fails: %v", err)
	}
	if err := s.Watch(context.Background(), head+5, func(ChangeSet) error { return nil }); !errors.Is(err, ErrRevisionInFuture) {
		t.Errorf("Watch from the future: %v", err)
	}
	done := make(chan error)
	go func() { done <- s.Watch(context.Background(), head+1, func(ChangeSet) error { return nil }) }()
	time.Sleep(10 * time.Millisecond)
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Errorf("Watch when the store closes: %v", err)
	}
}

// TestGCWindow checks that revisions older than the window become
// unreadable once the collector runs, and the newer ones stay.
func TestGCWindow(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{GCWindow: time.Hour})
	r1, _ := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana"))
	r2, _ := s.Write(ctx, updates(t, Delete, "document:a#viewer@user:ana"))
	r3, _ := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:bo"))
	s.mu.RLock()
	var at2 time.Time
	for _, rt := range s.times {
		if rt.rev == r2 {
			at2 = rt.at
		}
	}
	s.mu.RUnlock()
	// An hour after r2 was committed, r2 is the newest revision older than
	// the window: it stays readable (its state lasted into the window),
	// r1 does not.
	s.collect(at2.Add(time.Hour))
	if _, err := s.Snapshot(context.Background(), r1); !errors.Is(err, ErrRevisionTooOld) {
		t.Errorf("Snapshot(r1) error %v, want ErrRevisionTooOld", err)
	}
	if _, _, err := s.Changes(ctx, r1, 0); !errors.Is(err, ErrRevisionTooOld) {
		t.Errorf("Changes(r1) error %v, want ErrRevisionTooOld", err)
	}
	for _, r := range []Revision{r2, r3} {
		sn, err := s.Snapshot(context.Background(), r)
		if err != nil {
			t.Errorf("Snapshot(%d): %v", r, err)
			continue
		}
		sn.Close()
	}
	if got := all(t, s, r2); len(got) != 0 {
		t.Errorf("revision r2 holds %q", got)
	}
}

// TestGCBackground lets the background collector run with a tiny window
// and checks that old revisions become unreadable and their versions are
// dropped from the database once compacted.
func TestGCBackground(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, Options{GCWindow: time.Millisecond, GCInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	r1, _ := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana"))
	if _, err := s.Write(ctx, updates(t, Delete, "document:a#viewer@user:ana")); err != nil {
		t.Fatal(err)
	}
	r3, _ := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:bo"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.RLock()
		d := s.discard
		s.mu.RUnlock()
		if d >= r3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the collector did not advance the discard revision past %d in 20s (it is %d)", r3, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.Snapshot(context.Background(), r1); !errors.Is(err, ErrRevisionTooOld) {
		t.Errorf("Snapshot(r1) error %v, want ErrRevisionTooOld", err)
	}
	// The versions below the discard revision go at the next compaction.
	// Reopening flushes the memtable to a level-0 table; with more of them
	// than Badger keeps at level 0 (5), Flatten compacts them.
	count := func() int {
		n := 0
		txn := s.db.NewTransactionAt(math.MaxUint64, false)
		defer txn.Discard()
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceForward}, AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return n
	}
	before := count()
	for i := range 6 {
		s.Close()
		if s, err = Open(dir, Options{GCWindow: time.Millisecond, GCInterval: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(ctx, updates(t, Touch, fmt.Sprintf("folder:f%d#viewer@user:ana", i))); err != nil {
			t.Fatal(err)
		}
	}
	defer s.Close()
	if err := s.db.Flatten(1); err != nil {
		t.Fatal(err)
	}
	// ana's tombstone and older version, bo, and the six folders: the
	// version of ana before its delete is gone.
	if after := count() - 6; after >= before {
		t.Errorf("%d forward versions before the collection, %d after", before, after)
	}
}
