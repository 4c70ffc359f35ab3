package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/reach-authz/reach/internal/testdatastore"
	"github.com/reach-authz/reach/tuples"
)

// semanticsSchema exercises every rule of the schema language.
const semanticsSchema = `
definition user {}

definition group {
	relation member: user | group#member
	relation banned: user
	permission allowed = member - banned
}

definition folder {
	relation parent: folder
	relation viewer: user | user:* | group#member
	relation owner: user
	permission view = viewer + owner + parent->view
}

definition doc {
	relation parent: folder | folder#owner
	relation reader: user | user:* | group#member | group#allowed
	relation writer: user
	relation blocked: user | user:*
	relation approver: user | group#member
	relation linked: doc#read
	permission edit = writer
	permission read = reader + edit + parent->view + linked
	permission read_any = parent.any(view)
	permission review = reader & approver
	permission not_blocked = reader - blocked
	permission all_folders = parent.all(view)
	permission nothing = nil
	permission nil_union = nil + writer
	permission nil_minus = writer - nil
	permission layered = (reader + writer) & approver - blocked
}
`

var semanticsData = []string{
	// direct and computed
	"doc:d1#writer@user:wanda",
	"doc:d1#reader@user:rita",
	// subject sets, nested
	"group:eng#member@user:gina",
	"group:eng#member@group:core#member",
	"group:core#member@user:carl",
	"doc:d2#reader@group:eng#member",
	// wildcard
	"doc:pub#reader@user:*",
	"doc:pub#blocked@user:bob",
	// arrows
	"folder:root#viewer@user:vera",
	"folder:sub#parent@folder:root",
	"doc:d3#parent@folder:sub",
	"folder:open#viewer@user:*",
	"doc:d4#parent@folder:open",
	// intersection
	"doc:d5#reader@user:ivan",
	"doc:d5#approver@user:ivan",
	"doc:d5#reader@user:ida",
	"doc:d5#approver@group:eng#member",
	// .all
	"folder:fa#viewer@user:alice",
	"folder:fb#viewer@user:alice",
	"folder:fb#viewer@user:bert",
	"doc:d6#parent@folder:fa",
	"doc:d6#parent@folder:fb",
	// exclusion through a permission
	"group:ops#member@user:olga",
	"group:ops#member@user:oscar",
	"group:ops#banned@user:oscar",
	"doc:d7#reader@group:ops#allowed",
	// everyone blocked by a wildcard
	"doc:d8#reader@user:*",
	"doc:d8#blocked@user:*",
	// cycle in the data: two groups contain each other
	"group:ca#member@group:cb#member",
	"group:cb#member@group:ca#member",
	"group:cb#member@user:cyd",
	"doc:d9#reader@group:ca#member",
	// arrow over a subject-set tuple: the arrow ignores the subject relation
	"folder:own#owner@user:owen",
	"folder:own#viewer@user:vic",
	"doc:d10#parent@folder:own#owner",
	// a subject set granted through a relation that allows doc#read
	"doc:d11#linked@doc:d1#read",
	// layered
	"doc:d12#writer@user:lena",
	"doc:d12#approver@user:lena",
	"doc:d12#reader@user:lars",
	"doc:d12#approver@user:lars",
	"doc:d12#blocked@user:lars",
}

func TestCheckSemantics(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	tests := []struct {
		name  string
		check string
		want  Permissionship
	}{
		{"direct relation", "doc:d1#writer@user:wanda", Allowed},
		{"direct relation, other user", "doc:d1#writer@user:rita", Denied},
		{"computed userset", "doc:d1#edit@user:wanda", Allowed},
		{"union of relation and permission", "doc:d1#read@user:wanda", Allowed},
		{"union, direct branch", "doc:d1#read@user:rita", Allowed},
		{"union, no branch", "doc:d1#read@user:nobody", Denied},
		{"subject set", "doc:d2#reader@user:gina", Allowed},
		{"nested subject set", "doc:d2#reader@user:carl", Allowed},
		{"nested subject set, stranger", "doc:d2#reader@user:zed", Denied},
		{"subject set as the subject", "doc:d2#reader@group:eng#member", Allowed},
		{"nested subject set as the subject", "doc:d2#read@group:core#member", Allowed},
		{"subject set not granted", "doc:d1#reader@group:eng#member", Denied},
		{"a subject set is a member of itself", "group:eng#member@group:eng#member", Allowed},
		{"identity on a permission", "doc:d1#read@doc:d1#read", Allowed},
		{"wildcard matches any user", "doc:pub#reader@user:anyone", Allowed},
		{"wildcard through a permission", "doc:pub#read@user:anyone", Allowed},
		{"wildcard minus one user", "doc:pub#not_blocked@user:bob", Denied},
		{"wildcard minus one user, another user", "doc:pub#not_blocked@user:amy", Allowed},
		{"wildcard of another type", "doc:pub#reader@group:eng", Denied},
		{"wildcard excludes everyone", "doc:d8#not_blocked@user:x", Denied},
		{"arrow one level", "folder:sub#view@user:vera", Allowed},
		{"arrow two levels", "doc:d3#read@user:vera", Allowed},
		{"arrow .any", "doc:d3#read_any@user:vera", Allowed},
		{"arrow, stranger", "doc:d3#read@user:zed", Denied},
		{"arrow to a wildcard", "doc:d4#read@user:anyone", Allowed},
		{"intersection, both", "doc:d5#review@user:ivan", Allowed},
		{"intersection, one side", "doc:d5#review@user:ida", Denied},
		{"intersection, one side through a group", "doc:d5#review@user:gina", Denied},
		{".all, every folder", "doc:d6#all_folders@user:alice", Allowed},
		{".all, one folder of two", "doc:d6#all_folders@user:bert", Denied},
		{".all, no tupleset relationship", "doc:d1#all_folders@user:wanda", Denied},
		{"exclusion inside a subject set, allowed", "doc:d7#read@user:olga", Allowed},
		{"exclusion inside a subject set, banned", "doc:d7#read@user:oscar", Denied},
		{"nil", "doc:d1#nothing@user:wanda", Denied},
		{"nil in a union", "doc:d1#nil_union@user:wanda", Allowed},
		{"minus nil", "doc:d1#nil_minus@user:wanda", Allowed},
		{"cycle, member found", "doc:d9#read@user:cyd", Allowed},
		{"cycle, member found from the other group", "group:ca#member@user:cyd", Allowed},
		{"cycle, negative answered", "group:ca#member@user:nobody", Denied},
		{"cycle, negative through a doc", "doc:d9#read@user:nobody", Denied},
		// SpiceDB's arrows follow the object of every subject of the
		// tupleset relation, ignoring its subject relation
		// (internal/graph/check.go: checkTupleToUserset dispatches on
		// rel.Subject's object type and id; the schema linter warns
		// arrow-walks-subject-relation): folder:own#owner leads to
		// folder:own#view.
		{"arrow over a subject-set tuple", "doc:d10#read@user:vic", Allowed},
		{"arrow over a subject-set tuple, owner", "doc:d10#read@user:owen", Allowed},
		{"subject set of a permission", "doc:d11#read@user:wanda", Allowed},
		{"subject set of a permission, stranger", "doc:d11#read@user:zed", Denied},
		{"layered, writer and approver", "doc:d12#layered@user:lena", Allowed},
		{"layered, blocked", "doc:d12#layered@user:lars", Denied},
		{"unknown object is denied", "doc:nope#read@user:wanda", Denied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, cache := range []int{0, -1} {
				e := e
				if cache < 0 {
					e = New(st, Options{CacheSize: -1})
				}
				got, err := e.Check(context.Background(), checkReq(t, tt.check))
				if err != nil {
					t.Fatalf("Check(%s): %v", tt.check, err)
				}
				if got.Permissionship != tt.want {
					t.Errorf("Check(%s) cache=%v = %s, want %s", tt.check, cache >= 0, got.Permissionship, tt.want)
				}
			}
		})
	}
}

// SpiceDB matches a wildcard relationship whatever the subject's relation:
// checkDirect (internal/graph/check.go) counts an allowed `T:*` for any
// subject of namespace T and queries subject id "*" with the ellipsis
// relation, without comparing the requested subject's relation. So
// doc:pub#reader@user:* also holds for a subject set of type user.
func TestCheckWildcardAndSubjectSets(t *testing.T) {
	st := newTestStore(t, `
definition user {
	relation friend: user
}
definition doc {
	relation reader: user:* | user#friend
}`, "doc:pub#reader@user:*")
	e := New(st, Options{})
	for q, want := range map[string]Permissionship{
		"doc:pub#reader@user:ana":        Allowed,
		"doc:pub#reader@user:ana#friend": Allowed,
	} {
		got, err := e.Check(context.Background(), checkReq(t, q))
		if err != nil {
			t.Fatal(err)
		}
		if got.Permissionship != want {
			t.Errorf("Check(%s) = %s, want %s", q, got.Permissionship, want)
		}
	}
}

func TestCheckCaveatIsConditional(t *testing.T) {
	st := newTestStore(t, `
caveat weekday(day string) {
	day != "sunday"
}
definition user {}
definition doc {
	relation reader: user | user with weekday
	relation blocked: user | user with weekday
	permission read = reader
	permission read_unblocked = reader - blocked
	permission both = reader & reader
}`,
		`doc:1#reader@user:ana[weekday]`,
		`doc:1#reader@user:bob`,
		`doc:1#blocked@user:bob[weekday]`,
	)
	e := New(st, Options{})
	tests := []struct {
		check string
		want  Permissionship
	}{
		{"doc:1#read@user:ana", Conditional},
		{"doc:1#read@user:bob", Allowed},
		{"doc:1#read_unblocked@user:ana", Conditional},
		{"doc:1#read_unblocked@user:bob", Conditional},
		{"doc:1#both@user:ana", Conditional},
		{"doc:1#read@user:cy", Denied},
	}
	for _, tt := range tests {
		got, err := e.Check(context.Background(), checkReq(t, tt.check))
		if err != nil {
			t.Fatal(err)
		}
		if got.Permissionship != tt.want {
			t.Errorf("Check(%s) = %s, want %s", tt.check, got.Permissionship, tt.want)
		}
	}
}

func TestCheckErrors(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	tests := []struct {
		name  string
		req   CheckRequest
		want  error
		match string
	}{
		{"unknown resource type", checkReq(t, "nodef:1#read@user:a"), ErrUnknown, "nodef"},
		{"unknown permission", checkReq(t, "doc:1#frobnicate@user:a"), ErrUnknown, "frobnicate"},
		{"unknown subject type", checkReq(t, "doc:1#read@robot:a"), ErrUnknown, "robot"},
		{"unknown subject relation", checkReq(t, "doc:1#read@group:a#nope"), ErrUnknown, "nope"},
		{"wildcard subject", checkReq(t, "doc:1#read@user:*"), ErrWildcardSubject, "user:*"},
		{"empty request", CheckRequest{Consistency: fresh}, nil, "required"},
		{"missing token", CheckRequest{Resource: Object{"doc", "1"}, Permission: "read", Subject: Subject{Type: "user", ID: "a"},
			Consistency: Consistency{Mode: AtExactSnapshot}}, nil, "needs a token"},
		{"bad token", CheckRequest{Resource: Object{"doc", "1"}, Permission: "read", Subject: Subject{Type: "user", ID: "a"},
			Consistency: Consistency{Mode: AtLeastAsFresh, Token: "garbage!"}}, tuples.ErrBadToken, "garbage"},
		{"unknown consistency", CheckRequest{Resource: Object{"doc", "1"}, Permission: "read", Subject: Subject{Type: "user", ID: "a"},
			Consistency: Consistency{Mode: 9}}, nil, "unknown consistency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Check(context.Background(), tt.req)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.match) {
				t.Errorf("error %q does not mention %q", err, tt.match)
			}
			if _, err := e.CheckBulk(context.Background(), []CheckRequest{checkReq(t, "doc:d1#read@user:wanda"), tt.req}); err == nil {
				t.Error("CheckBulk: no error")
			}
		})
	}
}

func TestCheckNoSchema(t *testing.T) {
	st := testdatastore.Open(t, testdatastore.Options{})
	_, err := New(st, Options{}).Check(context.Background(), checkReq(t, "doc:1#read@user:a"))
	if !errors.Is(err, ErrNoSchema) {
		t.Fatalf("error %v, want ErrNoSchema", err)
	}
}

// groupChain returns n nested groups g0 ⊃ g1 ⊃ ... ⊃ g(n-1), with user:end
// in the last one.
func groupChain(n int) []string {
	var rels []string
	for i := 0; i+1 < n; i++ {
		rels = append(rels, fmt.Sprintf("group:g%d#member@group:g%d#member", i, i+1))
	}
	return append(rels, fmt.Sprintf("group:g%d#member@user:end", n-1))
}

const groupSchema = `
definition user {}
definition group {
	relation member: user | group#member
}
`

func TestCheckMaxDepth(t *testing.T) {
	st := newTestStore(t, groupSchema, groupChain(80)...)
	tests := []struct {
		maxDepth int
		subject  string
		want     Permissionship
		wantErr  bool
	}{
		{0, "user:end", 0, true}, // default 50
		{0, "user:nobody", 0, true},
		{50, "user:end", 0, true},
		{79, "user:end", 0, true},
		{80, "user:end", Allowed, false},
		{200, "user:end", Allowed, false},
		{200, "user:nobody", Denied, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%s", tt.maxDepth, tt.subject), func(t *testing.T) {
			for _, cache := range []int{0, -1} {
				e := New(st, Options{MaxDepth: tt.maxDepth, CacheSize: cache})
				got, err := e.Check(context.Background(), checkReq(t, "group:g0#member@"+tt.subject))
				if tt.wantErr {
					if !errors.Is(err, ErrMaxDepth) {
						t.Fatalf("error %v, want ErrMaxDepth", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.Permissionship != tt.want {
					t.Errorf("got %s, want %s", got.Permissionship, tt.want)
				}
			}
		})
	}
}

// A long cycle is cut, not walked until the depth limit, and the answer
// does not depend on where in the cycle the check starts.
func TestCheckCycles(t *testing.T) {
	var rels []string
	const n = 30
	for i := 0; i < n; i++ {
		rels = append(rels, fmt.Sprintf("group:g%d#member@group:g%d#member", i, (i+1)%n))
	}
	rels = append(rels, "group:g17#member@user:in")
	st := newTestStore(t, groupSchema, rels...)
	e := New(st, Options{})
	for i := 0; i < n; i++ {
		for sub, want := range map[string]Permissionship{"user:in": Allowed, "user:out": Denied} {
			got, err := e.Check(context.Background(), checkReq(t, fmt.Sprintf("group:g%d#member@%s", i, sub)))
			if err != nil {
				t.Fatal(err)
			}
			if got.Permissionship != want {
				t.Errorf("g%d@%s = %s, want %s", i, sub, got.Permissionship, want)
			}
		}
	}
}

func TestCheckContextCanceled(t *testing.T) {
	st := newTestStore(t, groupSchema, groupChain(40)...)
	e := New(st, Options{CacheSize: -1, MaxDepth: 1000})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var rels []string
	for i := 0; i < 3000; i++ {
		rels = append(rels, fmt.Sprintf("group:wide#member@group:w%d#member", i))
	}
	writeRels(t, st, tuples.Touch, rels...)
	_, err := e.Check(ctx, checkReq(t, "group:wide#member@user:nobody"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// A sub-problem answered while a check it depends on is still under way
// (cut off as a cycle) is provisional: it must not be remembered, in the
// memo or the cache, once that check turns out allowed. Here group a holds
// b, c and d (in that key order); b holds a; c holds b; d holds user:x. The
// check of a meets b (a is cut: b looks denied), then c (through b: looks
// denied), then d: allowed. So b and c are allowed too.
func TestCheckCycleProvisionalAnswers(t *testing.T) {
	st := newTestStore(t, groupSchema,
		"group:a#member@group:b#member",
		"group:a#member@group:c#member",
		"group:a#member@group:d#member",
		"group:b#member@group:a#member",
		"group:c#member@group:b#member",
		"group:d#member@user:x",
	)
	order := []string{"a", "b", "c", "d"}
	t.Run("cache", func(t *testing.T) {
		e := New(st, Options{})
		for _, g := range order {
			got, err := e.Check(context.Background(), checkReq(t, "group:"+g+"#member@user:x"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Permissionship != Allowed {
				t.Errorf("group:%s#member@user:x = %s, want allowed", g, got.Permissionship)
			}
		}
	})
	t.Run("bulk", func(t *testing.T) {
		var reqs []CheckRequest
		for _, g := range order {
			reqs = append(reqs, checkReq(t, "group:"+g+"#member@user:x"), checkReq(t, "group:"+g+"#member@user:y"))
		}
		res, err := New(st, Options{CacheSize: -1}).CheckBulk(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			want := Allowed
			if i%2 == 1 {
				want = Denied
			}
			if r.Permissionship != want {
				t.Errorf("%s#%s@%s = %s, want %s", reqs[i].Resource, reqs[i].Permission, reqs[i].Subject, r.Permissionship, want)
			}
		}
	})
}

// Data where a permission depends on itself through an exclusion has no
// consistent answer: the check says so with ErrNegativeCycle (SpiceDB walks
// such a cycle until its maximum depth). Where the subtracted side is never
// needed, the check still answers.
func TestCheckNegativeCycle(t *testing.T) {
	st := newTestStore(t, `
definition user {}
definition folder {
	relation parent: folder
	relation viewer: user
	permission view = viewer - parent->view
}`,
		"folder:f#parent@folder:f",
		"folder:f#viewer@user:x",
		"folder:g#viewer@user:x",
	)
	for _, cache := range []int{0, -1} {
		e := New(st, Options{CacheSize: cache})
		_, err := e.Check(context.Background(), checkReq(t, "folder:f#view@user:x"))
		if !errors.Is(err, ErrNegativeCycle) {
			t.Errorf("cache %d: error %v, want ErrNegativeCycle", cache, err)
		}
		for q, want := range map[string]Permissionship{"folder:f#view@user:y": Denied, "folder:g#view@user:x": Allowed} {
			got, err := e.Check(context.Background(), checkReq(t, q))
			if err != nil || got.Permissionship != want {
				t.Errorf("cache %d: Check(%s) = %s, %v; want %s", cache, q, got.Permissionship, err, want)
			}
		}
	}
}
