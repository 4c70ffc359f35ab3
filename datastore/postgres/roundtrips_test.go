package postgres_test

import (
	"context"
	"testing"

	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/engine"
	. "github.com/reach-authz/reach/tuples"
)

const roundTripSchema = `
definition user {}

definition folder {
  relation viewer: user
  relation parent: folder
  permission view = viewer + parent->view
}

definition document {
  relation owner: user
  relation editor: user
  relation viewer: user
  relation parent: folder
  permission edit = owner + editor
  permission view = edit + viewer + parent->view
}
`

// A cold check reads each object it visits in one query: its first read
// of a relation of the object reads the relations the object's
// permissions use with it, and the reads of them that follow are
// answered from the snapshot. Read one relation at a time, the same check
// makes a query per relation.
func TestCheckReadsAnObjectInOneQuery(t *testing.T) {
	ctx := context.Background()
	uri := migrated(t)
	queries := func(prefetch int, subject string) (int64, engine.Permissionship) {
		s := open(t, uri, postgres.Options{PrefetchRows: prefetch, GCInterval: -1})
		e := engine.New(s, engine.Options{CacheSize: -1, DisableGroupIndex: true})
		defer e.Close()
		head, err := s.HeadRevision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		req := engine.CheckRequest{
			Resource: engine.Object{Type: "document", ID: "d"}, Permission: "view", Subject: engine.Subject{Type: "user", ID: subject},
			Consistency: engine.Consistency{Mode: engine.AtExactSnapshot, Token: head.Token()},
		}
		if _, err := e.Check(ctx, req); err != nil { // (the schema read, once)
			t.Fatal(err)
		}
		var res engine.CheckResult
		n, _ := served(s, func() {
			if res, err = e.Check(ctx, req); err != nil {
				t.Fatal(err)
			}
		})
		return n, res.Permissionship
	}
	s := open(t, uri, postgres.Options{})
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(roundTripSchema)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, updates(t, Touch,
		"document:d#owner@user:olga", "document:d#editor@user:ed", "document:d#viewer@user:vic", "document:d#parent@folder:f",
		"folder:f#viewer@user:fay", "folder:f#parent@folder:root", "folder:root#viewer@user:ron",
	)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		subject string
		want    engine.Permissionship
	}{
		{"ron", engine.Allowed},   // through the parent's parent
		{"nobody", engine.Denied}, // every relation of d, f and root read
	} {
		// The snapshot's check of the revision, then one query per object:
		// d, f and root.
		one, p1 := queries(-1, tc.subject)
		together, p2 := queries(0, tc.subject)
		if p1 != tc.want || p2 != tc.want {
			t.Errorf("check for %s: %v read one at a time, %v read together; want %v", tc.subject, p1, p2, tc.want)
		}
		if together != 1+3 || one <= together {
			t.Errorf("check for %s: %d queries reading relations together, %d one at a time; want 4, and fewer than one at a time", tc.subject, together, one)
		}
		t.Logf("check for %s: %d queries reading relations together, %d one at a time", tc.subject, together, one)
	}
}
