package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The merge of missing-context names: a sorted union, whatever the order of
// its operands and however they overlap.
func TestMergeMissing(t *testing.T) {
	tests := []struct{ a, b, want []string }{
		{nil, nil, nil},
		{[]string{"a"}, nil, []string{"a"}},
		{nil, []string{"b"}, []string{"b"}},
		{[]string{"a"}, []string{"b"}, []string{"a", "b"}},
		{[]string{"a", "c"}, []string{"b"}, []string{"a", "b", "c"}},
		{[]string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}},
		{[]string{"a", "d"}, []string{"b", "c", "d", "e"}, []string{"a", "b", "c", "d", "e"}},
		{[]string{"amount"}, []string{"amount", "day"}, []string{"amount", "day"}},
	}
	for _, tt := range tests {
		for _, swap := range []bool{false, true} {
			a, b := tt.a, tt.b
			if swap {
				a, b = b, a
			}
			ac, bc := slices.Clone(a), slices.Clone(b)
			if got := mergeMissing(a, b); !slices.Equal(got, tt.want) {
				t.Errorf("mergeMissing(%v, %v) = %v, want %v", a, b, got, tt.want)
			}
			if !slices.Equal(a, ac) || !slices.Equal(b, bc) {
				t.Errorf("mergeMissing(%v, %v) changed its operands", ac, bc)
			}
		}
	}
}

// Caveats named after the one parameter each lacks: with no context, a
// relationship with caveat cav_x is Conditional, missing exactly "x".
const missingSchema = `
caveat cav_a(a int) { a > 0 }
caveat cav_b(b int) { b > 0 }
caveat cav_c(c int) { c > 0 }
caveat cav_d(d int) { d > 0 }
definition user {}
definition group {
	relation member: user | user with cav_a | user with cav_b | group#member | group#member with cav_c | group#member with cav_d
}
definition doc {
	relation rel_x: user | user with cav_a | user with cav_b | group#member | group#member with cav_c
	relation rel_y: user | user with cav_b | user with cav_d
	relation parent: doc | doc with cav_c | doc with cav_d
	permission union_xy = rel_x + rel_y
	permission union_yx = rel_y + rel_x
	permission inter_xy = rel_x & rel_y
	permission inter_yx = rel_y & rel_x
	permission excl = rel_x - rel_y
	permission arrow = parent->rel_x
	permission arrow_all = parent.all(rel_x)
	permission nested = parent->union_xy - rel_y
}`

var missingRels = []string{
	// union, intersection, exclusion: x under cav_a, y under cav_b.
	"doc:both#rel_x@user:u[cav_a]", "doc:both#rel_y@user:u[cav_b]",
	// exclusion with a conditional base and nothing subtracted, and with
	// an unconditional base and a conditional subtraction.
	"doc:baseonly#rel_x@user:u[cav_a]",
	"doc:subonly#rel_x@user:u", "doc:subonly#rel_y@user:u[cav_b]",
	// x twice on one side: directly under cav_a and through a group under cav_b.
	"doc:twice#rel_x@user:u[cav_a]", "doc:twice#rel_x@group:g#member", "group:g#member@user:u[cav_b]",
	// arrow: a parent under cav_c whose x is under cav_a; another parent under
	// cav_d whose x is under cav_b.
	"doc:child#parent@doc:p1[cav_c]", "doc:p1#rel_x@user:u[cav_a]",
	"doc:child#parent@doc:p2[cav_d]", "doc:p2#rel_x@user:u[cav_b]",
	// nested: through a parent, a union, then an exclusion of its own.
	"doc:nest#parent@doc:both[cav_c]", "doc:nest#rel_y@user:u[cav_d]",
	// a caveated subject set whose member has another caveat, down and
	// up: more than walkUpFanOut subject sets make the check walk up.
	"doc:sset#rel_x@group:s1#member[cav_c]", "group:s1#member@user:u[cav_a]",
	"doc:wide#rel_x@group:w1#member", "doc:wide#rel_x@group:w2#member", "doc:wide#rel_x@group:w3#member[cav_c]",
	"doc:wide#rel_x@group:w4#member", "doc:wide#rel_x@group:w5#member", "doc:wide#rel_x@group:w6#member",
	"group:w3#member@user:u[cav_a]",
	// up two conditional chains, each with its own names: both count.
	"group:w1#member@group:n1#member[cav_d]", "group:n1#member@user:u[cav_b]",
	// two conditional chains that meet at group h before the document.
	"doc:conv#rel_x@group:h#member", "doc:conv#rel_x@group:e1#member", "doc:conv#rel_x@group:e2#member",
	"doc:conv#rel_x@group:e3#member", "doc:conv#rel_x@group:e4#member",
	"group:h#member@group:c1#member[cav_c]", "group:h#member@group:c2#member[cav_d]",
	"group:c1#member@user:u[cav_a]", "group:c2#member@user:u[cav_b]",
	// nested groups, each level under another caveat.
	"doc:deep#rel_x@group:d1#member[cav_c]", "group:d1#member@group:d2#member[cav_d]", "group:d2#member@user:u[cav_b]",
}

// Each rule keeps the names of every Conditional operand that makes the
// answer Conditional: union (either order), intersection (either order),
// exclusion (a conditional base, a conditional subtraction, both), arrows
// (.any and .all: the tupleset relationship's caveat and the target's),
// subject sets whose members carry caveats of their own, walking down and
// walking up, and rules nested in one another. Asked through Check (cache
// on and off, alone and in one CheckBulk), LookupResources and
// LookupSubjects: the same names everywhere.
func TestMissingContextNames(t *testing.T) {
	tests := []struct{ q, missing string }{
		{"doc:both#union_xy@user:u", "a,b"},
		{"doc:both#union_yx@user:u", "a,b"},
		{"doc:both#inter_xy@user:u", "a,b"},
		{"doc:both#inter_yx@user:u", "a,b"},
		{"doc:both#excl@user:u", "a,b"},
		{"doc:baseonly#excl@user:u", "a"},
		{"doc:subonly#excl@user:u", "b"},
		{"doc:twice#rel_x@user:u", "a,b"},
		{"doc:twice#union_yx@user:u", "a,b"},
		{"doc:child#arrow@user:u", "a,b,c,d"},
		{"doc:child#arrow_all@user:u", "a,b,c,d"},
		{"doc:nest#nested@user:u", "a,b,c,d"},
		{"doc:sset#rel_x@user:u", "a,c"},
		{"doc:wide#rel_x@user:u", "a,b,c,d"},
		{"doc:conv#rel_x@user:u", "a,b,c,d"},
		{"doc:deep#rel_x@user:u", "b,c,d"},
	}
	st := newTestStore(t, missingSchema, missingRels...)
	ctx := context.Background()
	var bulk []CheckRequest
	for _, cache := range []int{0, -1} {
		e := New(st, Options{CacheSize: cache})
		for round := range 2 {
			for _, tt := range tests {
				req := checkReq(t, tt.q)
				res, err := e.Check(ctx, req)
				if err != nil {
					t.Fatalf("%s: %v", tt.q, err)
				}
				if res.Permissionship != Conditional || strings.Join(res.Missing, ",") != tt.missing {
					t.Errorf("cache %d round %d: Check(%s) = %v missing %v, want conditional missing %s", cache, round, tt.q, res.Permissionship, res.Missing, tt.missing)
				}
				if round == 0 && cache == 0 {
					bulk = append(bulk, req)
				}
				// The explained check always walks down.
				req.Explain = true
				res, err = e.Check(ctx, req)
				if err != nil || strings.Join(res.Missing, ",") != tt.missing {
					t.Errorf("explained Check(%s) = %v missing %v, %v; want missing %s", tt.q, res.Permissionship, res.Missing, err, tt.missing)
				}
			}
		}
	}
	res, err := New(st, Options{CacheSize: -1}).CheckBulk(ctx, bulk)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if got := strings.Join(res[i].Missing, ","); got != tt.missing {
			t.Errorf("CheckBulk(%s) missing %s, want %s", tt.q, got, tt.missing)
		}
	}
	e := New(st, Options{CacheSize: -1})
	for _, tt := range tests {
		req := checkReq(t, tt.q)
		var lr []string
		_, err := e.LookupResources(ctx, LookupResourcesRequest{ResourceType: "doc", Permission: req.Permission, Subject: req.Subject, Consistency: fresh},
			func(r LookupResult) bool {
				if r.ResourceID == req.Resource.ID {
					lr = append(lr, fmt.Sprintf("%s %s", r.Permissionship, strings.Join(r.Missing, ",")))
				}
				return true
			})
		if want := "conditional " + tt.missing; err != nil || fmt.Sprint(lr) != "["+want+"]" {
			t.Errorf("LookupResources for %s: %v, %v; want [%s]", tt.q, lr, err, want)
		}
		found, _, err := e.LookupSubjects(ctx, LookupSubjectsRequest{Resource: req.Resource, Permission: req.Permission, SubjectType: "user", Consistency: fresh})
		if want := "u:conditional[" + strings.ReplaceAll(tt.missing, ",", " ") + "] "; err != nil || formatFoundMissing(found) != want {
			t.Errorf("LookupSubjects for %s: %s, %v; want %s", tt.q, formatFoundMissing(found), err, want)
		}
	}
}
