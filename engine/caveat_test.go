package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/reach-authz/reach/caveats"
)

// The caveat tests' schema: weekday is decided by the request's day, under
// by limit (stored on the relationship) and amount.
const caveatSchema = `caveat weekday(day string) { day != "sunday" }
caveat under(limit int, amount int) { amount < limit }
definition user {}
definition team {
	relation member: user | user with weekday | team#member | team#member with weekday
}
definition doc {
	relation viewer: user | user with weekday | user:* with weekday | team#member | team#member with weekday
	relation owner: user with under
	relation team: team | team with weekday
	permission view = viewer + owner
	permission teamview = team->member
	permission allview = team.all(member)
	permission viewnotowner = viewer - owner
}`

var caveatRels = []string{
	"doc:1#viewer@user:ana[weekday]",
	`doc:1#owner@user:bob[under:{"limit":10}]`,
	"doc:2#viewer@team:t#member[weekday]",
	"team:t#member@user:cy",
	"doc:3#team@team:t[weekday]",
	// .all: one caveated team of two, cy in both.
	"doc:4#team@team:t[weekday]", "doc:4#team@team:u",
	"team:u#member@user:cy",
	// .all: cy is not in team v, so the caveat cannot help.
	"doc:5#team@team:t[weekday]", "doc:5#team@team:v",
	// Many subject sets on doc:6#viewer (the check walks up from the
	// subject), dan in one under a caveat.
	"doc:6#viewer@team:g1#member", "doc:6#viewer@team:g2#member", "doc:6#viewer@team:g3#member",
	"doc:6#viewer@team:g4#member", "doc:6#viewer@team:g5#member", "doc:6#viewer@team:g6#member",
	"team:g3#member@user:dan[weekday]", "team:g1#member@user:eve",
	"doc:7#viewer@user:*[weekday]",
	"doc:8#viewer@user:ana",
	// Exclusion: ana views doc:9 unless she owns it, which depends on amount.
	"doc:9#viewer@user:ana", `doc:9#owner@user:ana[under:{"limit":10}]`,
	// fay views doc:10 through two caveats.
	"doc:10#viewer@user:fay[weekday]", `doc:10#owner@user:fay[under:{"limit":10}]`,
}

func ctxOf(t testing.TB, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// caveatChecks: missing is CheckResult.Missing, comma-separated.
var caveatChecks = []struct {
	q, ctx  string
	want    Permissionship
	missing string
}{
	{"doc:1#viewer@user:ana", "", Conditional, "day"},
	{"doc:1#viewer@user:ana", `{"day":"monday"}`, Allowed, ""},
	{"doc:1#viewer@user:ana", `{"day":"sunday"}`, Denied, ""},
	{"doc:1#viewer@user:ana", `{"hour":3}`, Conditional, "day"}, // names that are no parameter are ignored
	{"doc:1#view@user:bob", "", Conditional, "amount"},
	{"doc:1#view@user:bob", `{"amount":5}`, Allowed, ""},
	{"doc:1#view@user:bob", `{"amount":50}`, Denied, ""},
	// The relationship's stored context wins over the request's.
	{"doc:1#view@user:bob", `{"amount":50,"limit":100}`, Denied, ""},
	{"doc:2#viewer@user:cy", "", Conditional, "day"},
	{"doc:2#viewer@user:cy", `{"day":"monday"}`, Allowed, ""},
	{"doc:2#viewer@user:cy", `{"day":"sunday"}`, Denied, ""},
	{"doc:3#teamview@user:cy", "", Conditional, "day"},
	{"doc:3#teamview@user:cy", `{"day":"monday"}`, Allowed, ""},
	{"doc:3#teamview@user:cy", `{"day":"sunday"}`, Denied, ""},
	{"doc:4#allview@user:cy", "", Conditional, "day"},
	{"doc:4#allview@user:cy", `{"day":"monday"}`, Allowed, ""},
	// A false caveat on a tupleset relationship makes .all false (SpiceDB
	// ANDs caveat and check over every relationship).
	{"doc:4#allview@user:cy", `{"day":"sunday"}`, Denied, ""},
	{"doc:5#allview@user:cy", "", Denied, ""},
	{"doc:5#allview@user:cy", `{"day":"monday"}`, Denied, ""},
	{"doc:6#viewer@user:dan", "", Conditional, "day"},
	{"doc:6#viewer@user:dan", `{"day":"monday"}`, Allowed, ""},
	{"doc:6#viewer@user:dan", `{"day":"sunday"}`, Denied, ""},
	{"doc:6#viewer@user:eve", `{"day":"sunday"}`, Allowed, ""},
	{"doc:7#viewer@user:zed", "", Conditional, "day"},
	{"doc:7#viewer@user:zed", `{"day":"monday"}`, Allowed, ""},
	{"doc:7#viewer@user:zed", `{"day":"sunday"}`, Denied, ""},
	{"doc:9#viewnotowner@user:ana", "", Conditional, "amount"},
	{"doc:9#viewnotowner@user:ana", `{"amount":5}`, Denied, ""},
	{"doc:9#viewnotowner@user:ana", `{"amount":50}`, Allowed, ""},
	{"doc:10#view@user:fay", "", Conditional, "amount,day"},
	{"doc:10#view@user:fay", `{"day":"sunday"}`, Conditional, "amount"},
	{"doc:10#view@user:fay", `{"amount":50}`, Conditional, "day"},
	{"doc:10#view@user:fay", `{"amount":5}`, Allowed, ""},
}

// TestCheckCaveats evaluates caveats with the request's context, with the
// cache on and off, each check alone and all of them in one CheckBulk, and
// in an order that would expose a context-dependent answer cached under a
// key without context.
func TestCheckCaveats(t *testing.T) {
	st := newTestStore(t, caveatSchema, caveatRels...)
	ctx := context.Background()
	for _, opts := range []Options{{}, {CacheSize: -1}} {
		e := New(st, opts)
		for round := range 2 { // the second round meets a warm cache
			for _, tt := range caveatChecks {
				req := checkReq(t, tt.q)
				req.Context = ctxOf(t, tt.ctx)
				res, err := e.Check(ctx, req)
				if err != nil {
					t.Fatalf("%s with %s: %v", tt.q, tt.ctx, err)
				}
				if res.Permissionship != tt.want || strings.Join(res.Missing, ",") != tt.missing {
					t.Errorf("cache %d round %d: %s with %s: %v missing %q, want %v missing %q",
						opts.CacheSize, round, tt.q, tt.ctx, res.Permissionship, res.Missing, tt.want, tt.missing)
				}
				// The explained check walks down (never up) and keeps no
				// cache: it must agree.
				req.Explain = true
				if res, err := e.Check(ctx, req); err != nil || res.Permissionship != tt.want {
					t.Errorf("explained %s with %s: %v %v, want %v", tt.q, tt.ctx, res.Permissionship, err, tt.want)
				}
			}
		}
		reqs := make([]CheckRequest, len(caveatChecks))
		for i, tt := range caveatChecks {
			reqs[i] = checkReq(t, tt.q)
			reqs[i].Context = ctxOf(t, tt.ctx)
		}
		// Reversed too, so that memo entries of one context would be met
		// by a request with another.
		for _, order := range []string{"forward", "reversed"} {
			got, err := New(st, opts).CheckBulk(ctx, reqs)
			if err != nil {
				t.Fatal(err)
			}
			for i, tt := range caveatChecks {
				if got[i].Permissionship != tt.want || strings.Join(got[i].Missing, ",") != tt.missing {
					t.Errorf("%s bulk: %s with %s: %v missing %q, want %v missing %q", order, tt.q, tt.ctx, got[i].Permissionship, got[i].Missing, tt.want, tt.missing)
				}
			}
			slices.Reverse(reqs)
			slices.Reverse(caveatChecks)
		}
	}
}

// A check with a context leaves nothing in the shared cache: its answers
// hold only for that context.
func TestCheckContextBypassesCache(t *testing.T) {
	st := newTestStore(t, caveatSchema, caveatRels...)
	e := New(st, Options{})
	req := checkReq(t, "doc:2#viewer@user:cy")
	req.Context = ctxOf(t, `{"day":"monday"}`)
	if _, err := e.Check(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if s := e.CacheStats(); s.Entries != 0 || s.Hits+s.Misses != 0 {
		t.Errorf("cache after a check with context: %+v, want untouched", s)
	}
	req.Context = nil
	res, err := e.Check(context.Background(), req)
	if err != nil || res.Permissionship != Conditional {
		t.Fatalf("without context: %v %v, want conditional", res.Permissionship, err)
	}
	if e.CacheStats().Entries == 0 {
		t.Error("a check without context cached nothing")
	}
}

// A value that does not convert fails the request with the caveats
// package's error (SpiceDB: InvalidArgument), in Check, CheckBulk and both
// lookups; it is not a denial.
func TestCaveatErrors(t *testing.T) {
	st := newTestStore(t, caveatSchema, caveatRels...)
	e := New(st, Options{})
	ctx := context.Background()
	bad := ctxOf(t, `{"day": 3}`)
	req := checkReq(t, "doc:1#viewer@user:ana")
	req.Context = bad
	var pte *caveats.ParameterTypeError
	_, err := e.Check(ctx, req)
	if !errors.As(err, &pte) {
		t.Errorf("Check: %v, want a ParameterTypeError", err)
	}
	_, err = e.CheckBulk(ctx, []CheckRequest{checkReq(t, "doc:8#viewer@user:ana"), req})
	if !errors.As(err, &pte) {
		t.Errorf("CheckBulk: %v, want a ParameterTypeError", err)
	}
	_, err = e.LookupResources(ctx, LookupResourcesRequest{ResourceType: "doc", Permission: "viewer", Subject: mustSubject(t, "user:ana"), Consistency: fresh, Context: bad},
		func(LookupResult) bool { return true })
	if !errors.As(err, &pte) {
		t.Errorf("LookupResources: %v, want a ParameterTypeError", err)
	}
	_, _, err = e.LookupSubjects(ctx, LookupSubjectsRequest{Resource: mustObject(t, "doc:1"), Permission: "viewer", SubjectType: "user", Consistency: fresh, Context: bad})
	if !errors.As(err, &pte) {
		t.Errorf("LookupSubjects: %v, want a ParameterTypeError", err)
	}
}

func TestLookupCaveats(t *testing.T) {
	st := newTestStore(t, caveatSchema, caveatRels...)
	e := New(st, Options{})
	ctx := context.Background()
	// "id?missing,names" for conditional results.
	format := func(id string, p Permissionship, missing []string) string {
		if p == Conditional {
			return id + "?" + strings.Join(missing, ",")
		}
		return id
	}
	resources := []struct {
		subject, ctx string
		want         []string
	}{
		{"user:ana", "", []string{"1?day", "7?day", "8", "9"}},
		{"user:ana", `{"day":"monday"}`, []string{"1", "7", "8", "9"}},
		{"user:ana", `{"day":"sunday"}`, []string{"8", "9"}},
		{"user:dan", "", []string{"6?day", "7?day"}},
		{"user:dan", `{"day":"sunday"}`, nil},
	}
	for _, tt := range resources {
		var got []string
		_, err := e.LookupResources(ctx, LookupResourcesRequest{ResourceType: "doc", Permission: "viewer", Subject: mustSubject(t, tt.subject),
			Consistency: fresh, Context: ctxOf(t, tt.ctx)}, func(r LookupResult) bool {
			got = append(got, format(r.ResourceID, r.Permissionship, r.Missing))
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("LookupResources doc#viewer@%s with %s: %v, want %v", tt.subject, tt.ctx, got, tt.want)
		}
	}
	subjects := []struct {
		resource, perm, ctx string
		want                []string
	}{
		{"doc:1", "view", "", []string{"ana?day", "bob?amount"}},
		{"doc:1", "view", `{"day":"monday","amount":50}`, []string{"ana"}},
		{"doc:1", "view", `{"day":"sunday","amount":5}`, []string{"bob"}},
		{"doc:7", "viewer", "", []string{"*?day"}},
		{"doc:7", "viewer", `{"day":"sunday"}`, nil},
		{"doc:9", "viewnotowner", "", []string{"ana?amount"}},
		{"doc:9", "viewnotowner", `{"amount":5}`, nil},
	}
	for _, tt := range subjects {
		found, _, err := e.LookupSubjects(ctx, LookupSubjectsRequest{Resource: mustObject(t, tt.resource), Permission: tt.perm, SubjectType: "user",
			Consistency: fresh, Context: ctxOf(t, tt.ctx)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range found {
			got = append(got, format(f.ID, f.Permissionship, f.Missing))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("LookupSubjects %s#%s with %s: %v, want %v", tt.resource, tt.perm, tt.ctx, got, tt.want)
		}
	}
}

// BenchmarkCheckCaveat: a check through a caveated subject set, with a
// context (no shared cache: every call evaluates the caveat) and without
// one (the cache answers, the caveat evaluated once).
func BenchmarkCheckCaveat(b *testing.B) {
	st := newTestStore(b, caveatSchema, caveatRels...)
	e := New(st, Options{})
	ctx := context.Background()
	for _, c := range []struct{ name, ctx string }{{"context", `{"day":"monday"}`}, {"no-context", ""}} {
		b.Run(c.name, func(b *testing.B) {
			req := checkReq(b, "doc:2#viewer@user:cy")
			req.Consistency = Consistency{}
			req.Context = ctxOf(b, c.ctx)
			for b.Loop() {
				if _, err := e.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Under a schema without caveats a context changes nothing, and the
// sub-problems below the top still use the shared cache.
func TestContextWithoutCaveats(t *testing.T) {
	st := newTestStore(t, `definition user {}
definition team {
	relation member: user | team#member
}
definition doc {
	relation viewer: team#member
	permission view = viewer
}`, "doc:1#viewer@team:a#member", "team:a#member@user:ana")
	e := New(st, Options{})
	req := checkReq(t, "doc:1#view@user:ana")
	req.Context = ctxOf(t, `{"day":"monday"}`)
	for range 2 {
		res, err := e.Check(context.Background(), req)
		if err != nil || res.Permissionship != Allowed {
			t.Fatalf("%v %v, want allowed", res.Permissionship, err)
		}
	}
	if s := e.CacheStats(); s.Entries == 0 || s.Hits == 0 {
		t.Errorf("cache %+v: a context under a schema without caveats should not bypass it", s)
	}
}
