package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

// The cache remembers every sub-problem, not only the top one: after one
// check walks doc -> folder:sub -> folder:root, a check of folder:sub is a
// hit and opens no snapshot.
func TestCacheSubproblems(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	cs := newCountingStore(st)
	e := New(cs, Options{})
	ctx := context.Background()
	if got, err := e.Check(ctx, checkReq(t, "doc:d3#read@user:vera")); err != nil || got.Permissionship != Allowed {
		t.Fatalf("first check: %v %v", got.Permissionship, err)
	}
	first := e.CacheStats()
	if first.Hits != 0 || first.Misses == 0 || first.Entries < 3 {
		t.Fatalf("after the first check: %+v, want misses and several entries", first)
	}
	for _, q := range []string{"doc:d3#read@user:vera", "folder:sub#view@user:vera", "folder:root#view@user:vera", "doc:d3#edit@user:vera"} {
		cs.reset()
		before := e.CacheStats()
		got, err := e.Check(ctx, checkReq(t, q))
		if err != nil {
			t.Fatal(err)
		}
		after := e.CacheStats()
		if after.Hits != before.Hits+1 || after.Misses != before.Misses {
			t.Errorf("%s: stats went from %+v to %+v, want one hit", q, before, after)
		}
		if n := cs.snapshots.Load(); n != 0 {
			t.Errorf("%s: a cache hit opened %d snapshots", q, n)
		}
		want := Allowed
		if q == "doc:d3#edit@user:vera" {
			want = Denied
		}
		if got.Permissionship != want {
			t.Errorf("%s = %s, want %s", q, got.Permissionship, want)
		}
	}
	// A write makes a new revision: a fully consistent check misses.
	writeRels(t, st, tuples.Touch, "doc:d3#writer@user:vera")
	before := e.CacheStats()
	got, err := e.Check(ctx, checkReq(t, "doc:d3#edit@user:vera"))
	if err != nil || got.Permissionship != Allowed {
		t.Fatalf("after the write: %v %v", got.Permissionship, err)
	}
	if after := e.CacheStats(); after.Misses == before.Misses {
		t.Errorf("check at a new revision did not miss: %+v -> %+v", before, after)
	}
}

func TestCacheBounded(t *testing.T) {
	var rels []string
	for i := 0; i < 300; i++ {
		rels = append(rels, fmt.Sprintf("doc:%d#viewer@user:u%d", i, i))
	}
	st := newTestStore(t, docSchema, rels...)
	for _, size := range []int{1, 7, 64, 100} {
		e := New(st, Options{CacheSize: size})
		for i := 0; i < 300; i++ {
			if _, err := e.Check(context.Background(), checkReq(t, fmt.Sprintf("doc:%d#view@user:u%d", i, i))); err != nil {
				t.Fatal(err)
			}
		}
		if s := e.CacheStats(); s.Entries > size || s.Entries == 0 {
			t.Errorf("CacheSize %d: %d entries", size, s.Entries)
		}
	}
	if s := New(st, Options{CacheSize: -1}).CacheStats(); s != (CacheStats{}) {
		t.Errorf("cache off: stats %+v", s)
	}
}

// Inside one request each sub-problem is solved once: doc:x reaches
// folder:f through three tupleset relationships and two permissions, and
// folder:f's relationships are read once.
func TestMemoWithinOneRequest(t *testing.T) {
	st := newTestStore(t, `
definition user {}
definition folder {
	relation viewer: user
	relation parent: folder
	permission view = viewer + parent->view
}
definition doc {
	relation parent: folder | folder#viewer
	relation other: folder
	permission view = parent->view + other->view
	permission view_twice = view + parent->view
}`,
		"folder:root#viewer@user:nobody",
		"folder:f#parent@folder:root",
		"folder:g#parent@folder:root",
		"doc:x#parent@folder:f",
		"doc:x#parent@folder:g",
		"doc:x#parent@folder:f#viewer",
		"doc:x#other@folder:f",
	)
	cs := newCountingStore(st)
	e := New(cs, Options{CacheSize: -1})
	got, err := e.Check(context.Background(), checkReq(t, "doc:x#view_twice@user:ana"))
	if err != nil || got.Permissionship != Denied {
		t.Fatalf("Check = %v, %v; want denied", got.Permissionship, err)
	}
	// (doc:x#parent itself is read by both arrows parent->view: they are
	// two parts of the rewrite, not one sub-problem.)
	for _, r := range cs.repeated() {
		if strings.Contains(r, "folder:") {
			t.Errorf("read repeated within one request: %s", r)
		}
	}
	if cs.total("Subjects folder:root#") == 0 {
		t.Error("the walk never reached folder:root")
	}
}

// CheckBulk reads one revision through one snapshot, and shares its memo:
// checks that are sub-problems of earlier ones read nothing more.
func TestCheckBulkSharesRevisionAndMemo(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	cs := newCountingStore(st)
	e := New(cs, Options{CacheSize: -1})
	firsts := []string{"doc:d3#read@user:vera", "doc:d2#read@user:carl", "doc:d3#read@user:zed"}
	var reqs []CheckRequest
	for _, q := range firsts {
		reqs = append(reqs, checkReq(t, q))
	}
	if _, err := e.CheckBulk(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	alone := cs.total("")
	cs.reset()
	for _, q := range []string{
		"folder:sub#view@user:vera", "folder:root#viewer@user:vera", "doc:d2#reader@user:carl",
		"group:eng#member@user:carl", "group:core#member@user:carl", "folder:sub#view@user:zed",
	} {
		reqs = append(reqs, checkReq(t, q))
	}
	res, err := e.CheckBulk(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if n := cs.total(""); n != alone {
		t.Errorf("the bulk with sub-problems read %d times, the first three checks alone %d", n, alone)
	}
	want := []Permissionship{Allowed, Allowed, Denied, Allowed, Allowed, Allowed, Allowed, Allowed, Denied}
	head, _ := st.HeadRevision(context.Background())
	for i, r := range res {
		if r.Permissionship != want[i] || r.Revision != head {
			t.Errorf("%s#%s@%s = %s at %d, want %s at %d", reqs[i].Resource, reqs[i].Permission, reqs[i].Subject,
				r.Permissionship, r.Revision, want[i], head)
		}
	}
	if n := cs.snapshots.Load(); n != 1 {
		t.Errorf("CheckBulk opened %d snapshots, want 1", n)
	}
	if res, err := e.CheckBulk(context.Background(), nil); res != nil || err != nil {
		t.Errorf("CheckBulk(nil) = %v, %v", res, err)
	}
}
