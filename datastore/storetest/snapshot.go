package storetest

import (
	"errors"
	"reflect"
	"sort"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

func testSnapshot(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"OldAndNew", testSnapshotOldAndNew},
		{"Subjects", testSnapshotSubjects},
		{"Resources", testSnapshotResources},
		{"StopEarly", testSnapshotStopEarly},
	})
}

// snapshotData is stored by the Snapshot tests.
var snapshotData = []string{
	"document:q3#viewer@group:eng#member",
	"document:q3#viewer@group:ops#member",
	"document:q3#viewer@user:ana",
	"document:q3#viewer@user:*",
	`document:q3#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`,
	"document:q3#owner@user:ana",
	"document:q4#viewer@user:ana",
	"document:q4#viewer@group:eng#member",
	"group:eng#member@user:bo",
	"group:eng#member@group:ops#member",
	"folder:f1#viewer@user:ana",
}

// subjects and resources collect what a snapshot's scans return.
func subjects(t *testing.T, sn tuples.Snapshot, typ, id, rel, styp, srel string) []string {
	t.Helper()
	var out []string
	if err := sn.Subjects(typ, id, rel, styp, srel, func(r tuples.Relationship) bool {
		out = append(out, r.String())
		return true
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func resources(t *testing.T, sn tuples.Snapshot, styp, sid, srel, typ, rel string) []string {
	t.Helper()
	var out []string
	if err := sn.Resources(styp, sid, srel, typ, rel, func(r tuples.Relationship) bool {
		out = append(out, r.String())
		return true
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// testSnapshotOldAndNew checks that a snapshot keeps reading its revision
// while later writes happen, and that Get finds exactly what was written.
func testSnapshotOldAndNew(t *testing.T, f Factory) {
	ds := newStore(t, f, Config{})
	rev1 := write(t, ds, tuples.Create,
		"document:q3#viewer@group:eng#member",
		"document:q3#viewer@user:ana",
		"document:q3#viewer@user:*",
		"group:eng#member@user:bo",
	)
	old := snapshot(t, ds, rev1) // opened before the next write
	rev2 := write(t, ds, tuples.Delete, "document:q3#viewer@user:ana")
	cur := snapshot(t, ds, rev2)
	if _, ok, err := old.Get("document", "q3", "viewer", "user", "ana", ""); !ok || err != nil {
		t.Errorf("old snapshot lost document:q3#viewer@user:ana (%v)", err)
	}
	if _, ok, err := cur.Get("document", "q3", "viewer", "user", "ana", ""); ok || err != nil {
		t.Errorf("new snapshot still has the deleted relationship (%v)", err)
	}
	if r, ok, err := cur.Get("document", "q3", "viewer", "user", "*", ""); !ok || err != nil || !r.IsWildcard() {
		t.Errorf("wildcard: %v, %v, %v", r, ok, err)
	}
	for _, miss := range [][6]string{
		{"document", "q3", "viewer", "nosuchtype", "x", ""},
		{"document", "q3", "viewer", "user", "bo", ""},
		{"document", "q3", "viewer", "group", "eng", ""},        // the subject relation is part of the key
		{"document", "q3", "viewer", "group", "eng", "member2"}, // never written
		{"document", "q3", "owner", "user", "*", ""},
		{"nosuchtype", "q3", "viewer", "user", "*", ""},
	} {
		if r, ok, err := cur.Get(miss[0], miss[1], miss[2], miss[3], miss[4], miss[5]); ok || err != nil {
			t.Errorf("Get(%q) = %v, %v, %v; want nothing", miss, r, ok, err)
		}
	}
	if r, ok, _ := cur.Get("document", "q3", "viewer", "group", "eng", "member"); !ok || r.String() != "document:q3#viewer@group:eng#member" {
		t.Errorf("Get(group:eng#member) = %v, %v", r, ok)
	}
	if cur.Schema() == nil || cur.Schema().Definition("document") == nil {
		t.Errorf("snapshot has no schema")
	}
	want := []string{"document:q3#viewer@group:eng#member", "document:q3#viewer@user:*", "document:q3#viewer@user:ana"}
	if got := subjects(t, old, "document", "q3", "viewer", "", ""); !reflect.DeepEqual(got, want) {
		t.Errorf("old Subjects = %q, want %q", got, want)
	}
	if got := subjects(t, cur, "document", "q3", "viewer", "", ""); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("new Subjects = %q, want %q", got, want[:2])
	}
	if got := resources(t, old, "user", "ana", "", "document", "viewer"); !reflect.DeepEqual(got, want[2:]) {
		t.Errorf("old Resources(user:ana) = %q, want %q", got, want[2:])
	}
	if got := resources(t, cur, "user", "ana", "", "document", "viewer"); len(got) != 0 {
		t.Errorf("new Resources(user:ana) = %q, want none", got)
	}
	checkViews(t, ds, rev1, nil)
	checkViews(t, ds, rev2, mustParseAll(t, "document:q3#viewer@user:ana"))
}

// testSnapshotSubjects checks the forward index: subjects of one resource
// relation, all of them or those of one subject type and relation (where
// "" means plain subjects and wildcards).
func testSnapshotSubjects(t *testing.T, f Factory) {
	ds := newStoreWith(t, f, Config{}, snapshotData...)
	sn := snapshot(t, ds, head(t, ds))
	tests := []struct {
		name                     string
		typ, id, rel, styp, srel string
		want                     []string
	}{
		{"all", "document", "q3", "viewer", "", "", []string{
			"document:q3#viewer@group:eng#member", "document:q3#viewer@group:ops#member", "document:q3#viewer@user:*",
			"document:q3#viewer@user:ana", `document:q3#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`,
		}},
		{"plain users and the wildcard", "document", "q3", "viewer", "user", "", []string{
			"document:q3#viewer@user:*", "document:q3#viewer@user:ana", `document:q3#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`,
		}},
		{"group members", "document", "q3", "viewer", "group", "member", []string{"document:q3#viewer@group:eng#member", "document:q3#viewer@group:ops#member"}},
		{"plain groups", "document", "q3", "viewer", "group", "", nil},
		{"other relation", "document", "q3", "owner", "", "", []string{"document:q3#owner@user:ana"}},
		{"id is exact, not a prefix", "document", "q", "viewer", "", "", nil},
		{"unknown subject type", "document", "q3", "viewer", "nosuchtype", "", nil},
		{"unknown subject relation", "document", "q3", "viewer", "group", "nosuchrel", nil},
		{"unknown relation", "document", "q3", "nosuchrel", "", "", nil},
		{"unknown type", "nosuchtype", "q3", "viewer", "", "", nil},
		{"nested groups", "group", "eng", "member", "group", "member", []string{"group:eng#member@group:ops#member"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := subjects(t, sn, tt.typ, tt.id, tt.rel, tt.styp, tt.srel); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Subjects = %q, want %q", got, tt.want)
			}
		})
	}
}

// testSnapshotResources checks the reverse index: resources of one type
// and relation whose subject is exactly the one given; the wildcard is
// found as the subject id "*".
func testSnapshotResources(t *testing.T, f Factory) {
	ds := newStoreWith(t, f, Config{}, snapshotData...)
	sn := snapshot(t, ds, head(t, ds))
	tests := []struct {
		name                      string
		styp, sid, srel, typ, rel string
		want                      []string
	}{
		{"user", "user", "ana", "", "document", "viewer", []string{"document:q3#viewer@user:ana", "document:q4#viewer@user:ana"}},
		{"other relation", "user", "ana", "", "document", "owner", []string{"document:q3#owner@user:ana"}},
		{"other type", "user", "ana", "", "folder", "viewer", []string{"folder:f1#viewer@user:ana"}},
		{"caveated", "user", "bo", "", "document", "viewer", []string{`document:q3#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`}},
		{"wildcard", "user", "*", "", "document", "viewer", []string{"document:q3#viewer@user:*"}},
		{"the wildcard is not every user", "user", "cy", "", "document", "viewer", nil},
		{"subject set", "group", "eng", "member", "document", "viewer", []string{"document:q3#viewer@group:eng#member", "document:q4#viewer@group:eng#member"}},
		{"subject relation is exact", "group", "eng", "", "document", "viewer", nil},
		{"id is exact, not a prefix", "group", "en", "member", "document", "viewer", nil},
		{"nested group", "group", "ops", "member", "group", "member", []string{"group:eng#member@group:ops#member"}},
		{"unknown subject type", "nosuchtype", "ana", "", "document", "viewer", nil},
		{"unknown relation", "user", "ana", "", "document", "nosuchrel", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resources(t, sn, tt.styp, tt.sid, tt.srel, tt.typ, tt.rel); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resources = %q, want %q", got, tt.want)
			}
		})
	}
	checkViews(t, ds, 0, nil)
}

// testSnapshotStopEarly checks that a scan stops when its callback returns
// false, and that scans nest (the engine walks from one into another).
func testSnapshotStopEarly(t *testing.T, f Factory) {
	ds := newStoreWith(t, f, Config{}, snapshotData...)
	sn := snapshot(t, ds, head(t, ds))
	n := 0
	if err := sn.Subjects("document", "q3", "viewer", "", "", func(tuples.Relationship) bool { n++; return n < 2 }); err != nil || n != 2 {
		t.Errorf("Subjects visited %d after the callback said stop at 2 (%v)", n, err)
	}
	n = 0
	if err := sn.Resources("user", "ana", "", "document", "viewer", func(tuples.Relationship) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("Resources visited %d after the callback said stop at 1 (%v)", n, err)
	}
	// Nested: for each group of document:q3#viewer, its members.
	var members []string
	if err := sn.Subjects("document", "q3", "viewer", "group", "member", func(g tuples.Relationship) bool {
		if err := sn.Subjects("group", g.SubjectID, "member", "", "", func(m tuples.Relationship) bool {
			members = append(members, m.String())
			return true
		}); err != nil {
			t.Error(err)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(members)
	if want := []string{"group:eng#member@group:ops#member", "group:eng#member@user:bo"}; !reflect.DeepEqual(members, want) {
		t.Errorf("nested scans found %q, want %q", members, want)
	}
	// ForEach stops too, and passes its callback's error on.
	n = 0
	if _, err := ds.ForEach(testContext(t), 0, tuples.Filter{ResourceType: "document"}, func(tuples.Relationship) (bool, error) { n++; return false, nil }); err != nil || n != 1 {
		t.Errorf("ForEach visited %d after the callback said stop at 1 (%v)", n, err)
	}
	stop := errors.New("stop")
	if _, err := ds.ForEach(testContext(t), 0, tuples.Filter{ResourceType: "document"}, func(tuples.Relationship) (bool, error) { return true, stop }); !errors.Is(err, stop) {
		t.Errorf("ForEach whose callback fails: %v, want %v", err, stop)
	}
}
