package tuples

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWritersAndReaders runs writers of every kind (Write,
// Import, DeleteWhere, WriteSchema) beside readers (snapshots, paged
// reads, the change feed) and checks what every reader sees is one
// consistent state: at a snapshot, each relationship found in the forward
// index is found in the reverse index and the other way round, and a group
// written in one batch is seen wholly or not at all. It is meant for the
// race detector: go test -race -short ./tuples/.
func TestConcurrentWritersAndReaders(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newTestStore(t, Options{})
	rounds := 40
	if testing.Short() {
		rounds = 15
	}
	const groupSize = 6 // every write stores a "batch" of 6 viewers of one document

	var writers, readers sync.WaitGroup
	for w := range 2 {
		writers.Go(func() {
			for i := range rounds {
				doc := fmt.Sprintf("w%d-%d", w, i%4)
				op := Touch
				if i%4 == 3 {
					op = Delete
				}
				var us []Update
				for j := range groupSize {
					us = append(us, Update{Op: op, Relationship: mustParse(t, fmt.Sprintf("document:%s#viewer@user:u%d", doc, j))})
				}
				if op == Delete {
					// Delete the whole document's viewers at once.
					if _, err := s.DeleteWhere(ctx, Filter{ResourceType: "document", ResourceID: doc}, 0); err != nil {
						t.Error(err)
					}
					continue
				}
				if _, err := s.Write(ctx, us); err != nil {
					t.Error(err)
				}
			}
		})
	}
	writers.Go(func() {
		for i := range rounds / 3 {
			var b strings.Builder
			for j := range groupSize {
				fmt.Fprintf(&b, "document:imp%d#viewer@user:u%d\n", i, j)
			}
			if _, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{}); err != nil {
				t.Error(err)
			}
			if i%2 == 1 {
				if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema+fmt.Sprintf("\ndefinition extra%d {}\n", i))); err != nil {
					t.Error(err)
				}
			}
		}
	})

	stop := make(chan struct{})
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				checkSnapshot(t, s, groupSize)
			}
		})
	}
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			opts := ReadOptions{Limit: 5}
			for {
				res, err := s.ReadRelationships(ctx, Filter{ResourceType: "document"}, opts)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Cursor == "" {
					break
				}
				opts.Cursor = res.Cursor
			}
		}
	})
	watchCtx, stopWatch := context.WithCancel(ctx)
	readers.Go(func() {
		var last Revision
		s.Watch(watchCtx, 0, func(cs ChangeSet) error {
			if cs.Revision <= last {
				t.Errorf("Watch: revision %d after %d", cs.Revision, last)
			}
			last = cs.Revision
			return nil
		})
	})
	writers.Wait()
	close(stop)
	stopWatch()
	readers.Wait()
	checkSnapshot(t, s, groupSize)
}

// checkSnapshot reads the head once and checks its indexes agree and every
// document holds 0 or groupSize viewers.
func checkSnapshot(t *testing.T, s *Store, groupSize int) {
	head, err := s.HeadRevision(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	sn, err := s.Snapshot(context.Background(), head)
	if err != nil {
		t.Error(err)
		return
	}
	defer sn.Close()
	perDoc := map[string]int{}
	_, err = s.ForEach(context.Background(), head, Filter{ResourceType: "document"}, func(r Relationship) (bool, error) {
		perDoc[r.ResourceID]++
		found := false
		err := sn.Resources(r.SubjectType, r.SubjectID, r.SubjectRelation, r.ResourceType, r.Relation, func(x Relationship) bool {
			found = found || x.ResourceID == r.ResourceID
			return !found
		})
		if err != nil {
			return false, err
		}
		if !found {
			t.Errorf("revision %d: %s is in the forward index only", head, r)
		}
		if _, ok, err := sn.Get(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation); !ok || err != nil {
			t.Errorf("revision %d: Get(%s) = %v, %v", head, r, ok, err)
		}
		return true, nil
	})
	if err != nil {
		t.Error(err)
	}
	for doc, n := range perDoc {
		if n != groupSize {
			t.Errorf("revision %d: document %s has %d viewers, want %d (a batch seen in part)", head, doc, n, groupSize)
		}
	}
	for j := range groupSize {
		if err := sn.Resources("user", fmt.Sprintf("u%d", j), "", "document", "viewer", func(r Relationship) bool {
			if _, ok, _ := sn.Get(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation); !ok {
				t.Errorf("revision %d: %s is in the reverse index only", head, r)
			}
			return true
		}); err != nil {
			t.Error(err)
		}
	}
}
