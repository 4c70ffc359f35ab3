package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// fanOutStore holds docSchema with n viewers of doc:big (user:u0000000 ...).
func fanOutStore(t testing.TB, n int) datastore.Datastore {
	t.Helper()
	st := newTestStore(t, docSchema)
	batch := make([]tuples.Update, 0, st.MaxBatch())
	for i := 0; i < n; i++ {
		batch = append(batch, tuples.Update{Op: tuples.Touch, Relationship: tuples.Relationship{
			ResourceType: "doc", ResourceID: "big", Relation: "viewer", SubjectType: "user", SubjectID: fmt.Sprintf("u%07d", i)}})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := st.Write(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return st
}

func fanOutN() int {
	if testing.Short() {
		return 20_000
	}
	return 200_000
}

// readCounter counts the relationships its snapshots hand out.
type readCounter struct {
	Store
	n atomic.Int64
}

func (c *readCounter) Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error) {
	snap, err := c.Store.Snapshot(ctx, rev)
	if err != nil {
		return nil, err
	}
	return &readCountSnap{snap, c}, nil
}

type readCountSnap struct {
	tuples.Snapshot
	c *readCounter
}

func (s *readCountSnap) Subjects(rt, rid, rel, st, srel string, fn func(tuples.Relationship) bool) error {
	return s.Snapshot.Subjects(rt, rid, rel, st, srel, func(r tuples.Relationship) bool {
		s.c.n.Add(1)
		return fn(r)
	})
}

// Issue 12.6: a document with a great many viewers. LookupSubjectsStream
// gives each viewer once, starting long before the walk ends, and what it
// holds does not grow with them: the live heap, measured after a GC now
// and then during the lookup, stays within a few MiB of where it started
// (the lookup before streaming held every candidate and a memo entry per
// candidate: about 1 KiB a viewer, 200 MiB here).
func TestLookupSubjectsLargeFanOut(t *testing.T) {
	n := fanOutN()
	rc := &readCounter{Store: fanOutStore(t, n)}
	e := New(rc, Options{MaxLookupResults: 1000})
	req := LookupSubjectsRequest{Resource: Object{"doc", "big"}, Permission: "view", SubjectType: "user", Consistency: fresh}

	got := make([]bool, n) // each viewer once
	count, dups := 0, 0
	var readAtFirst int64 = -1
	var base runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak uint64
	start := time.Now()
	_, err := e.LookupSubjectsStream(context.Background(), req, func(f FoundSubject) bool {
		if readAtFirst < 0 {
			readAtFirst = rc.n.Load()
		}
		i, err := strconv.Atoi(strings.TrimPrefix(f.ID, "u"))
		if err != nil || f.Permissionship != Allowed {
			t.Fatalf("unexpected result %+v", f)
		}
		if got[i] {
			dups++
		}
		got[i] = true
		if count++; count%(n/8) == 0 {
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		return true
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if count != n || dups != 0 {
		t.Errorf("%d results, %d given twice; want %d once each", count, dups, n)
	}
	if readAtFirst > 10 {
		t.Errorf("the first result came after %d relationships read: not streamed", readAtFirst)
	}
	grew := int64(peak) - int64(base.HeapAlloc)
	t.Logf("%d viewers in %v; live heap grew by at most %d KiB", n, elapsed, grew>>10)
	if grew > 16<<20 {
		t.Errorf("live heap grew by %d MiB during the lookup", grew>>20)
	}
}

// A cancelled or expired request stops the lookup, promptly, with the
// context's error, even while a slow client holds up the results.
func TestLookupSubjectsCancelled(t *testing.T) {
	n := fanOutN()
	st := fanOutStore(t, n)
	e := New(st, Options{})
	req := LookupSubjectsRequest{Resource: Object{"doc", "big"}, Permission: "view", SubjectType: "user", Consistency: fresh}

	ctx, cancel := context.WithCancel(context.Background())
	count := 0
	_, err := e.LookupSubjectsStream(ctx, req, func(FoundSubject) bool {
		if count++; count == 100 {
			cancel()
		}
		return true
	})
	if !errors.Is(err, context.Canceled) || count > 100+ctxEvery {
		t.Errorf("cancelled after 100 results: %d results, error %v", count, err)
	}

	// A client too slow for the deadline: the second result waits for it.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	count = 0
	start := time.Now()
	_, err = e.LookupSubjectsStream(ctx, req, func(FoundSubject) bool {
		if count++; count == 2 {
			<-ctx.Done()
		}
		return true
	})
	if !errors.Is(err, context.DeadlineExceeded) || count > 2+ctxEvery || time.Since(start) > 5*time.Second {
		t.Errorf("past its deadline: %d results in %v, error %v", count, time.Since(start), err)
	}

	// The slice form and LookupResources stop too.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := e.LookupSubjects(done, req); !errors.Is(err, context.Canceled) {
		t.Errorf("LookupSubjects with a cancelled context: %v", err)
	}
	rst := newTestStore(t, docSchema)
	var rels []string
	for i := 0; i < 5000; i++ {
		rels = append(rels, fmt.Sprintf("doc:d%d#viewer@user:ana", i))
	}
	writeRels(t, rst, tuples.Touch, rels...)
	_, err = New(rst, Options{}).LookupResources(done, LookupResourcesRequest{ResourceType: "doc", Permission: "view", Subject: Subject{Type: "user", ID: "ana"}, Consistency: fresh},
		func(LookupResult) bool { return true })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("LookupResources with a cancelled context: %v", err)
	}
}

// Past MaxLookupResults the lookup stops remembering the subjects it gave
// and reads the relations it met since instead: each subject is still given
// once, with the answers of the unbounded lookup, certain or confirmed
// (caveats, an intersection) alike.
func TestLookupSubjectsBeyondMemoryBound(t *testing.T) {
	const schema = `
caveat weekday(day string) { day != "sunday" }
definition user {}
definition group {
	relation member: user | user with weekday | group#member
}
definition doc {
	relation viewer: user | group#member | user with weekday
	relation approved: user | group#member
	permission view = viewer
	permission approved_view = viewer & approved
}`
	var rels []string
	for g := 0; g < 6; g++ {
		for u := g; u < g+8; u++ { // overlapping groups
			s := fmt.Sprintf("group:g%d#member@user:u%02d", g, u)
			if u%5 == 0 {
				s += "[weekday]"
			}
			rels = append(rels, s)
		}
		rels = append(rels, fmt.Sprintf("doc:d#viewer@group:g%d#member", g))
	}
	rels = append(rels, "group:g5#member@group:g0#member", "doc:d#viewer@user:u03", "doc:d#viewer@user:u20[weekday]",
		"doc:d#approved@group:g2#member", "doc:d#approved@user:u01")
	st := newTestStore(t, schema, rels...)
	for _, perm := range []string{"view", "approved_view"} {
		req := LookupSubjectsRequest{Resource: Object{"doc", "d"}, Permission: perm, SubjectType: "user", Consistency: fresh}
		want, _, err := New(st, Options{}).LookupSubjects(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, bound := range []int{1, 2, 5, 13} {
			var got []FoundSubject
			ids := map[string]int{}
			_, err := New(st, Options{MaxLookupResults: bound}).LookupSubjectsStream(context.Background(), req, func(f FoundSubject) bool {
				got = append(got, f)
				ids[f.ID]++
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			for id, k := range ids {
				if k > 1 {
					t.Errorf("%s, bound %d: %s given %d times", perm, bound, id, k)
				}
			}
			sortFound(got)
			if formatFoundMissing(got) != formatFoundMissing(want) {
				t.Errorf("%s, bound %d: %s, unbounded %s", perm, bound, formatFoundMissing(got), formatFoundMissing(want))
			}
		}
	}
}

// The exclusions of a wildcard are given with it, so they must all be held:
// more than MaxLookupResults fail the lookup rather than give a wildcard
// that covers a subject it does not.
func TestLookupSubjectsTooManyExclusions(t *testing.T) {
	const schema = `
definition user {}
definition doc {
	relation viewer: user:*
	relation banned: user
	permission view = viewer - banned
}`
	rels := []string{"doc:d#viewer@user:*"}
	for i := 0; i < 5; i++ {
		rels = append(rels, fmt.Sprintf("doc:d#banned@user:b%d", i))
	}
	st := newTestStore(t, schema, rels...)
	req := LookupSubjectsRequest{Resource: Object{"doc", "d"}, Permission: "view", SubjectType: "user", Consistency: fresh}
	found, _, err := New(st, Options{MaxLookupResults: 5}).LookupSubjects(context.Background(), req)
	if err != nil || formatFound(found) != "[* - {b0, b1, b2, b3, b4}]" {
		t.Errorf("bound 5: %s, %v", formatFound(found), err)
	}
	var got []FoundSubject
	_, err = New(st, Options{MaxLookupResults: 4}).LookupSubjectsStream(context.Background(), req, func(f FoundSubject) bool {
		got = append(got, f)
		return true
	})
	if !errors.Is(err, ErrTooManyResults) || len(got) != 0 {
		t.Errorf("bound 4: %s, %v; want ErrTooManyResults and no wildcard", formatFound(got), err)
	}
}

func sortFound(found []FoundSubject) {
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && found[j].ID < found[j-1].ID; j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
}

func formatFoundMissing(found []FoundSubject) string {
	var b strings.Builder
	for _, f := range found {
		fmt.Fprintf(&b, "%s:%s%v ", f.ID, f.Permissionship, f.Missing)
	}
	return b.String()
}
