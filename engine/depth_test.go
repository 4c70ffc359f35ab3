package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// chainSchema: a document's viewers view it, and so do those who view its
// parent. parentFirstSchema is the same permission with its operands the
// other way round.
const chainSchema = `
definition user {}
definition doc {
	relation parent: doc
	relation viewer: user
	permission view = viewer + parent->view
}`

const parentFirstSchema = `
definition user {}
definition doc {
	relation parent: doc
	relation viewer: user
	permission view = parent->view + viewer
}`

// chainRels links doc:pc0#parent@doc:pc1 ... up to pc<n-1>, with user:u a
// viewer of the last.
func chainRels(n int) []string {
	var rels []string
	for i := 0; i+1 < n; i++ {
		rels = append(rels, fmt.Sprintf("doc:pc%d#parent@doc:pc%d", i, i+1))
	}
	return append(rels, fmt.Sprintf("doc:pc%d#viewer@user:u", n-1))
}

// chainAnswer is what a check of doc:pc<i>#view@user:u answers on a chain
// of n with MaxDepth max: the check of pc<i> nests one check per document
// down to pc<n-1>, and one more for its viewer relation: n+1-i in all.
func chainAnswer(n, i, max int) (Permissionship, error) {
	if n+1-i > max {
		return Denied, ErrMaxDepth
	}
	return Allowed, nil
}

func sameAnswer(p Permissionship, err error, wantP Permissionship, wantErr error) bool {
	if wantErr != nil {
		return errors.Is(err, wantErr)
	}
	return err == nil && p == wantP
}

// A check's answer near the depth limit does not depend on what the cache
// or the request's memo hold: an entry computed with depth to spare does
// not answer the same sub-problem met deeper (SpiceDB's dispatch cache
// keeps DepthRequired for the same reason). Checking the chain from its
// far end down, every check finds the one above it cached; without that
// rule doc:pc0 would be Allowed once the cache is warm and an error when
// it is cold.
func TestCheckDepthIgnoresWarmCache(t *testing.T) {
	const n, max = 120, 50
	st := newTestStore(t, chainSchema, chainRels(n)...)
	ctx := context.Background()
	warm := New(st, Options{MaxDepth: max})
	var bulk []CheckRequest
	for i := n - 1; i >= 0; i-- {
		req := checkReq(t, fmt.Sprintf("doc:pc%d#view@user:u", i))
		bulk = append(bulk, req)
		wantP, wantErr := chainAnswer(n, i, max)
		res, err := warm.Check(ctx, req)
		if !sameAnswer(res.Permissionship, err, wantP, wantErr) {
			t.Errorf("warm cache: pc%d: %v, %v; want %v, %v", i, res.Permissionship, err, wantP, wantErr)
		}
		cold, err := New(st, Options{MaxDepth: max, CacheSize: -1}).Check(ctx, req)
		if !sameAnswer(cold.Permissionship, err, wantP, wantErr) {
			t.Errorf("cold: pc%d: %v, %v; want %v, %v", i, cold.Permissionship, err, wantP, wantErr)
		}
	}
	// One CheckBulk shares one memo across the checks: the same rule
	// holds for its entries. The bulk fails at its first error: ask only
	// those that fit, then one that does not, last.
	fit := bulk[:max-1]
	res, err := New(st, Options{MaxDepth: max, CacheSize: -1}).CheckBulk(ctx, fit)
	if err != nil {
		t.Fatalf("CheckBulk of the checks that fit: %v", err)
	}
	for i, r := range res {
		if r.Permissionship != Allowed {
			t.Errorf("CheckBulk %s: %v", fit[i].Resource, r.Permissionship)
		}
	}
	if _, err := New(st, Options{MaxDepth: max, CacheSize: -1}).CheckBulk(ctx, bulk[:max]); !errors.Is(err, ErrMaxDepth) {
		t.Errorf("CheckBulk down to %s: %v, want ErrMaxDepth", bulk[max-1].Resource, err)
	}
}

// An operand too deep to evaluate does not hide another that decides:
// with the parent chain first in the union, user:v, a viewer of pc0
// itself, still views pc0, as with the viewers first. A subject that
// neither grants is refused with ErrMaxDepth, in either order.
func TestCheckDepthOperandOrder(t *testing.T) {
	for _, src := range []string{chainSchema, parentFirstSchema} {
		st := newTestStore(t, src, append(chainRels(200), "doc:pc0#viewer@user:v")...)
		for _, cache := range []int{0, -1} {
			e := New(st, Options{MaxDepth: 50, CacheSize: cache})
			res, err := e.Check(context.Background(), checkReq(t, "doc:pc0#view@user:v"))
			if err != nil || res.Permissionship != Allowed {
				t.Errorf("%s: pc0 for its own viewer: %v, %v", src, res.Permissionship, err)
			}
			if _, err := e.Check(context.Background(), checkReq(t, "doc:pc0#view@user:nobody")); !errors.Is(err, ErrMaxDepth) {
				t.Errorf("%s: pc0 for nobody: %v, want ErrMaxDepth", src, err)
			}
		}
	}
}

// Check, LookupResources and LookupSubjects apply one depth limit and agree
// on the parent chain of issue 12.5 (doc:pc0#parent@doc:pc1 ... with user:u
// a viewer of the last): for every length around the limit and far past
// it, each answer is the Check's or ErrMaxDepth where the Check's is.
//
// How SpiceDB reads the same question: its LookupResources walks up from
// the subject one dispatch per step (internal/graph/lookupresources2.go
// redispatches with DepthRemaining-1), and a dispatch with no depth left
// fails with "max depth exceeded" (dispatch.CheckDepth), failing the whole
// stream, whatever it streamed before. reach's walk counts the nested
// checks a Check of each node would need and fails with ErrMaxDepth before
// streaming anything when one passes the limit; so a lookup never lists a
// resource whose Check fails, and fails where any of them would. Its
// LookupSubjects fails likewise when its walk down passes the limit.
//
// (The converse is not promised: a lookup that completes may leave out a
// resource whose Check fails for depth through relationships that do not
// lead to the subject, which only the Check walks; the lookup's answer,
// "not reachable", is then the right one at any depth.)
func TestLookupDepthAgreesWithCheck(t *testing.T) {
	const max = 50
	ctx := context.Background()
	for _, n := range []int{30, max - 2, max - 1, max, max + 1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			st := newTestStore(t, chainSchema, chainRels(n)...)
			e := New(st, Options{MaxDepth: max})
			var ids []string
			_, lrErr := e.LookupResources(ctx, LookupResourcesRequest{ResourceType: "doc", Permission: "view", Subject: Subject{Type: "user", ID: "u"}, Consistency: fresh},
				func(r LookupResult) bool {
					ids = append(ids, r.ResourceID)
					return true
				})
			// Every document of the chain reaches user:u; the lookup lists
			// them all when every Check answers, and fails otherwise.
			_, pc0Err := chainAnswer(n, 0, max)
			if pc0Err != nil {
				if !errors.Is(lrErr, ErrMaxDepth) || len(ids) > 0 {
					t.Errorf("LookupResources: %d results, error %v; want ErrMaxDepth, as Check(pc0)", len(ids), lrErr)
				}
			} else if lrErr != nil || len(ids) != n {
				t.Errorf("LookupResources: %d results, error %v; want all %d", len(ids), lrErr, n)
			}
			for _, i := range []int{0, 1, n - max, n - max + 1, n - 2, n - 1} {
				if i < 0 {
					continue
				}
				wantP, wantErr := chainAnswer(n, i, max)
				res, err := e.Check(ctx, checkReq(t, fmt.Sprintf("doc:pc%d#view@user:u", i)))
				if !sameAnswer(res.Permissionship, err, wantP, wantErr) {
					t.Errorf("Check(pc%d): %v, %v; want %v, %v", i, res.Permissionship, err, wantP, wantErr)
				}
				found, _, err := e.LookupSubjects(ctx, LookupSubjectsRequest{Resource: Object{"doc", fmt.Sprintf("pc%d", i)}, Permission: "view", SubjectType: "user", Consistency: fresh})
				if wantErr != nil {
					if !errors.Is(err, wantErr) {
						t.Errorf("LookupSubjects(pc%d): %s, %v; want %v, as Check", i, formatFound(found), err, wantErr)
					}
				} else if err != nil || formatFound(found) != "[u]" {
					t.Errorf("LookupSubjects(pc%d): %s, %v; want [u]", i, formatFound(found), err)
				}
			}
		})
	}
}

// With the chain first in the union, a viewer of pc0 itself views it
// within the limit, whatever lies below: Check and LookupResources say so.
// LookupSubjects of pc0 must walk the whole chain and fails; its stream
// may give user:v before it does, since that subject is certain.
func TestLookupDepthShallowSubject(t *testing.T) {
	st := newTestStore(t, parentFirstSchema, append(chainRels(1000), "doc:pc0#viewer@user:v")...)
	e := New(st, Options{MaxDepth: 50})
	ctx := context.Background()
	res, err := e.Check(ctx, checkReq(t, "doc:pc0#view@user:v"))
	if err != nil || res.Permissionship != Allowed {
		t.Errorf("Check: %v, %v", res.Permissionship, err)
	}
	var ids []string
	_, err = e.LookupResources(ctx, LookupResourcesRequest{ResourceType: "doc", Permission: "view", Subject: Subject{Type: "user", ID: "v"}, Consistency: fresh},
		func(r LookupResult) bool {
			ids = append(ids, r.ResourceID)
			return true
		})
	if err != nil || fmt.Sprint(ids) != "[pc0]" {
		t.Errorf("LookupResources: %v, %v", ids, err)
	}
	var got []string
	_, err = e.LookupSubjectsStream(ctx, LookupSubjectsRequest{Resource: Object{"doc", "pc0"}, Permission: "view", SubjectType: "user", Consistency: fresh},
		func(f FoundSubject) bool {
			got = append(got, f.ID)
			return true
		})
	if !errors.Is(err, ErrMaxDepth) || len(got) > 1 || (len(got) == 1 && got[0] != "v") {
		t.Errorf("LookupSubjectsStream: %v, %v; want at most [v], then ErrMaxDepth", got, err)
	}
}
