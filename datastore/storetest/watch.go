package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

func testWatch(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"Changes", testChanges},
		{"Pages", testChangesPages},
		{"CommitOrder", testWatchCommitOrder},
		{"WaitForRevision", testWaitForRevision},
	})
}

// follow calls fn with every change set after `after`, in commit order, as
// the server's Watch does (Changes a page at a time, then WaitForRevision),
// until ctx ends or fn or the store fails.
func follow(ctx context.Context, ds datastore.Datastore, after tuples.Revision, page int, fn func(tuples.ChangeSet) error) error {
	for {
		sets, upto, err := ds.Changes(ctx, after, page)
		if err != nil {
			return err
		}
		for _, cs := range sets {
			if err := fn(cs); err != nil {
				return err
			}
		}
		if upto < after {
			return fmt.Errorf("Changes after %d read up to %d", after, upto)
		}
		after = upto
		if page > 0 && len(sets) == page {
			continue
		}
		if err := ds.WaitForRevision(ctx, after+1); err != nil {
			return err
		}
	}
}

// follower follows the change feed on a goroutine of its own.
type follower struct {
	mu       sync.Mutex
	sets     []tuples.ChangeSet
	progress chan struct{} // a value after each change set, unless one waits
	done     chan error
	cancel   context.CancelFunc
}

// startFollower follows the change feed of ds after `after`, with pages of
// page change sets, until stopAfter.
func startFollower(ctx context.Context, ds datastore.Datastore, after tuples.Revision, page int) *follower {
	ctx, cancel := context.WithCancel(ctx)
	fl := &follower{progress: make(chan struct{}, 1), done: make(chan error, 1), cancel: cancel}
	go func() {
		fl.done <- follow(ctx, ds, after, page, func(cs tuples.ChangeSet) error {
			fl.mu.Lock()
			fl.sets = append(fl.sets, cs)
			fl.mu.Unlock()
			select {
			case fl.progress <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	return fl
}

// stopAfter waits until the follower has delivered n change sets, stops it
// and returns what it delivered.
func (fl *follower) stopAfter(t *testing.T, n int) []tuples.ChangeSet {
	t.Helper()
	defer fl.cancel()
	ctx := testContext(t)
	for {
		fl.mu.Lock()
		got := len(fl.sets)
		fl.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-fl.progress:
		case err := <-fl.done:
			t.Fatalf("the follower stopped after %d of %d change sets: %v", got, n, err)
		case <-ctx.Done():
			t.Fatalf("the follower delivered %d of %d change sets", got, n)
		}
	}
	fl.cancel()
	if err := <-fl.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the follower ended with %v, want context.Canceled", err)
	}
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.sets
}

// printChanges prints change sets as "OP relationship" lines, one set a
// line.
func printChanges(sets []tuples.ChangeSet) []string {
	var out []string
	for _, cs := range sets {
		var b []string
		for _, c := range cs.Changes {
			b = append(b, c.Op.String()+" "+c.Relationship.String())
		}
		out = append(out, strings.Join(b, ", "))
	}
	return out
}

// testChanges checks what the change feed reports of each kind of write.
func testChanges(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, "document:a#viewer@user:cy", `document:a#viewer@user:di[only_weekdays:{"tz":"UTC"}]`)
	start := head(t, ds)
	// One batch, in this order: a CREATE is reported as a TOUCH, the
	// DELETE of an absent relationship not at all, the DELETE of a
	// caveated one with its caveat.
	r1, err := ds.Write(ctx, []tuples.Update{
		{Op: tuples.Create, Relationship: mustParse(t, "document:a#viewer@user:ana")},
		{Op: tuples.Delete, Relationship: mustParse(t, "document:a#viewer@user:cy")},
		{Op: tuples.Delete, Relationship: mustParse(t, "document:a#viewer@user:nobody")},
		{Op: tuples.Touch, Relationship: mustParse(t, "document:a#viewer@user:*")},
		{Op: tuples.Delete, Relationship: mustParse(t, "document:a#viewer@user:di")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ds.WriteSchema(ctx, "t.zed", []byte(testSchemaSrc+"\ndefinition extra {}\n")); err != nil {
		t.Fatal(err)
	}
	if res, err := ds.DeleteWhere(ctx, mustFilter(t, "document:nothing"), 0); err != nil || res.Deleted != 0 {
		t.Fatalf("empty delete: %v, %v", res, err)
	}
	del, err := ds.DeleteWhere(ctx, mustFilter(t, "@user:ana"), 0)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := ds.Import(ctx, strings.NewReader("document:b#viewer@user:bo\n"), tuples.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := head(t, ds)
	sets, upto, err := ds.Changes(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	if upto != h {
		t.Errorf("Changes read up to %d, want the head %d", upto, h)
	}
	want := []string{
		"TOUCH document:a#viewer@user:ana, DELETE document:a#viewer@user:cy, TOUCH document:a#viewer@user:*, " +
			`DELETE document:a#viewer@user:di[only_weekdays:{"tz":"UTC"}]`,
		"DELETE document:a#viewer@user:ana",
		"TOUCH document:b#viewer@user:bo",
	}
	if got := printChanges(sets); !reflect.DeepEqual(got, want) {
		t.Errorf("changes:\n%s\nwant (the schema write and the empty delete change no relationship):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var revs []tuples.Revision
	for _, cs := range sets {
		revs = append(revs, cs.Revision)
	}
	if wantRevs := []tuples.Revision{r1, del.Revision, imp.Revision}; !reflect.DeepEqual(revs, wantRevs) {
		t.Errorf("change sets at %v, want %v", revs, wantRevs)
	}
	// Nothing after the head.
	if sets, upto, err := ds.Changes(ctx, h, 0); len(sets) != 0 || upto != h || err != nil {
		t.Errorf("Changes after the head: %d sets, up to %d, %v", len(sets), upto, err)
	}
}

// testChangesPages checks Changes' limit: a page ends at its last change
// set's revision, and pages make up the whole feed.
func testChangesPages(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	start := head(t, ds)
	for i := range 7 {
		write(t, ds, tuples.Touch, fmt.Sprintf("document:d%d#viewer@user:ana", i))
		if i == 3 {
			if _, _, err := ds.WriteSchema(ctx, "t.zed", []byte(testSchemaSrc+"\ndefinition extra {}\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	full, upto, err := ds.Changes(ctx, start, 0)
	if err != nil || len(full) != 7 || upto != head(t, ds) {
		t.Fatalf("Changes: %d sets up to %d, %v; want 7 up to %d", len(full), upto, err, head(t, ds))
	}
	for _, limit := range []int{1, 2, 3, 7, 8} {
		var got []tuples.ChangeSet
		after := start
		for range 20 {
			sets, upto, err := ds.Changes(ctx, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(sets) > limit {
				t.Fatalf("limit %d: %d sets", limit, len(sets))
			}
			if len(sets) == limit && upto != sets[len(sets)-1].Revision {
				t.Errorf("limit %d: a full page read up to %d, want its last revision %d", limit, upto, sets[len(sets)-1].Revision)
			}
			got = append(got, sets...)
			if len(sets) < limit {
				if upto != head(t, ds) {
					t.Errorf("limit %d: the last page read up to %d, want the head %d", limit, upto, head(t, ds))
				}
				break
			}
			after = upto
		}
		if !reflect.DeepEqual(got, full) {
			t.Errorf("limit %d: pages %v, want %v", limit, printChanges(got), printChanges(full))
		}
	}
}

// testWatchCommitOrder runs writers of every kind concurrently while a
// follower reads the change feed, and checks that it reports every
// revision that changed relationships exactly once, in increasing order,
// the same as one call of Changes, and that replaying its changes in order
// rebuilds the final state.
func testWatchCommitOrder(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	start := head(t, ds)

	fl := startFollower(ctx, ds, start, 3)
	n := 20
	if testing.Short() {
		n = 8
	}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := range n {
				rel := fmt.Sprintf("document:w%d#viewer@user:u%d", w, i%5)
				op := tuples.Touch
				if i%3 == 2 {
					op = tuples.Delete
				}
				if _, err := ds.Write(ctx, []tuples.Update{
					{Op: op, Relationship: mustParse(t, rel)},
					{Op: op, Relationship: mustParse(t, fmt.Sprintf("group:g%d#member@user:u%d", w, i))},
				}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range n / 4 {
			var b strings.Builder
			for j := range 30 {
				fmt.Fprintf(&b, "document:imp%d#viewer@user:u%d\n", i, j)
			}
			if _, err := ds.Import(ctx, strings.NewReader(b.String()), tuples.ImportOptions{BatchSize: 7}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for i := range n / 4 {
			if _, err := ds.DeleteWhere(ctx, tuples.Filter{ResourceType: "document", ResourceIDPrefix: "imp"}, 10); err != nil {
				t.Error(err)
			}
			if _, _, err := ds.WriteSchema(ctx, "t.zed", []byte(testSchemaSrc+fmt.Sprintf("\ndefinition extra%d {}\n", i))); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	want, _, err := ds.Changes(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	sets := fl.stopAfter(t, len(want))
	if !reflect.DeepEqual(sets, want) {
		t.Errorf("the follower got %d change sets, Changes %d, and they differ", len(sets), len(want))
	}

	state := map[string]bool{}
	prev := start
	for _, cs := range sets {
		if cs.Revision <= prev {
			t.Fatalf("revision %d after %d", cs.Revision, prev)
		}
		prev = cs.Revision
		if len(cs.Changes) == 0 {
			t.Errorf("revision %d: a change set without changes", cs.Revision)
		}
		for _, c := range cs.Changes {
			switch c.Op {
			case tuples.Touch:
				state[c.Relationship.String()] = true
			case tuples.Delete:
				delete(state, c.Relationship.String())
			default:
				t.Fatalf("change %v", c)
			}
		}
	}
	var replayed []string
	for k := range state {
		replayed = append(replayed, k)
	}
	sort.Strings(replayed)
	if got := all(t, ds, 0); !reflect.DeepEqual(got, replayed) {
		t.Errorf("replaying the changes gives %d relationships, the store holds %d", len(replayed), len(got))
	}
	checkViews(t, ds, 0, nil)
}

// testWaitForRevision checks that WaitForRevision returns once the head
// reaches the revision, at once when it already has, and with the
// context's error when that ends first.
func testWaitForRevision(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	h := head(t, ds)
	for _, rev := range []tuples.Revision{0, h} {
		if err := ds.WaitForRevision(ctx, rev); err != nil {
			t.Errorf("WaitForRevision(%d) with the head at %d: %v", rev, h, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := ds.WaitForRevision(short, h+5); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForRevision(head+5) when its context ends: %v, want context.DeadlineExceeded", err)
	}
	canceled, cancel2 := context.WithCancel(ctx)
	cancel2()
	if err := ds.WaitForRevision(canceled, h+5); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitForRevision(head+5) with a canceled context: %v, want context.Canceled", err)
	}

	done := make(chan error, 1)
	go func() { done <- ds.WaitForRevision(ctx, h+2) }()
	r1 := write(t, ds, tuples.Touch, "document:a#viewer@user:ana")
	if r1 < h+2 {
		select {
		case err := <-done:
			t.Fatalf("WaitForRevision(%d) returned (%v) with the head at %d", h+2, err, r1)
		default:
		}
	}
	r2 := write(t, ds, tuples.Touch, "document:a#viewer@user:bo")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WaitForRevision(%d) with the head at %d: %v", h+2, r2, err)
		}
	case <-ctx.Done():
		t.Fatalf("WaitForRevision(%d) did not return with the head at %d", h+2, r2)
	}
	// Several waiters wake at once.
	var wg sync.WaitGroup
	h = head(t, ds)
	for range 3 {
		wg.Go(func() {
			if err := ds.WaitForRevision(ctx, h+1); err != nil {
				t.Error(err)
			}
		})
	}
	write(t, ds, tuples.Touch, "document:a#viewer@user:cy")
	wg.Wait()
}
