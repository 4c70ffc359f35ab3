package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

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
		if _, err := e.Check(ctx, req); err != nil { // (the schema read, and the revision checked readable)
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
		// One query per object: d, f and root.
		one, p1 := queries(-1, tc.subject)
		together, p2 := queries(0, tc.subject)
		if p1 != tc.want || p2 != tc.want {
			t.Errorf("check for %s: %v read one at a time, %v read together; want %v", tc.subject, p1, p2, tc.want)
		}
		if together != 3 || one <= together {
			t.Errorf("check for %s: %d queries reading relations together, %d one at a time; want 3, and fewer than one at a time", tc.subject, together, one)
		}
		t.Logf("check for %s: %d queries reading relations together, %d one at a time", tc.subject, together, one)
	}
}

// A snapshot at a revision checked readable moments before, with most of
// the garbage-collection window left, needs no query; with little of the
// window left (here: a window of a second), every opening checks.
func TestSnapshotOfARevisionJustChecked(t *testing.T) {
	ctx := context.Background()
	uri := migrated(t)
	for _, tc := range []struct {
		window  time.Duration
		queries int64
	}{
		{0, 0},
		{time.Second, 1},
	} {
		s := open(t, uri, postgres.Options{GCWindow: tc.window, GCInterval: -1})
		if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(roundTripSchema)); err != nil {
			t.Fatal(err)
		}
		rev, err := s.Write(ctx, updates(t, Touch, "document:d#owner@user:olga"))
		if err != nil {
			t.Fatal(err)
		}
		sn, err := s.Snapshot(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		sn.Close()
		n, _ := served(s, func() {
			if sn, err = s.Snapshot(ctx, rev); err != nil {
				t.Fatal(err)
			}
		})
		if n != tc.queries {
			t.Errorf("window %v: opening a snapshot at a revision just checked made %d queries, want %d", tc.window, n, tc.queries)
		}
		if _, ok, err := sn.Get("document", "d", "owner", "user", "olga", ""); !ok || err != nil {
			t.Errorf("window %v: %v %v", tc.window, ok, err)
		}
		sn.Close()
		if _, err := s.Snapshot(ctx, rev+1); !errors.Is(err, ErrRevisionInFuture) {
			t.Errorf("window %v: a snapshot past the head: %v", tc.window, err)
		}
	}
}
