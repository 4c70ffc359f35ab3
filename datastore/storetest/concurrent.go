package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// testConcurrent runs writers of every kind (Write, with TOUCH and with
// DELETE of relationships that exist, DeleteWhere, Import, WriteSchema)
// beside readers (snapshots, paged reads, the change feed) and checks that
// what every reader sees is one consistent state: at each revision read,
// ForEach, the forward and the reverse index agree, and a group of
// relationships written in one batch is seen wholly or not at all. It is
// meant for the race detector too (go test -race -short).
func testConcurrent(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	start := head(t, ds)
	rounds := 40
	if testing.Short() {
		rounds = 16
	}
	const (
		groupSize = 6 // every batch writes or deletes the 6 viewers of one document
		docs      = 3 // per writer
		writers   = 2
	)
	group := func(doc string) []string {
		var rels []string
		for j := range groupSize {
			rels = append(rels, fmt.Sprintf("document:%s#viewer@user:u%d", doc, j))
		}
		return rels
	}
	var probes []tuples.Relationship
	for w := range writers {
		for d := range docs {
			probes = append(probes, mustParseAll(t, group(fmt.Sprintf("w%d-%d", w, d))...)...)
		}
	}
	for i := range rounds / 3 {
		probes = append(probes, mustParseAll(t, group(fmt.Sprintf("imp%d", i))...)...)
	}

	var wg, readers sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				if i%4 != 3 {
					doc := fmt.Sprintf("w%d-%d", w, i%docs)
					if _, err := ds.Write(ctx, updates(t, tuples.Touch, group(doc)...)); err != nil {
						t.Error(err)
					}
					continue
				}
				// Delete a document written in an earlier round (so its
				// viewers exist), by filter or by name.
				doc := fmt.Sprintf("w%d-%d", w, (i/4)%docs)
				if (i/4)%2 == 1 {
					res, err := ds.DeleteWhere(ctx, tuples.Filter{ResourceType: "document", ResourceID: doc}, 0)
					if err != nil {
						t.Error(err)
					} else if res.Deleted != groupSize {
						t.Errorf("DeleteWhere of document %s deleted %d, want %d", doc, res.Deleted, groupSize)
					}
				} else if _, err := ds.Write(ctx, updates(t, tuples.Delete, group(doc)...)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range rounds / 3 {
			doc := fmt.Sprintf("imp%d", i)
			if _, err := ds.Import(ctx, strings.NewReader(strings.Join(group(doc), "\n")), tuples.ImportOptions{}); err != nil {
				t.Error(err)
			}
			// Delete the one imported before (so that what an index kept
			// of it after the delete would show at the end), by filter
			// or by name; or write a schema.
			prev := fmt.Sprintf("imp%d", i-1)
			switch i % 3 {
			case 0:
				if i == 0 {
					break
				}
				res, err := ds.DeleteWhere(ctx, tuples.Filter{ResourceType: "document", ResourceID: prev}, 0)
				if err != nil {
					t.Error(err)
				} else if res.Deleted != groupSize {
					t.Errorf("DeleteWhere of document %s deleted %d, want %d", prev, res.Deleted, groupSize)
				}
			case 1:
				if _, _, err := ds.WriteSchema(ctx, "t.zed", []byte(testSchemaSrc+fmt.Sprintf("\ndefinition extra%d {}\n", i))); err != nil {
					t.Error(err)
				}
			case 2:
				if _, err := ds.Write(ctx, updates(t, tuples.Delete, group(prev)...)); err != nil {
					t.Error(err)
				}
			}
		}
	})

	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for range 2 {
		readers.Go(func() {
			for !stopped() {
				if err := consistentAt(ctx, ds, 0, probes, groupSize); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	readers.Go(func() {
		for !stopped() {
			opts := tuples.ReadOptions{Limit: 5}
			perDoc := map[string]int{}
			var rev tuples.Revision
			for {
				res, err := ds.ReadRelationships(ctx, tuples.Filter{ResourceType: "document"}, opts)
				if err != nil {
					t.Error(err)
					return
				}
				if opts.Cursor == "" {
					rev = res.Revision
				} else if res.Revision != rev {
					t.Errorf("a page at %d after one at %d", res.Revision, rev)
				}
				for _, r := range res.Relationships {
					perDoc[r.ResourceID]++
				}
				if res.Cursor == "" {
					break
				}
				opts.Cursor = res.Cursor
			}
			for doc, n := range perDoc {
				if n != groupSize {
					t.Errorf("paged read at %d: document %s has %d viewers, want %d", rev, doc, n, groupSize)
				}
			}
		}
	})
	fl := startFollower(ctx, ds, start, 0)
	wg.Wait()
	close(stop)
	readers.Wait()
	want, h, err := ds.Changes(ctx, start, 0)
	if err != nil {
		t.Fatal(err)
	}
	sets := fl.stopAfter(t, len(want))
	if !reflect.DeepEqual(sets, want) {
		t.Errorf("the follower got %d change sets, Changes %d, and they differ", len(sets), len(want))
	}
	if err := consistentAt(ctx, ds, 0, probes, groupSize); err != nil {
		t.Error(err)
	}

	// Replaying the change feed rebuilds the store.
	state := map[string]bool{}
	for _, cs := range sets {
		for _, c := range cs.Changes {
			if c.Op == tuples.Delete {
				delete(state, c.Relationship.String())
			} else {
				state[c.Relationship.String()] = true
			}
		}
	}
	var replayed []string
	for k := range state {
		replayed = append(replayed, k)
	}
	sort.Strings(replayed)
	if got := all(t, ds, h); !reflect.DeepEqual(got, replayed) {
		t.Errorf("replaying the change feed gives %d relationships, the store holds %d", len(replayed), len(got))
	}
}

// consistentAt checks one revision (0: the head) as testConcurrent needs:
// the views agree, and every document has 0 or groupSize viewers.
func consistentAt(ctx context.Context, ds datastore.Datastore, rev tuples.Revision, probes []tuples.Relationship, groupSize int) error {
	if rev == 0 {
		var err error
		if rev, err = ds.HeadRevision(ctx); err != nil {
			return err
		}
	}
	if err := views(ctx, ds, rev, probes); err != nil {
		return fmt.Errorf("revision %d: %w", rev, err)
	}
	perDoc := map[string]int{}
	if _, err := ds.ForEach(ctx, rev, tuples.Filter{ResourceType: "document"}, func(r tuples.Relationship) (bool, error) {
		perDoc[r.ResourceID]++
		return true, nil
	}); err != nil {
		return err
	}
	for doc, n := range perDoc {
		if n != groupSize {
			return fmt.Errorf("revision %d: document %s has %d viewers, want %d (a batch seen in part)", rev, doc, n, groupSize)
		}
	}
	return nil
}
