package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reach-authz/reach/internal/testdatastore"
	"github.com/reach-authz/reach/tuples"
)

const docSchema = `
definition user {}
definition doc {
	relation viewer: user
	permission view = viewer
}
`

func TestConsistencyModes(t *testing.T) {
	st := newTestStore(t, docSchema)
	rA := writeRels(t, st, tuples.Touch, "doc:1#viewer@user:ana")
	e := New(st, Options{Quantization: 5 * time.Second})
	now := time.Date(2026, 1, 1, 12, 0, 1, 0, time.UTC)
	e.now = func() time.Time { return now }

	check := func(c Consistency) (CheckResult, error) {
		return e.Check(context.Background(), CheckRequest{Resource: Object{"doc", "1"}, Permission: "view",
			Subject: Subject{Type: "user", ID: "ana"}, Consistency: c})
	}
	expect := func(name string, c Consistency, want Permissionship, wantRev tuples.Revision) {
		t.Helper()
		got, err := check(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Permissionship != want || got.Revision != wantRev {
			t.Errorf("%s: %s at revision %d, want %s at %d", name, got.Permissionship, got.Revision, want, wantRev)
		}
	}

	// The first minimize_latency request opens a window at the head (rA).
	expect("minimize_latency", Consistency{}, Allowed, rA)
	rB := writeRels(t, st, tuples.Delete, "doc:1#viewer@user:ana")
	now = now.Add(2 * time.Second) // still inside the window [12:00:00, 12:00:05)
	expect("minimize_latency inside the window", Consistency{Mode: MinimizeLatency}, Allowed, rA)
	expect("fully_consistent", Consistency{Mode: FullyConsistent}, Denied, rB)
	expect("at_exact_snapshot A", Consistency{Mode: AtExactSnapshot, Token: rA.Token()}, Allowed, rA)
	expect("at_exact_snapshot B", Consistency{Mode: AtExactSnapshot, Token: rB.Token()}, Denied, rB)
	expect("at_least_as_fresh A (the window's revision will do)", Consistency{Mode: AtLeastAsFresh, Token: rA.Token()}, Allowed, rA)
	expect("at_least_as_fresh B (newer than the window's)", Consistency{Mode: AtLeastAsFresh, Token: rB.Token()}, Denied, rB)
	now = now.Add(3 * time.Second) // 12:00:06: a new window
	expect("minimize_latency in the next window", Consistency{}, Denied, rB)

	for name, c := range map[string]Consistency{
		"at_least_as_fresh from the future": {Mode: AtLeastAsFresh, Token: (rB + 10).Token()},
		"at_exact_snapshot from the future": {Mode: AtExactSnapshot, Token: (rB + 10).Token()},
	} {
		if _, err := check(c); !errors.Is(err, tuples.ErrRevisionInFuture) {
			t.Errorf("%s: error %v, want ErrRevisionInFuture", name, err)
		}
	}
}

// A negative quantization makes minimize_latency read the head.
func TestConsistencyNoQuantization(t *testing.T) {
	st := newTestStore(t, docSchema)
	e := New(st, Options{Quantization: -1})
	for i, op := range []tuples.UpdateOp{tuples.Touch, tuples.Delete, tuples.Touch} {
		rev := writeRels(t, st, op, "doc:1#viewer@user:ana")
		got, err := e.Check(context.Background(), checkReq(t, "doc:1#view@user:ana"))
		got2, err2 := e.Check(context.Background(), CheckRequest{Resource: Object{"doc", "1"}, Permission: "view", Subject: Subject{Type: "user", ID: "ana"}})
		if err != nil || err2 != nil {
			t.Fatal(err, err2)
		}
		want := Allowed
		if op == tuples.Delete {
			want = Denied
		}
		if got.Permissionship != want || got2.Permissionship != want || got2.Revision != rev {
			t.Errorf("write %d: %s / %s at %d, want %s at %d", i, got.Permissionship, got2.Permissionship, got2.Revision, want, rev)
		}
	}
}

// at_exact_snapshot of a revision older than the GC window is an error,
// even when its answer is still in the cache.
func TestConsistencyExactSnapshotTooOld(t *testing.T) {
	st := testdatastore.Open(t, testdatastore.Options{GCWindow: time.Millisecond, GCInterval: time.Millisecond})
	if _, _, err := st.WriteSchema(context.Background(), "s.zed", []byte(docSchema)); err != nil {
		t.Fatal(err)
	}
	old := writeRels(t, st, tuples.Touch, "doc:1#viewer@user:ana")
	e := New(st, Options{})
	req := checkReq(t, "doc:1#view@user:ana")
	req.Consistency = Consistency{Mode: AtExactSnapshot, Token: old.Token()}
	// Answered (and cached) while the revision may still be readable; the
	// window is 1ms, so it may already be gone: either is fine here.
	if _, err := e.Check(context.Background(), req); err != nil && !errors.Is(err, tuples.ErrRevisionTooOld) {
		t.Fatal(err)
	}
	writeRels(t, st, tuples.Touch, "doc:2#viewer@user:ana")
	deadline := time.Now().Add(20 * time.Second)
	for {
		snap, err := st.Snapshot(context.Background(), old)
		if errors.Is(err, tuples.ErrRevisionTooOld) {
			break
		}
		if err == nil {
			snap.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("the store never garbage-collected the old revision")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, bulk := range []bool{false, true} {
		var err error
		if bulk {
			_, err = e.CheckBulk(context.Background(), []CheckRequest{req})
		} else {
			_, err = e.Check(context.Background(), req)
		}
		if !errors.Is(err, tuples.ErrRevisionTooOld) {
			t.Errorf("bulk=%v: error %v, want ErrRevisionTooOld", bulk, err)
		}
	}
	if got, err := e.Check(context.Background(), checkReq(t, "doc:1#view@user:ana")); err != nil || got.Permissionship != Allowed {
		t.Errorf("fully consistent after GC: %v %v", got.Permissionship, err)
	}
}

func TestParseConsistencyMode(t *testing.T) {
	for _, m := range []ConsistencyMode{MinimizeLatency, AtLeastAsFresh, AtExactSnapshot, FullyConsistent} {
		got, err := ParseConsistencyMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseConsistencyMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseConsistencyMode("eventual"); err == nil {
		t.Error("no error for an unknown mode")
	}
	if s := ConsistencyMode(42).String(); s != "ConsistencyMode(42)" {
		t.Errorf("String of an unknown mode = %q", s)
	}
}
