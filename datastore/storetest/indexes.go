package storetest

import (
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

// testIndexes checks that the forward and reverse views of the store agree
// with ForEach after every write path, for relationships still there and
// for those deleted (issue 17: a delete that left a reverse-index entry
// made Resources find a relationship that Get and ForEach did not).
func testIndexes(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"AfterWrite", testIndexesAfterWrite},
		{"AfterDeleteWhere", testIndexesAfterDeleteWhere},
		{"AfterImport", testIndexesAfterImport},
	})
}

// indexData is written by the Indexes tests: subjects of every shape.
var indexData = []string{
	"document:d1#viewer@user:ana",
	"document:d1#viewer@user:*",
	"document:d1#viewer@group:eng#member",
	`document:d1#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`,
	"document:d1#viewer@user:cy[expiration:2999-01-01T00:00:00Z]",
	"document:d1#owner@user:ana",
	"document:d2#viewer@user:ana",
	"document:d2#viewer@group:eng#member",
	"document:d2#parent@folder:f1",
	"folder:f1#viewer@user:ana",
	"group:eng#member@user:bo",
	"group:eng#member@group:ops#member",
	"group:ops#member@user:cy",
}

func testIndexesAfterWrite(t *testing.T, f Factory) {
	ds := newStore(t, f, Config{})
	probes := mustParseAll(t, indexData...)
	check := func(step string) {
		t.Helper()
		if !checkViews(t, ds, 0, probes) {
			t.Fatalf("after %s", step)
		}
	}
	write(t, ds, tuples.Create, indexData...)
	check("CREATE")
	// TOUCH that changes the caveat or expiration, or drops them.
	write(t, ds, tuples.Touch,
		"document:d1#viewer@user:bo",
		`document:d1#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`,
		"document:d1#viewer@user:cy[expiration:2998-01-01T00:00:00Z]",
	)
	check("TOUCH")
	write(t, ds, tuples.Delete, "document:d1#viewer@user:*", "document:d1#viewer@group:eng#member", "group:eng#member@group:ops#member", "document:d1#viewer@user:bo")
	check("DELETE")
	// Everything deleted: no index may keep anything.
	var us []tuples.Update
	for _, r := range probes {
		us = append(us, tuples.Update{Op: tuples.Delete, Relationship: r})
	}
	if _, err := ds.Write(testContext(t), us); err != nil {
		t.Fatal(err)
	}
	check("deleting everything")
	if got := all(t, ds, 0); len(got) != 0 {
		t.Errorf("left %q", got)
	}
	write(t, ds, tuples.Create, indexData[:4]...)
	check("CREATE again")
}

func testIndexesAfterDeleteWhere(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, indexData...)
	probes := mustParseAll(t, indexData...)
	for _, step := range []struct {
		filter string
		limit  int
	}{
		{"document:d1#viewer@user", 2},   // forward index, a limit
		{"@group:eng#member", 0},         // reverse index
		{"document:d*#viewer", 0},        // id prefix
		{"@user:ana", 1},                 // reverse index, a limit
		{"group", 0},                     // a whole type
		{"@user", 0},                     // every user subject
		{"document#parent@folder:f1", 0}, // a relation through the reverse index
		{"folder", 0},
		{"document", 0},
	} {
		if _, err := ds.DeleteWhere(ctx, mustFilter(t, step.filter), step.limit); err != nil {
			t.Fatal(err)
		}
		if !checkViews(t, ds, 0, probes) {
			t.Fatalf("after DeleteWhere(%s, %d)", step.filter, step.limit)
		}
	}
	if got := all(t, ds, 0); len(got) != 0 {
		t.Errorf("left %q", got)
	}
}

func testIndexesAfterImport(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, indexData[:6]...)
	probes := mustParseAll(t, indexData...)
	// Over existing relationships, changing their caveats and expirations,
	// in several batches.
	in := strings.Join(indexData, "\n") + "\n" +
		"document:d1#viewer@user:ana[expiration:2999-01-01T00:00:00Z]\n" +
		"document:d1#viewer@user:bo\n"
	if _, err := ds.Import(ctx, strings.NewReader(in), tuples.ImportOptions{BatchSize: 4}); err != nil {
		t.Fatal(err)
	}
	if !checkViews(t, ds, 0, probes) {
		t.Fatal("after an import")
	}
	// An import that fails in its second batch.
	bad := "document:d3#viewer@user:ana\ndocument:d1#viewer@user:ana\ndocument:d3#editor@user:ana\n"
	if _, err := ds.Import(ctx, strings.NewReader(bad), tuples.ImportOptions{BatchSize: 2}); err == nil {
		t.Fatal("no error")
	}
	probes = append(probes, mustParse(t, "document:d3#viewer@user:ana"))
	if !checkViews(t, ds, 0, probes) {
		t.Fatal("after a failed import")
	}
	// Skipping invalid lines.
	skip := "document:d4#viewer@user:ana\nnot a line\ndocument:d4#editor@user:ana\ndocument:d4#viewer@group:eng#member\n"
	if _, err := ds.Import(ctx, strings.NewReader(skip), tuples.ImportOptions{SkipInvalid: true}); err != nil {
		t.Fatal(err)
	}
	probes = append(probes, mustParseAll(t, "document:d4#viewer@user:ana", "document:d4#viewer@group:eng#member")...)
	if !checkViews(t, ds, 0, probes) {
		t.Fatal("after an import skipping lines")
	}
	if got := all(t, ds, 0); len(got) != len(indexData)+3 {
		t.Errorf("stored %d, want %d", len(got), len(indexData)+3)
	}
}
