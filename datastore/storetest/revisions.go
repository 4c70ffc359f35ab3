package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/tuples"
)

// testConfig checks that a store reports the settings it was opened with.
func testConfig(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"Set", func(t *testing.T, f Factory) {
			ds := open(t, f, Config{GCWindow: 90 * time.Minute, MaxBatch: 7})
			if got := ds.GCWindow(); got != 90*time.Minute {
				t.Errorf("GCWindow() = %v, want 90m", got)
			}
			if got := ds.MaxBatch(); got != 7 {
				t.Errorf("MaxBatch() = %d, want 7", got)
			}
		}},
		{"Defaults", func(t *testing.T, f Factory) {
			ds := open(t, f, Config{})
			if ds.GCWindow() <= 0 || ds.MaxBatch() <= 0 {
				t.Errorf("defaults: GCWindow() = %v, MaxBatch() = %d, want both positive", ds.GCWindow(), ds.MaxBatch())
			}
		}},
	})
}

func testRevisions(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"EveryRevisionReadable", testEveryRevisionReadable},
		{"InFuture", testRevisionInFuture},
		{"EmptyWrite", func(t *testing.T, f Factory) {
			ds := newStoreWith(t, f, Config{}, "document:a#viewer@user:ana")
			h := head(t, ds)
			rev, err := ds.Write(testContext(t), nil)
			if err != nil || rev != h {
				t.Errorf("empty write = %d, %v; want the head %d", rev, err, h)
			}
			if got := head(t, ds); got != h {
				t.Errorf("an empty write moved the head from %d to %d", h, got)
			}
		}},
	})
}

// testEveryRevisionReadable makes a history of writes of every kind and
// checks that each of its revisions reads exactly its own state, through
// Snapshot, ForEach, ReadRelationships and Export, and that the schema of
// each revision is the one written before it.
func testEveryRevisionReadable(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := open(t, f, Config{})
	state := map[string]string{} // the model: relationship without traits -> full form
	type point struct {
		rev       tuples.Revision
		state     []string
		hasExtra1 bool // the schema in force defines extra1
	}
	var history []point
	extra := false
	record := func(rev tuples.Revision) {
		t.Helper()
		if n := len(history); n > 0 && rev <= history[n-1].rev {
			t.Fatalf("revision %d after %d: revisions must increase", rev, history[n-1].rev)
		}
		if h := head(t, ds); h != rev {
			t.Fatalf("head %d after a write at %d", h, rev)
		}
		var st []string
		for _, v := range state {
			st = append(st, v)
		}
		history = append(history, point{rev, sorted(st...), extra})
	}
	apply := func(op tuples.UpdateOp, rels ...string) {
		for _, s := range rels {
			r := mustParse(t, s)
			if op == tuples.Delete {
				delete(state, r.WithoutTraits().String())
			} else {
				state[r.WithoutTraits().String()] = r.String()
			}
		}
	}

	rev, _, err := ds.WriteSchema(ctx, "test.zed", []byte(testSchemaSrc))
	if err != nil {
		t.Fatal(err)
	}
	record(rev)
	steps := []struct {
		op   tuples.UpdateOp
		rels []string
	}{
		{tuples.Create, []string{"document:a#viewer@user:ana", "document:a#viewer@user:bo", "group:eng#member@user:cy"}},
		{tuples.Touch, []string{"document:a#viewer@group:eng#member", `document:b#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`}},
		{tuples.Delete, []string{"document:a#viewer@user:bo"}},
		{tuples.Touch, []string{`document:b#viewer@user:ana`, "document:a#viewer@user:*"}}, // drops the caveat
	}
	for _, st := range steps {
		rev, err := ds.Write(ctx, updates(t, st.op, st.rels...))
		if err != nil {
			t.Fatal(err)
		}
		apply(st.op, st.rels...)
		record(rev)
	}
	rev, _, err = ds.WriteSchema(ctx, "test.zed", []byte(testSchemaSrc+"\ndefinition extra1 {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	extra = true
	record(rev)
	res, err := ds.Import(ctx, strings.NewReader("document:c#viewer@user:ana\ndocument:c#owner@user:bo\n"), tuples.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apply(tuples.Touch, "document:c#viewer@user:ana", "document:c#owner@user:bo")
	record(res.Revision)
	del, err := ds.DeleteWhere(ctx, mustFilter(t, "document:a"), 0)
	if err != nil {
		t.Fatal(err)
	}
	apply(tuples.Delete, "document:a#viewer@user:ana", "document:a#viewer@group:eng#member", "document:a#viewer@user:*")
	record(del.Revision)

	for _, p := range history {
		if got := all(t, ds, p.rev); !reflect.DeepEqual(got, p.state) {
			t.Errorf("ForEach at %d: %q, want %q", p.rev, got, p.state)
		}
		page, err := ds.ReadRelationships(ctx, tuples.Filter{ResourceType: "document"}, tuples.ReadOptions{Revision: p.rev})
		if err != nil {
			t.Fatalf("ReadRelationships at %d: %v", p.rev, err)
		}
		var want []string
		for _, s := range p.state {
			if strings.HasPrefix(s, "document:") {
				want = append(want, s)
			}
		}
		if got := strs(page.Relationships); page.Revision != p.rev || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("ReadRelationships at %d: %q at %d, want %q", p.rev, got, page.Revision, want)
		}
		var out bytes.Buffer
		erev, n, err := ds.Export(ctx, &out, tuples.ExportOptions{Revision: p.rev})
		lines := strings.Fields(out.String())
		sort.Strings(lines)
		if err != nil || erev != p.rev || n != int64(len(p.state)) || strings.Join(lines, " ") != strings.Join(p.state, " ") {
			t.Errorf("Export at %d: %q (%d at %d, %v), want %q", p.rev, lines, n, erev, err, p.state)
		}
		sn := snapshot(t, ds, p.rev)
		if sn.Revision() != p.rev {
			t.Errorf("Snapshot(%d).Revision() = %d", p.rev, sn.Revision())
		}
		if sn.Schema() == nil || (sn.Schema().Definition("extra1") != nil) != p.hasExtra1 {
			t.Errorf("Snapshot(%d) has the wrong schema (extra1 defined: %v, want %v)", p.rev, sn.Schema() != nil && sn.Schema().Definition("extra1") != nil, p.hasExtra1)
		}
		checkViews(t, ds, p.rev, mustParseAll(t, "document:a#viewer@user:bo", "document:b#viewer@user:ana", "document:a#viewer@user:*"))
	}
}

// testRevisionInFuture checks that every read at a revision beyond the
// head fails with ErrRevisionInFuture.
func testRevisionInFuture(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, "document:a#viewer@user:ana")
	future := head(t, ds) + 1
	if _, err := ds.Snapshot(ctx, future); !errors.Is(err, tuples.ErrRevisionInFuture) {
		t.Errorf("Snapshot(head+1): %v, want ErrRevisionInFuture", err)
	}
	if _, err := ds.ForEach(ctx, future, tuples.Filter{}, func(tuples.Relationship) (bool, error) { return true, nil }); !errors.Is(err, tuples.ErrRevisionInFuture) {
		t.Errorf("ForEach(head+1): %v, want ErrRevisionInFuture", err)
	}
	if _, err := ds.ReadRelationships(ctx, tuples.Filter{ResourceType: "document"}, tuples.ReadOptions{Revision: future}); !errors.Is(err, tuples.ErrRevisionInFuture) {
		t.Errorf("ReadRelationships at head+1: %v, want ErrRevisionInFuture", err)
	}
	if _, _, err := ds.Export(ctx, &bytes.Buffer{}, tuples.ExportOptions{Revision: future}); !errors.Is(err, tuples.ErrRevisionInFuture) {
		t.Errorf("Export at head+1: %v, want ErrRevisionInFuture", err)
	}
	if _, _, err := ds.Changes(ctx, future+4, 0); !errors.Is(err, tuples.ErrRevisionInFuture) {
		t.Errorf("Changes after head+5: %v, want ErrRevisionInFuture", err)
	}
}
