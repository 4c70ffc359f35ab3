package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

func lookupIDs(t *testing.T, e *Engine, req LookupResourcesRequest) ([]string, string) {
	t.Helper()
	var ids []string
	cur, err := e.LookupResources(context.Background(), req, func(r LookupResult) bool {
		ids = append(ids, r.ResourceID)
		return true
	})
	if err != nil {
		t.Fatalf("LookupResources(%s#%s@%s): %v", req.ResourceType, req.Permission, req.Subject, err)
	}
	return ids, cur
}

func TestLookupResources(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	tests := []struct {
		typ, perm, subject string
		want               []string
	}{
		{"doc", "read", "user:vera", []string{"d3", "d4", "d8", "pub"}}, // d4, d8, pub: wildcards,
		{"doc", "read", "user:carl", []string{"d2", "d4", "d8", "pub"}},
		{"doc", "read", "user:wanda", []string{"d1", "d11", "d4", "d8", "pub"}},
		{"doc", "read", "user:anyone", []string{"d4", "d8", "pub"}},
		{"doc", "not_blocked", "user:bob", nil},
		{"doc", "not_blocked", "user:amy", []string{"pub"}},
		{"doc", "review", "user:ivan", []string{"d5"}},
		{"doc", "review", "user:gina", nil}, // approver through eng, but not reader
		{"doc", "all_folders", "user:alice", []string{"d4", "d6"}},
		{"doc", "all_folders", "user:bert", []string{"d4"}},
		{"doc", "read", "user:oscar", []string{"d4", "d8", "pub"}},
		{"doc", "read", "user:olga", []string{"d4", "d7", "d8", "pub"}},
		{"doc", "read", "user:cyd", []string{"d4", "d8", "d9", "pub"}},
		{"doc", "read", "user:vic", []string{"d10", "d4", "d8", "pub"}},
		{"doc", "layered", "user:lars", nil},
		{"doc", "layered", "user:lena", []string{"d12"}},
		{"group", "member", "user:carl", []string{"core", "eng"}},
		{"group", "member", "group:core#member", []string{"core", "eng"}},
		{"doc", "read", "group:core#member", []string{"d2"}},
		{"folder", "view", "user:vera", []string{"open", "root", "sub"}},
		{"doc", "nothing", "user:wanda", nil},
	}
	for _, tt := range tests {
		t.Run(tt.typ+"#"+tt.perm+"@"+tt.subject, func(t *testing.T) {
			req := LookupResourcesRequest{ResourceType: tt.typ, Permission: tt.perm, Subject: mustSubject(t, tt.subject), Consistency: fresh}
			got, cur := lookupIDs(t, e, req)
			if !slices.Equal(got, tt.want) || cur != "" {
				t.Errorf("got %v (cursor %q), want %v", got, cur, tt.want)
			}
		})
	}
	// Every answer agrees with Check.
	for _, sub := range []string{"user:vera", "user:anyone", "user:lena", "user:oscar", "group:eng#member"} {
		s := mustSubject(t, sub)
		got, _ := lookupIDs(t, e, LookupResourcesRequest{ResourceType: "doc", Permission: "read", Subject: s, Consistency: fresh})
		var want []string
		for i := 1; i <= 12; i++ {
			for _, id := range []string{fmt.Sprintf("d%d", i), "pub"} {
				if i > 1 && id == "pub" {
					continue
				}
				res, err := e.Check(context.Background(), CheckRequest{Resource: Object{"doc", id}, Permission: "read", Subject: s, Consistency: fresh})
				if err != nil {
					t.Fatal(err)
				}
				if res.Permissionship == Allowed {
					want = append(want, id)
				}
			}
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: LookupResources %v, Check %v", sub, got, want)
		}
	}
}

func TestLookupResourcesPages(t *testing.T) {
	var rels []string
	for i := 0; i < 10; i++ {
		rels = append(rels, fmt.Sprintf("doc:%02d#viewer@user:ana", i))
	}
	st := newTestStore(t, docSchema, rels...)
	e := New(st, Options{})
	req := LookupResourcesRequest{ResourceType: "doc", Permission: "view", Subject: Subject{Type: "user", ID: "ana"}, Consistency: fresh, Limit: 3}
	var pages [][]string
	for {
		ids, cur := lookupIDs(t, e, req)
		pages = append(pages, ids)
		if cur == "" {
			break
		}
		if len(pages) == 2 {
			// A write between pages: the cursor keeps reading its revision.
			writeRels(t, st, tuples.Delete, "doc:08#viewer@user:ana", "doc:09#viewer@user:ana")
		}
		req.Cursor = cur
	}
	want := [][]string{{"00", "01", "02"}, {"03", "04", "05"}, {"06", "07", "08"}, {"09"}}
	if fmt.Sprint(pages) != fmt.Sprint(want) {
		t.Errorf("pages %v, want %v", pages, want)
	}
	// A new lookup sees the write.
	req.Cursor, req.Limit = "", 0
	if ids, _ := lookupIDs(t, e, req); len(ids) != 8 {
		t.Errorf("after the write: %v", ids)
	}
	// Stopping early returns a cursor that continues after the last result.
	var first []string
	cur, err := e.LookupResources(context.Background(), req, func(r LookupResult) bool {
		first = append(first, r.ResourceID)
		return len(first) < 2
	})
	if err != nil || cur == "" {
		t.Fatalf("stopped lookup: cursor %q, %v", cur, err)
	}
	req.Cursor = cur
	rest, _ := lookupIDs(t, e, req)
	if got := append(first, rest...); len(got) != 8 || got[2] != "02" {
		t.Errorf("stop and continue: %v", got)
	}
	for _, bad := range []string{"nonsense", "c1.AQI.%%%", "c1.!!.AA"} {
		req.Cursor = bad
		_, err := e.LookupResources(context.Background(), req, func(LookupResult) bool { return true })
		if !errors.Is(err, ErrBadCursor) {
			t.Errorf("cursor %q: error %v, want ErrBadCursor", bad, err)
		}
	}
}

// LookupResources walks up from the subject through the reverse index: with
// a thousand documents, finding the one the subject reaches reads a handful
// of keys, none of the other documents.
func TestLookupResourcesWalksUp(t *testing.T) {
	rels := []string{"group:eng#member@user:ana", "folder:f#viewer@group:eng#member", "doc:d7#parent@folder:f"}
	for i := 0; i < 1000; i++ {
		rels = append(rels, fmt.Sprintf("doc:x%d#reader@user:u%d", i, i), fmt.Sprintf("doc:x%d#parent@folder:other", i))
	}
	st := newTestStore(t, semanticsSchema, rels...)
	cs := newCountingStore(st)
	e := New(cs, Options{})
	got, _ := lookupIDs(t, e, LookupResourcesRequest{ResourceType: "doc", Permission: "read", Subject: Subject{Type: "user", ID: "ana"}, Consistency: fresh})
	if !slices.Equal(got, []string{"d7"}) {
		t.Fatalf("got %v", got)
	}
	if n := cs.total(""); n > 60 {
		t.Errorf("%d reads for one result among a thousand documents", n)
	}
	if n := cs.total("Subjects doc:x"); n > 0 {
		t.Errorf("read %d unrelated documents", n)
	}
}

func TestLookupErrors(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	ctx := context.Background()
	for _, req := range []LookupResourcesRequest{
		{ResourceType: "nodef", Permission: "read", Subject: Subject{Type: "user", ID: "a"}},
		{ResourceType: "doc", Permission: "nope", Subject: Subject{Type: "user", ID: "a"}},
		{ResourceType: "doc", Permission: "read", Subject: Subject{Type: "robot", ID: "a"}},
		{ResourceType: "doc", Permission: "read", Subject: Subject{Type: "group", ID: "a", Relation: "nope"}},
	} {
		if _, err := e.LookupResources(ctx, req, func(LookupResult) bool { return true }); !errors.Is(err, ErrUnknown) {
			t.Errorf("LookupResources(%+v): error %v, want ErrUnknown", req, err)
		}
	}
	for _, req := range []LookupSubjectsRequest{
		{Resource: Object{"nodef", "1"}, Permission: "read", SubjectType: "user"},
		{Resource: Object{"doc", "1"}, Permission: "nope", SubjectType: "user"},
		{Resource: Object{"doc", "1"}, Permission: "read", SubjectType: "robot"},
		{Resource: Object{"doc", "1"}, Permission: "read", SubjectType: "group", SubjectRelation: "nope"},
	} {
		if _, _, err := e.LookupSubjects(ctx, req); !errors.Is(err, ErrUnknown) {
			t.Errorf("LookupSubjects(%+v): error %v, want ErrUnknown", req, err)
		}
	}
}

func formatFound(found []FoundSubject) string {
	var parts []string
	for _, f := range found {
		s := f.ID
		if len(f.Excluded) > 0 {
			s += " - {" + strings.Join(f.Excluded, ", ") + "}"
		}
		if f.Permissionship != Allowed {
			s += " (" + f.Permissionship.String() + ")"
		}
		parts = append(parts, s)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// LookupSubjects reports a wildcard as "*" with the subjects it does not
// cover, as SpiceDB does ("[user:* - {user:bob}]" in zed's notation).
func TestLookupSubjects(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	tests := []struct {
		resource, perm, subjectType, subjectRel string
		want                                    string
	}{
		{"doc:d2", "read", "user", "", "[carl gina]"},
		{"doc:pub", "reader", "user", "", "[*]"},
		{"doc:pub", "not_blocked", "user", "", "[* - {bob}]"},
		{"doc:d8", "not_blocked", "user", "", "[]"},
		{"doc:d7", "read", "user", "", "[olga]"},
		{"doc:d5", "review", "user", "", "[ivan]"},
		{"doc:d6", "all_folders", "user", "", "[alice]"},
		{"doc:d9", "read", "user", "", "[cyd]"},
		{"doc:d12", "layered", "user", "", "[lena]"},
		{"doc:d2", "reader", "group", "member", "[core eng]"},
		{"doc:d3", "read", "folder", "", "[]"},
		{"doc:d4", "read", "user", "", "[*]"},
		{"doc:d1", "nothing", "user", "", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.resource+"#"+tt.perm+"@"+tt.subjectType, func(t *testing.T) {
			found, rev, err := e.LookupSubjects(context.Background(), LookupSubjectsRequest{
				Resource: mustObject(t, tt.resource), Permission: tt.perm, SubjectType: tt.subjectType, SubjectRelation: tt.subjectRel, Consistency: fresh})
			if err != nil {
				t.Fatal(err)
			}
			if got := formatFound(found); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if head, _ := st.HeadRevision(context.Background()); rev != head {
				t.Errorf("revision %d, want %d", rev, head)
			}
		})
	}
}

func TestLookupConditional(t *testing.T) {
	st := newTestStore(t, `
caveat weekday(day string) {
	day != "sunday"
}
definition user {}
definition doc {
	relation reader: user | user with weekday
}`, `doc:1#reader@user:ana[weekday]`, `doc:2#reader@user:ana`)
	e := New(st, Options{})
	var got []string
	_, err := e.LookupResources(context.Background(), LookupResourcesRequest{ResourceType: "doc", Permission: "reader",
		Subject: Subject{Type: "user", ID: "ana"}, Consistency: fresh}, func(r LookupResult) bool {
		got = append(got, r.ResourceID+":"+r.Permissionship.String())
		return true
	})
	if err != nil || fmt.Sprint(got) != "[1:conditional 2:allowed]" {
		t.Errorf("LookupResources = %v, %v", got, err)
	}
	found, _, err := e.LookupSubjects(context.Background(), LookupSubjectsRequest{Resource: Object{"doc", "1"}, Permission: "reader", SubjectType: "user", Consistency: fresh})
	if err != nil || formatFound(found) != "[ana (conditional)]" {
		t.Errorf("LookupSubjects = %s, %v", formatFound(found), err)
	}
}
