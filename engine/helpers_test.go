package engine

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/internal/testdatastore"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// newTestStore opens a fresh store (in-memory Badger, or the driver
// REACH_TEST_DATASTORE names: see internal/testdatastore) holding schema src
// and rels (each in the relationship string form), written in batches after
// the schema.
func newTestStore(t testing.TB, src string, rels ...string) datastore.Datastore {
	t.Helper()
	st := testdatastore.Open(t, testdatastore.Options{})
	if _, _, err := st.WriteSchema(context.Background(), "test.zed", []byte(src)); err != nil {
		t.Fatalf("write schema: %v", err)
	}
	if len(rels) > 0 {
		writeRels(t, st, tuples.Touch, rels...)
	}
	return st
}

// writeRels applies op to every relationship in rels (in batches the store
// accepts) and returns the revision of the last batch.
func writeRels(t testing.TB, st datastore.Datastore, op tuples.UpdateOp, rels ...string) tuples.Revision {
	t.Helper()
	var rev tuples.Revision
	for len(rels) > 0 {
		n := min(len(rels), st.MaxBatch())
		ups := make([]tuples.Update, 0, n)
		for _, s := range rels[:n] {
			r, err := tuples.Parse(s)
			if err != nil {
				t.Fatalf("relationship %q: %v", s, err)
			}
			ups = append(ups, tuples.Update{Op: op, Relationship: r})
		}
		var err error
		rev, err = st.Write(context.Background(), ups)
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		rels = rels[n:]
	}
	return rev
}

// fresh asks for the newest revision.
var fresh = Consistency{Mode: FullyConsistent}

func mustObject(t testing.TB, s string) Object {
	t.Helper()
	o, err := ParseObject(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustSubject(t testing.TB, s string) Subject {
	t.Helper()
	sub, err := ParseSubject(s)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// checkReq builds a fully consistent check of "type:id#permission@subject".
func checkReq(t testing.TB, q string) CheckRequest {
	t.Helper()
	res, sub, ok := strings.Cut(q, "@")
	obj, perm, ok2 := strings.Cut(res, "#")
	if !ok || !ok2 {
		t.Fatalf("bad check %q", q)
	}
	return CheckRequest{Resource: mustObject(t, obj), Permission: perm, Subject: mustSubject(t, sub), Consistency: fresh}
}

// countingStore wraps a Store and counts what its snapshots read, to show
// that sub-problems are solved once and lookups do not scan.
type countingStore struct {
	Store
	snapshots atomic.Int64
	mu        sync.Mutex
	reads     map[string]int // "Subjects rt:rid#rel", "Get ...", "Resources ..."
}

func newCountingStore(s Store) *countingStore {
	return &countingStore{Store: s, reads: map[string]int{}}
}

func (c *countingStore) Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error) {
	snap, err := c.Store.Snapshot(ctx, rev)
	if err != nil {
		return nil, err
	}
	c.snapshots.Add(1)
	return &countingSnapshot{Snapshot: snap, c: c}, nil
}

func (c *countingStore) count(k string) {
	c.mu.Lock()
	c.reads[k]++
	c.mu.Unlock()
}

func (c *countingStore) reset() {
	c.mu.Lock()
	clear(c.reads)
	c.mu.Unlock()
	c.snapshots.Store(0)
}

// total is the number of reads whose key starts with prefix.
func (c *countingStore) total(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.reads {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// repeated lists the reads made more than once.
func (c *countingStore) repeated() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k, v := range c.reads {
		if v > 1 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

type countingSnapshot struct {
	tuples.Snapshot
	c *countingStore
}

func (s *countingSnapshot) Get(rt, rid, rel, st, sid, srel string) (tuples.Relationship, bool, error) {
	s.c.count("Get " + relString(rt, rid, rel, st, sid, srel))
	return s.Snapshot.Get(rt, rid, rel, st, sid, srel)
}

func (s *countingSnapshot) Subjects(rt, rid, rel, st, srel string, fn func(tuples.Relationship) bool) error {
	s.c.count("Subjects " + rt + ":" + rid + "#" + rel + " " + st + "#" + srel)
	return s.Snapshot.Subjects(rt, rid, rel, st, srel, fn)
}

func (s *countingSnapshot) Resources(st, sid, srel, rt, rel string, fn func(tuples.Relationship) bool) error {
	s.c.count("Resources " + st + ":" + sid + "#" + srel + " " + rt + "#" + rel)
	return s.Snapshot.Resources(st, sid, srel, rt, rel, fn)
}

// memStore is a Store held in maps, for the random tests: one revision,
// much faster to build than a Badger store. It follows the Snapshot
// contract of tuples (Subjects in key order, filters as documented).
type memStore struct {
	prog *schema.Program
	rels []tuples.Relationship
	rev  tuples.Revision

	get     map[string]tuples.Relationship
	forward map[string][]tuples.Relationship // rt\x00rid\x00rel
	reverse map[string][]tuples.Relationship // st\x00sid\x00srel\x00rt\x00rel
}

func newMemStore(prog *schema.Program, rels []tuples.Relationship) *memStore {
	m := &memStore{prog: prog, rels: rels, rev: 1,
		get: map[string]tuples.Relationship{}, forward: map[string][]tuples.Relationship{}, reverse: map[string][]tuples.Relationship{}}
	sorted := append([]tuples.Relationship(nil), rels...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })
	for _, r := range sorted {
		k := relString(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation)
		if _, dup := m.get[k]; dup {
			continue
		}
		m.get[k] = r
		fk := r.ResourceType + "\x00" + r.ResourceID + "\x00" + r.Relation
		m.forward[fk] = append(m.forward[fk], r)
		rk := r.SubjectType + "\x00" + r.SubjectID + "\x00" + r.SubjectRelation + "\x00" + r.ResourceType + "\x00" + r.Relation
		m.reverse[rk] = append(m.reverse[rk], r)
	}
	return m
}

var errMemFuture = errors.New("memStore: revision beyond head")

func (m *memStore) HeadRevision(context.Context) (tuples.Revision, error) { return m.rev, nil }

func (m *memStore) Snapshot(_ context.Context, rev tuples.Revision) (tuples.Snapshot, error) {
	if rev > m.rev {
		return nil, errMemFuture
	}
	return memSnapshot{m}, nil
}

type memSnapshot struct{ m *memStore }

func (s memSnapshot) Revision() tuples.Revision { return s.m.rev }
func (s memSnapshot) Schema() *schema.Program   { return s.m.prog }
func (s memSnapshot) Close()                    {}

func (s memSnapshot) Get(rt, rid, rel, st, sid, srel string) (tuples.Relationship, bool, error) {
	r, ok := s.m.get[relString(rt, rid, rel, st, sid, srel)]
	return r, ok, nil
}

func (s memSnapshot) Subjects(rt, rid, rel, st, srel string, fn func(tuples.Relationship) bool) error {
	for _, r := range s.m.forward[rt+"\x00"+rid+"\x00"+rel] {
		if st != "" && (r.SubjectType != st || r.SubjectRelation != srel) {
			continue
		}
		if !fn(r) {
			return nil
		}
	}
	return nil
}

func (s memSnapshot) Resources(st, sid, srel, rt, rel string, fn func(tuples.Relationship) bool) error {
	for _, r := range s.m.reverse[st+"\x00"+sid+"\x00"+srel+"\x00"+rt+"\x00"+rel] {
		if !fn(r) {
			return nil
		}
	}
	return nil
}

// ForEach and Changes make memStore an index source (one revision, no
// changes), so that engines over it build the group index.
func (m *memStore) ForEach(_ context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error) {
	if rev == 0 {
		rev = m.rev
	}
	for _, r := range m.get {
		if !f.Matches(r) {
			continue
		}
		if ok, err := fn(r); !ok || err != nil {
			return rev, err
		}
	}
	return rev, nil
}

func (m *memStore) Changes(_ context.Context, after tuples.Revision, _ int) ([]tuples.ChangeSet, tuples.Revision, error) {
	return nil, max(after, m.rev), nil
}

// indexedEngine returns an engine whose group index is built (where the
// schema nests) before it answers, counting in st (if not nil) the cases
// with an index.
func indexedEngine(t testing.TB, store Store, opts Options, st *refStats) *Engine {
	t.Helper()
	e := New(store, opts)
	if err := e.SyncGroupIndex(context.Background()); err != nil {
		t.Fatalf("building the group index: %v", err)
	}
	if st != nil && e.GroupIndexStats(context.Background()).State == "ready" {
		st.indexed++
	}
	return e
}

// indexHits is the number of answers e's group index gave.
func indexHits(e *Engine) int {
	return int(e.GroupIndexStats(context.Background()).Hits)
}
