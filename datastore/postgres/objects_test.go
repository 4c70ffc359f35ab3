package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reach-authz/reach/internal/pgtest"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

const objectsSchema = `
use expiration

caveat only_weekdays(tz string) {
  tz == "UTC"
}

definition user {}

definition group {
  relation member: user | group#member
  relation admin: user
}

definition folder {
  relation viewer: user
  relation parent: folder
  permission view = viewer + parent->view
}

definition document {
  relation owner: user
  relation viewer: user | user:* | group | group#member | group#admin | user with only_weekdays | user with expiration
  relation parent: folder
  permission view = viewer + owner + parent->view
  permission edit = owner
}
`

// objectsUniverse is what the test writes and reads: its objects, their
// relations and the subjects each allows.
var objectsUniverse = []struct {
	typ  string
	ids  []string
	rels map[string][]string // relation -> subjects ("user", "user:*", "group#member", "folder")
}{
	{"document", []string{"d0", "d1", "d2", "d3"}, map[string][]string{
		"owner": {"user"}, "viewer": {"user", "user:*", "group", "group#member", "group#admin"}, "parent": {"folder"}}},
	{"folder", []string{"f0", "f1", "f2"}, map[string][]string{"viewer": {"user"}, "parent": {"folder"}}},
	{"group", []string{"g0", "g1", "g2"}, map[string][]string{"member": {"user", "group#member"}, "admin": {"user"}}},
}

// objectsData writes random relationships over many revisions (touches
// with caveats and expirations, deletes, deletes by filter) and returns
// the revisions and the time the expirations are spread around.
func objectsData(t *testing.T, s *Store, r *rand.Rand) ([]tuples.Revision, time.Time) {
	ctx := context.Background()
	if _, _, err := s.WriteSchema(ctx, "objects.zed", []byte(objectsSchema)); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	subject := func(kind string) (string, string, string) {
		switch kind {
		case "user:*":
			return "user", "*", ""
		case "group":
			return "group", fmt.Sprint("g", r.IntN(3)), ""
		case "group#member":
			return "group", fmt.Sprint("g", r.IntN(3)), "member"
		case "group#admin":
			return "group", fmt.Sprint("g", r.IntN(3)), "admin"
		case "folder":
			return "folder", fmt.Sprint("f", r.IntN(3)), ""
		}
		return "user", fmt.Sprint("u", r.IntN(40)), ""
	}
	random := func() tuples.Relationship {
		o := objectsUniverse[r.IntN(len(objectsUniverse))]
		rels := make([]string, 0, len(o.rels))
		for rel := range o.rels {
			rels = append(rels, rel)
		}
		slices.Sort(rels)
		rel := rels[r.IntN(len(rels))]
		kinds := o.rels[rel]
		kind := kinds[r.IntN(len(kinds))]
		if r.IntN(3) == 0 {
			// Often a user viewer of a document, who may have a
			// caveat or an expiration.
			o, rel, kind = objectsUniverse[0], "viewer", "user"
		}
		st, sid, srel := subject(kind)
		rs := tuples.Relationship{ResourceType: o.typ, ResourceID: o.ids[r.IntN(len(o.ids))], Relation: rel, SubjectType: st, SubjectID: sid, SubjectRelation: srel}
		if o.typ == "document" && rel == "viewer" && st == "user" && sid != "*" {
			switch r.IntN(5) {
			case 0:
				rs.Caveat = &tuples.Caveat{Name: "only_weekdays"}
			case 1:
				rs.Caveat = &tuples.Caveat{Name: "only_weekdays", Context: map[string]any{"tz": []string{"UTC", "CET"}[r.IntN(2)]}}
			case 2, 3:
				// Expirations around base (the snapshots below are read
				// at times around it), to the nanosecond.
				e := base.Add(time.Duration(r.IntN(60)-30)*time.Millisecond + time.Duration(r.IntN(1000)))
				rs.Expiration = &e
			}
		}
		return rs
	}
	write := func(us []tuples.Update) tuples.Revision {
		rev, err := s.Write(ctx, us)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	// d0 has more viewers than a page of a scan, g0 more members than a
	// read along keeps.
	var us []tuples.Update
	for i := range 300 {
		us = append(us, tuples.Update{Op: tuples.Touch, Relationship: tuples.Relationship{
			ResourceType: "document", ResourceID: "d0", Relation: "viewer", SubjectType: "user", SubjectID: fmt.Sprintf("v%03d", i)}})
	}
	for i := range 80 {
		us = append(us, tuples.Update{Op: tuples.Touch, Relationship: tuples.Relationship{
			ResourceType: "group", ResourceID: "g0", Relation: "member", SubjectType: "user", SubjectID: fmt.Sprintf("m%02d", i)}})
	}
	revs := []tuples.Revision{write(us)}
	var live []tuples.Relationship
	for range 40 {
		us = us[:0]
		seen := map[string]bool{}
		for range 1 + r.IntN(12) {
			var u tuples.Update
			if len(live) > 0 && r.IntN(3) == 0 {
				i := r.IntN(len(live))
				u = tuples.Update{Op: tuples.Delete, Relationship: live[i]}
				live = append(live[:i], live[i+1:]...)
			} else {
				u = tuples.Update{Op: tuples.Touch, Relationship: random()}
				live = append(live, u.Relationship)
			}
			if k := u.Relationship.WithoutTraits().String(); !seen[k] {
				seen[k] = true
				us = append(us, u)
			}
		}
		revs = append(revs, write(us))
		if r.IntN(8) == 0 {
			f := tuples.Filter{ResourceType: "document", ResourceID: fmt.Sprint("d", r.IntN(4)), Relation: "viewer"}
			res, err := s.DeleteWhere(ctx, f, 3)
			if err != nil {
				t.Fatal(err)
			}
			revs = append(revs, res.Revision)
		}
	}
	return revs, base
}

// readOp is one read through a snapshot, with the read it makes from its
// callback (Subjects) before the row at index nestAt.
type readOp struct {
	get                  bool
	rt, rid, rel         string
	st, sid, srel        string
	stopAfter            int // Subjects: 0 reads every row
	nestAt               int
	nested               *readOp
	stopAfterNestedReads bool
}

func randomOp(r *rand.Rand, depth int) *readOp {
	o := objectsUniverse[r.IntN(len(objectsUniverse))]
	rels := []string{"owner", "viewer", "parent", "member", "admin", "nothing"}
	op := &readOp{rt: o.typ, rid: o.ids[r.IntN(len(o.ids))], rel: rels[r.IntN(len(rels))]}
	if r.IntN(6) == 0 {
		op.rid = "nobody"
	}
	if r.IntN(4) == 0 {
		// A user viewer of a document, who may have an expiration.
		op.get, op.rt, op.rid, op.rel = true, "document", fmt.Sprint("d", r.IntN(4)), "viewer"
		op.st, op.sid = "user", fmt.Sprint("u", r.IntN(40))
		return op
	}
	if r.IntN(2) == 0 {
		op.get = true
		switch r.IntN(5) {
		case 0:
			op.st, op.sid = "user", "*"
		case 1:
			op.st, op.sid, op.srel = "group", fmt.Sprint("g", r.IntN(3)), []string{"", "member", "admin"}[r.IntN(3)]
		case 2:
			op.st, op.sid = "folder", fmt.Sprint("f", r.IntN(3))
		case 3:
			op.st, op.sid = "user", []string{"v000", "v150", "v299", "m00", "m79", "zz"}[r.IntN(6)]
		default:
			op.st, op.sid = "user", fmt.Sprint("u", r.IntN(40))
		}
		return op
	}
	switch r.IntN(6) {
	case 0:
		op.st = "user"
	case 1:
		op.st, op.srel = "group", []string{"", "member", "admin"}[r.IntN(3)]
	case 2:
		op.st = "folder"
	case 3:
		op.st = "zzz" // (past every subject type)
	}
	if r.IntN(3) == 0 {
		op.stopAfter = 1 + r.IntN(5)
	}
	if depth < 2 && r.IntN(3) == 0 {
		op.nestAt, op.nested = r.IntN(4), randomOp(r, depth+1)
	}
	return op
}

// run makes op's reads through sn and writes what they return to out.
func (op *readOp) run(sn tuples.Snapshot, out *strings.Builder) {
	if op.get {
		rs, ok, err := sn.Get(op.rt, op.rid, op.rel, op.st, op.sid, op.srel)
		fmt.Fprintf(out, "get %s:%s#%s@%s:%s#%s: %v %v %s\n", op.rt, op.rid, op.rel, op.st, op.sid, op.srel, ok, err, describe(rs))
		return
	}
	fmt.Fprintf(out, "subjects %s:%s#%s [%s#%s]:\n", op.rt, op.rid, op.rel, op.st, op.srel)
	n := 0
	err := sn.Subjects(op.rt, op.rid, op.rel, op.st, op.srel, func(rs tuples.Relationship) bool {
		if op.nested != nil && n == op.nestAt {
			op.nested.run(sn, out)
		}
		n++
		fmt.Fprintf(out, "  %s\n", describe(rs))
		return op.stopAfter == 0 || n < op.stopAfter
	})
	fmt.Fprintf(out, "  %d, %v\n", n, err)
}

// describe writes every field of r.
func describe(r tuples.Relationship) string {
	cav, exp := "-", "-"
	if r.Caveat != nil {
		cav = fmt.Sprintf("%s %#v", r.Caveat.Name, r.Caveat.Context)
	}
	if r.Expiration != nil {
		exp = r.Expiration.Format(time.RFC3339Nano) + " " + r.Expiration.Location().String()
	}
	return fmt.Sprintf("%q %q %q %q %q %q caveat %s expires %s", r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation, cav, exp)
}

// TestObjectReadsExact holds the reads of a snapshot that reads an
// object's relations together (objects.go) to those of one that reads
// them one query at a time: the same rows, in the same order, with the
// same caveats and expirations, at every revision of a history of
// touches, deletes and expirations, at times before, among and after the
// expirations, whatever order the reads come in, nested in each other's
// callbacks, with relations longer than what is read along and than a
// page.
func TestObjectReadsExact(t *testing.T) {
	uri := pgtest.NewDatabase(t)
	ctx := context.Background()
	if _, _, err := Migrate(ctx, uri); err != nil {
		t.Fatal(err)
	}
	openStore := func(prefetch int) *Store {
		s, err := Open(ctx, uri, Options{GCInterval: -1, PrefetchRows: prefetch})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	one, small, dflt := openStore(-1), openStore(2), openStore(0)
	r := rand.New(rand.NewPCG(1, 2))
	revs, base := objectsData(t, one, r)
	nows := []time.Time{base.Add(-time.Minute), base.Add(-10 * time.Millisecond), base, base.Add(7*time.Millisecond + 500), base.Add(time.Minute)}

	snap := func(s *Store, rev tuples.Revision, now time.Time) *snapshot {
		sn, err := s.Snapshot(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		p := sn.(*snapshot)
		p.now = now
		return p
	}
	script := func(seed uint64) []*readOp {
		r := rand.New(rand.NewPCG(seed, 3))
		ops := make([]*readOp, 60)
		for i := range ops {
			ops[i] = randomOp(r, 0)
		}
		return ops
	}
	runAll := func(sn tuples.Snapshot, ops []*readOp) string {
		var out strings.Builder
		for _, op := range ops {
			op.run(sn, &out)
		}
		return out.String()
	}
	kept, expiring, expired := 0, 0, 0
	for i, rev := range revs {
		// Do the expirations matter at this revision?
		if all := (&readOp{rt: "document", rid: "d1", rel: "viewer"}); true {
			var before, after strings.Builder
			for _, id := range []string{"d1", "d2", "d3"} {
				all.rid = id
				all.run(snap(one, rev, nows[0]), &before)
				all.run(snap(one, rev, nows[len(nows)-1]), &after)
			}
			if before.String() != after.String() {
				expired++
			}
		}
		for j, now := range nows {
			ops := script(uint64(i*len(nows) + j))
			want := runAll(snap(one, rev, now), ops)
			expiring += strings.Count(want, "expires 2")
			for _, s := range []*Store{small, dflt} {
				sn := snap(s, rev, now)
				if sn.plan == nil {
					t.Fatal("the snapshot reads relations one at a time")
				}
				if got := runAll(sn, ops); got != want {
					t.Fatalf("revision %d, at %v, prefetch %d: the reads differ:\n%s", rev, now, s.opts.PrefetchRows, diffLines(want, got))
				}
				kept += sn.objs.rows
			}
		}
	}
	if kept == 0 {
		t.Fatal("no snapshot kept any row: the test tests nothing")
	}
	if expiring == 0 || expired == 0 {
		t.Fatalf("%d reads returned a relationship with an expiration, %d revisions lost some to time: the test tests too little", expiring, expired)
	}

	// Concurrent reads through one snapshot (run with -race).
	rev := revs[len(revs)-1]
	ops := script(99)
	want := runAll(snap(one, rev, base), ops)
	sn := snap(small, rev, base)
	var wg sync.WaitGroup
	got := make([]string, 4)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[g] = runAll(sn, ops)
		}()
	}
	wg.Wait()
	for _, g := range got {
		if g != want {
			t.Fatalf("concurrent reads differ:\n%s", diffLines(want, g))
		}
	}
}

// diffLines shows the first lines where two transcripts part.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			lo := max(0, i-3)
			return fmt.Sprintf("line %d\nwant: %s\n got: %s\ncontext (want): %s", i, wl, gl, strings.Join(w[lo:min(len(w), i+1)], "\n"))
		}
	}
	return "(equal)"
}

// TestReadPlan checks the relations read together under a schema: those
// a permission reads on its own object, through computed usersets and
// arrows.
func TestReadPlan(t *testing.T) {
	prog := mustCompile(t, objectsSchema+`
definition doc2 {
  relation aaa: user
  relation bbb: user | user:*
  relation ccc: folder
  relation lone: user
  relation ddd: user
  permission ppp = aaa + qqq
  permission qqq = bbb & ccc->view
  permission rrr = ddd
}`)
	plan := newReadPlan(prog)
	for _, tc := range []struct {
		typ, rel string
		others   []string
		again    bool
	}{
		{"document", "owner", []string{"parent", "viewer"}, false},
		{"document", "viewer", []string{"owner", "parent"}, true},
		{"folder", "parent", []string{"viewer"}, false},
		{"group", "member", nil, true},
		{"doc2", "aaa", []string{"bbb", "ccc"}, false},
		{"doc2", "bbb", []string{"aaa", "ccc"}, true},
		{"doc2", "lone", nil, false},
		{"doc2", "ddd", nil, false},
	} {
		g := plan[typeRel{tc.typ, tc.rel}]
		if g == nil || !reflect.DeepEqual(g.others, tc.others) || g.again != tc.again {
			t.Errorf("%s#%s: %+v, want others %v, again %v", tc.typ, tc.rel, g, tc.others, tc.again)
		}
	}
	if plan[typeRel{"document", "view"}] != nil {
		t.Error("a permission has a read group")
	}
}

func mustCompile(t *testing.T, src string) *schema.Program {
	t.Helper()
	prog, diags, err := schema.Compile("test.zed", []byte(src))
	if err != nil || len(diags) > 0 {
		t.Fatalf("compile: %v %v", err, diags)
	}
	return prog
}
