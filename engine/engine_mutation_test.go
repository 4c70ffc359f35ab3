package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/tuples"
)

// Tests written for mutants that survived the rest of the suite
// (internal/mutate/mutants/engine.mut names each one).

// A cached answer whose computation needed more depth than the engine has
// does not answer a top-level check (mutant engine-warm-cache-ignores-need).
// Such an entry exists: a sub-problem left provisional by a cycle cut has,
// once the cut check is confirmed Denied, the cut check's need added to its
// own, since computed again on its own it walks the cycle round. Here
// group:a holds group:b (which holds group:a back) and a chain k0 ⊃ k1 ...
// of MaxDepth-1 groups: a check of a fits the limit exactly; a check of b
// walks b, a, then the whole chain, one level too deep, cold or warm.
func TestCheckWarmCacheKeepsDepthOfCycles(t *testing.T) {
	const max = 8
	rels := []string{"group:a#member@group:b#member", "group:b#member@group:a#member", "group:a#member@group:k0#member"}
	for i := 0; i+1 < max-1; i++ {
		rels = append(rels, fmt.Sprintf("group:k%d#member@group:k%d#member", i, i+1))
	}
	st := newTestStore(t, groupSchema, rels...)
	ctx := context.Background()

	cold, err := New(st, Options{MaxDepth: max, CacheSize: -1}).Check(ctx, checkReq(t, "group:b#member@user:nobody"))
	if !errors.Is(err, ErrMaxDepth) {
		t.Fatalf("cold check of b: %v, %v; want ErrMaxDepth", cold.Permissionship, err)
	}
	e := New(st, Options{MaxDepth: max})
	if res, err := e.Check(ctx, checkReq(t, "group:a#member@user:nobody")); err != nil || res.Permissionship != Denied {
		t.Fatalf("check of a: %v, %v; want denied", res.Permissionship, err)
	}
	if res, err := e.Check(ctx, checkReq(t, "group:b#member@user:nobody")); !errors.Is(err, ErrMaxDepth) {
		t.Errorf("check of b with a warm cache: %v, %v; want ErrMaxDepth, as cold", res.Permissionship, err)
	}
}

// Walking up from the subject obeys the depth limit exactly as walking
// down does (mutant engine-walkup-level-off-by-one): on a chain of nested
// groups g0 ⊃ g1 ... ⊃ g(n-1) holding user:end, a check of g0 needs n
// levels. g0 has more than walkUpFanOut subject sets (decoys), so its check
// walks up; doc:down's twin chain has none and walks down. Both must agree
// at every limit around n.
func TestWalkUpDepthLimitMatchesWalkDown(t *testing.T) {
	const n = 10
	var rels []string
	for _, prefix := range []string{"up", "down"} {
		for i := 0; i+1 < n; i++ {
			rels = append(rels, fmt.Sprintf("group:%s%d#member@group:%s%d#member", prefix, i, prefix, i+1))
		}
		rels = append(rels, fmt.Sprintf("group:%s%d#member@user:end", prefix, n-1))
	}
	for i := 0; i < walkUpFanOut+2; i++ {
		rels = append(rels, fmt.Sprintf("group:up0#member@group:decoy%d#member", i))
	}
	st := newTestStore(t, groupSchema, rels...)
	ctx := context.Background()
	for max := n - 3; max <= n+2; max++ {
		for _, cache := range []int{0, -1} {
			answer := func(g string) string {
				res, err := New(st, Options{MaxDepth: max, CacheSize: cache}).Check(ctx, checkReq(t, "group:"+g+"#member@user:end"))
				switch {
				case errors.Is(err, ErrMaxDepth):
					return "ErrMaxDepth"
				case err != nil:
					return err.Error()
				}
				return res.Permissionship.String()
			}
			want := "allowed"
			if max < n {
				want = "ErrMaxDepth"
			}
			if up, down := answer("up0"), answer("down0"); up != want || down != want {
				t.Errorf("MaxDepth %d, cache %d: walking up %s, walking down %s; want %s", max, cache, up, down, want)
			}
		}
	}
}

// A conditional answer is found walking up, as an allowed one is: the
// check reads the few groups above the subject, not the hundred subject
// sets of the object (mutant engine-walkup-first-conditional-chain, which
// gives up at the first conditional chain and walks down).
func TestWalkUpFindsConditionalWithoutWalkingDown(t *testing.T) {
	rels := []string{"group:g7#member@user:u[cav_a]"}
	for i := 0; i < 100; i++ {
		rels = append(rels, fmt.Sprintf("group:top#member@group:g%d#member", i))
	}
	st := newTestStore(t, missingSchema, rels...)
	cs := newCountingStore(st)
	e := New(cs, Options{CacheSize: -1})
	res, err := e.Check(context.Background(), checkReq(t, "group:top#member@user:u"))
	if err != nil || res.Permissionship != Conditional || !slices.Equal(res.Missing, []string{"a"}) {
		t.Fatalf("check: %v missing %v, %v; want conditional missing [a]", res.Permissionship, res.Missing, err)
	}
	if n := cs.total("Subjects group:g"); n > 0 {
		t.Errorf("the check walked down through %d member groups; reads: %v", n, cs.reads)
	}
}

// Expand names the caveat of a caveated subject (mutant
// engine-expand-drops-caveat).
func TestExpandKeepsCaveat(t *testing.T) {
	st := newTestStore(t, missingSchema, "doc:e#rel_x@user:u[cav_a]", "doc:e#rel_x@user:v")
	tree, _, err := New(st, Options{}).Expand(context.Background(), Object{"doc", "e"}, "rel_x", fresh)
	if err != nil {
		t.Fatal(err)
	}
	want := []ExpandSubject{{Subject: Subject{Type: "user", ID: "u"}, Caveat: "cav_a"}, {Subject: Subject{Type: "user", ID: "v"}}}
	if !slices.Equal(tree.Subjects, want) {
		t.Errorf("subjects %+v, want %+v", tree.Subjects, want)
	}
	var b strings.Builder
	if err := tree.WriteTree(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "user:u [cav_a]") {
		t.Errorf("tree does not show the caveat:\n%s", b.String())
	}
}

// minimize_latency windows are aligned on multiples of the quantization,
// not opened at the first request (mutant engine-quantum-not-aligned): a
// window opened at 12:00:04 with a 5s quantum ends at 12:00:05, so a write
// before then is seen at 12:00:05.5.
func TestQuantizationWindowAligned(t *testing.T) {
	st := newTestStore(t, docSchema)
	rA := writeRels(t, st, tuples.Touch, "doc:1#viewer@user:ana")
	e := New(st, Options{Quantization: 5 * time.Second})
	now := time.Date(2026, 1, 1, 12, 0, 4, 0, time.UTC)
	e.now = func() time.Time { return now }
	read := func() tuples.Revision {
		t.Helper()
		rev, err := e.Revision(context.Background(), Consistency{Mode: MinimizeLatency})
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	if got := read(); got != rA {
		t.Fatalf("first read at %d, want %d", got, rA)
	}
	rB := writeRels(t, st, tuples.Delete, "doc:1#viewer@user:ana")
	now = now.Add(900 * time.Millisecond) // 12:00:04.9: the same window
	if got := read(); got != rA {
		t.Errorf("read at 12:00:04.9 at %d, want %d (the window's)", got, rA)
	}
	now = now.Add(600 * time.Millisecond) // 12:00:05.5: the next window
	if got := read(); got != rB {
		t.Errorf("read at 12:00:05.5 at %d, want %d: the window [12:00:00, 12:00:05) has ended", got, rB)
	}
}
