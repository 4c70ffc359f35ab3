package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/internal/testdatastore"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// The group index must give the walk's answers: at the head after every
// write of a random sequence (touches and deletes, cycles made and broken),
// at the older revisions of the sequence (which it answers from the head
// for the groups that did not change since), with caveats, expirations,
// wildcards and subject sets it does not index left to the walk, and
// while it lags behind the head.

// groupSchemaPlain nests without caveats: group#member and group#manager
// nest in each other (mutual), team#member in itself and in group#member,
// club#member in itself with a wildcard, role#active is a permission
// (a subject set the index does not close over), and folders inherit
// viewers through an arrow, minus an exclusion.
const groupSchemaPlain = `
definition user {}

definition role {
	relation holder: user
	permission active = holder
}

definition group {
	relation member: user | group#member | team#member | role#active | group#manager
	relation manager: user | group#member
}

definition team {
	relation member: user | team#member | group#member
}

definition club {
	relation member: user | user:* | club#member | group#member
}

definition folder {
	relation parent: folder
	relation viewer: user | group#member | team#member
	relation banned: user | team#member
	permission view = (viewer - banned) + parent->view
}
`

// groupSchemaUnclean adds caveated and expiring memberships and nestings.
const groupSchemaUnclean = `
use expiration

caveat cav(x int) {
	x > 1
}

definition user {}

definition role {
	relation holder: user
	permission active = holder
}

definition group {
	relation member: user | user with cav | user with expiration | group#member | group#member with cav | group#member with expiration | team#member | role#active | group#manager
	relation manager: user | group#member
}

definition team {
	relation member: user | team#member | group#member with cav
}

definition club {
	relation member: user | user:* | club#member | group#member
}

definition folder {
	relation parent: folder
	relation viewer: user | group#member | team#member
	relation banned: user | team#member
	permission view = (viewer - banned) + parent->view
}
`

var groupIDs = map[string][]string{
	"user": {"u0", "u1", "u2", "u3", "u4"}, "role": {"r0", "r1"}, "group": {"g0", "g1", "g2", "g3", "g4"},
	"team": {"t0", "t1", "t2"}, "club": {"c0", "c1"}, "folder": {"f0", "f1", "f2"},
}

// groupSlot is one kind of relationship the schema allows.
type groupSlot struct {
	typ, rel string
	a        schema.AllowedType
}

func groupSlots(prog *schema.Program) []groupSlot {
	var out []groupSlot
	for _, d := range prog.Definitions() {
		for _, r := range d.Relations {
			for _, a := range r.Allowed {
				out = append(out, groupSlot{d.Name, r.Name, a})
			}
		}
	}
	return out
}

// randomGroupUpdate draws one update: mostly touches of nesting
// relationships (so that cycles form), some deletes of live ones.
func randomGroupUpdate(r *rand.Rand, slots []groupSlot, live []tuples.Relationship) tuples.Update {
	if len(live) > 0 && r.IntN(3) == 0 {
		return tuples.Update{Op: tuples.Delete, Relationship: live[r.IntN(len(live))]}
	}
	s := slots[r.IntN(len(slots))]
	ids := groupIDs[s.typ]
	sids := groupIDs[s.a.Type]
	rel := tuples.Relationship{ResourceType: s.typ, ResourceID: ids[r.IntN(len(ids))], Relation: s.rel,
		SubjectType: s.a.Type, SubjectID: sids[r.IntN(len(sids))], SubjectRelation: s.a.Relation}
	if s.a.Wildcard {
		rel.SubjectID = "*"
	}
	if s.a.Caveat != "" {
		rel.Caveat = &tuples.Caveat{Name: s.a.Caveat}
		if r.IntN(2) == 0 {
			rel.Caveat.Context = map[string]any{"x": r.IntN(3)}
		}
	}
	if s.a.Expiration {
		t := time.Now().Add(time.Hour)
		if r.IntN(3) == 0 {
			t = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) // expired: absent
		}
		rel.Expiration = &t
	}
	return tuples.Update{Op: tuples.Touch, Relationship: rel}
}

// groupQueries is every check of the universe for a few subjects.
func groupQueries(prog *schema.Program) []CheckRequest {
	subjects := []Subject{{"user", "u0", ""}, {"user", "u1", ""}, {"user", "u2", ""}, {"user", "u3", ""}, {"user", freshID, ""},
		{"group", "g0", "member"}, {"group", "g2", "manager"}, {"team", "t1", "member"}, {"role", "r0", "active"}}
	var out []CheckRequest
	for _, d := range prog.Definitions() {
		for _, id := range groupIDs[d.Name] {
			for _, rel := range d.Relations {
				for _, s := range subjects {
					if prog.Definition(s.Type) != nil {
						out = append(out, CheckRequest{Resource: Object{d.Name, id}, Permission: rel.Name, Subject: s})
					}
				}
			}
		}
	}
	return out
}

func groupUniverse(prog *schema.Program) []Object {
	var out []Object
	for _, d := range prog.Definitions() {
		for _, id := range append(slices.Clone(groupIDs[d.Name]), freshID) {
			out = append(out, Object{d.Name, id})
		}
	}
	return out
}

type groupRevision struct {
	rev  tuples.Revision
	rels []tuples.Relationship
	ref  *reference // nil for the unclean schema
	refs map[Subject]map[refNode]bool
}

func (g *groupRevision) want(s Subject, o Object, rel string) Permissionship {
	v, ok := g.refs[s]
	if !ok {
		v = g.ref.eval(s)
		g.refs[s] = v
	}
	if v[refNode{o.Type, o.ID, rel}] {
		return Allowed
	}
	return Denied
}

func readAll(t testing.TB, st datastore.Datastore, rev tuples.Revision) []tuples.Relationship {
	t.Helper()
	var out []tuples.Relationship
	if _, err := st.ForEach(context.Background(), rev, tuples.Filter{}, func(r tuples.Relationship) (bool, error) {
		out = append(out, r)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGroupIndexFollowsWrites(t *testing.T) {
	seeds, steps := 12, 40
	if testing.Short() {
		seeds, steps = 6, 30
	}
	sample := 1 // every query
	if testdatastore.Kind() != "badger" {
		// Every check reads the database: a smaller sample of the same.
		seeds, steps, sample = min(seeds, 4), steps/2, 5
	}
	var compared, oldCompared, hits, oldHits, refCompared, lookupsCompared int
	for seed := range seeds {
		unclean := seed%2 == 1
		src := groupSchemaPlain
		if unclean {
			src = groupSchemaUnclean
		}
		t.Run(fmt.Sprintf("%d-unclean=%v", seed, unclean), func(t *testing.T) {
			ctx := context.Background()
			r := rand.New(rand.NewPCG(uint64(seed), 14))
			st := newTestStore(t, src)
			prog, _, err := st.Schema(ctx)
			if err != nil {
				t.Fatal(err)
			}
			slots := groupSlots(prog)
			queries := groupQueries(prog)
			var lookups []LookupResourcesRequest
			for _, q := range queries {
				if q.Resource.ID == "g0" || q.Resource.ID == "t0" || q.Resource.ID == "f0" || q.Resource.ID == "c0" {
					lookups = append(lookups, LookupResourcesRequest{ResourceType: q.Resource.Type, Permission: q.Permission, Subject: q.Subject})
				}
			}
			opts := Options{CacheSize: -1, MaxDepth: 1000}
			on := indexedEngine(t, st, opts, nil)
			defer on.Close()
			if s := on.GroupIndexStats(ctx); s.State != "ready" || !strings.Contains(s.Relations, "group#member") {
				t.Fatalf("index not built: %+v", s)
			}
			cachedOpts := opts
			cachedOpts.CacheSize = 4096
			// lagging is synced only by the requests that find it behind
			// (in the background): it must walk until it catches up.
			lagging := indexedEngine(t, st, cachedOpts, nil)
			defer lagging.Close()
			offOpts := opts
			offOpts.DisableGroupIndex = true
			off := New(st, offOpts)

			var history []*groupRevision
			var live []tuples.Relationship
			for step := range steps {
				var ups []tuples.Update
				for n := 1 + r.IntN(4); len(ups) < n; {
					u := randomGroupUpdate(r, slots, live)
					dup := false
					for _, x := range ups {
						dup = dup || relKey(x.Relationship) == relKey(u.Relationship)
					}
					if !dup {
						ups = append(ups, u)
					}
				}
				rev, err := st.Write(ctx, ups)
				if err != nil {
					t.Fatalf("step %d: write %v: %v", step, ups, err)
				}
				live = readAll(t, st, rev)
				g := &groupRevision{rev: rev, rels: live}
				if !unclean {
					g.ref = newReference(prog, live, groupUniverse(prog))
					g.refs = map[Subject]map[refNode]bool{}
				}
				history = append(history, g)
				if err := on.SyncGroupIndex(ctx); err != nil {
					t.Fatal(err)
				}
				if got := on.GroupIndexStats(ctx); got.Revision != rev || got.Lag != 0 {
					t.Fatalf("step %d: index at %d (lag %d), head %d", step, got.Revision, got.Lag, rev)
				}
				// The head, and a few older revisions.
				revs := []*groupRevision{g}
				for range 2 {
					if len(history) > 1 {
						revs = append(revs, history[r.IntN(len(history)-1)])
					}
				}
				for i, h := range revs {
					before := indexHits(on)
					for qi, q := range queries {
						if qi%sample != step%sample {
							continue
						}
						q.Consistency = Consistency{Mode: AtExactSnapshot, Token: h.rev.Token()}
						name := fmt.Sprintf("step %d, revision %d: %s#%s@%s", step, h.rev, q.Resource, q.Permission, q.Subject)
						want, err := off.Check(ctx, q)
						if err != nil {
							t.Fatalf("%s: index off: %v", name, err)
						}
						if h.ref != nil && h.ref.stratified {
							refCompared++
							if w := h.want(q.Subject, q.Resource, q.Permission); w != want.Permissionship {
								t.Fatalf("%s: index off %s, reference %s\n%s", name, want.Permissionship, w, relsString(h.rels))
							}
						}
						for j, e := range []*Engine{on, lagging} {
							got, err := e.Check(ctx, q)
							if err != nil {
								t.Fatalf("%s: engine %d: %v", name, j, err)
							}
							if got.Permissionship != want.Permissionship || !slices.Equal(got.Missing, want.Missing) {
								t.Fatalf("%s: index on (engine %d) %s %v, off %s %v\n%s", name, j, got.Permissionship, got.Missing,
									want.Permissionship, want.Missing, relsString(h.rels))
							}
						}
						compared++
						if i > 0 {
							oldCompared++
						}
						if unclean {
							// With a context that decides the caveats.
							q.Context = map[string]any{"x": 2}
							want, err := off.Check(ctx, q)
							if err != nil {
								t.Fatalf("%s with context: index off: %v", name, err)
							}
							got, err := on.Check(ctx, q)
							if err != nil || got.Permissionship != want.Permissionship {
								t.Fatalf("%s with context: index on %s (%v), off %s\n%s", name, got.Permissionship, err, want.Permissionship, relsString(h.rels))
							}
						}
					}
					// LookupResources, which walks up through the index.
					for _, q := range lookups {
						q.Consistency = Consistency{Mode: AtExactSnapshot, Token: h.rev.Token()}
						name := fmt.Sprintf("step %d, revision %d: LookupResources(%s#%s@%s)", step, h.rev, q.ResourceType, q.Permission, q.Subject)
						want, werr := lookupAll(off, q)
						got, gerr := lookupAll(on, q)
						if werr != nil || gerr != nil || !slices.Equal(got, want) {
							t.Fatalf("%s: index on %v (%v), off %v (%v)\n%s", name, got, gerr, want, werr, relsString(h.rels))
						}
						lookupsCompared++
					}
					n := indexHits(on) - before
					hits += n
					if i > 0 {
						oldHits += n
					}
				}
			}
		})
	}
	t.Logf("%d checks compared (%d at older revisions, %d with the reference), %d LookupResources; the index answered %d sub-problems (%d at older revisions)",
		compared, oldCompared, refCompared, lookupsCompared, hits, oldHits)
	if hits == 0 || oldHits == 0 {
		t.Errorf("the index answered %d sub-problems, %d at older revisions: it is not being used", hits, oldHits)
	}
}

// lookupAll gives every result of a LookupResources.
func lookupAll(e *Engine, q LookupResourcesRequest) ([]string, error) {
	var out []string
	_, err := e.LookupResources(context.Background(), q, func(r LookupResult) bool {
		out = append(out, r.ResourceID+":"+r.Permissionship.String())
		return true
	})
	return out, err
}

// relKey names a relationship without its caveat and expiration.
func relKey(r tuples.Relationship) string {
	return relString(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation)
}

func relsString(rels []tuples.Relationship) string {
	var b strings.Builder
	for _, r := range rels {
		b.WriteString("  " + r.String() + "\n")
	}
	return b.String()
}

// The index answers only where the walk it stands for fits under
// MaxDepth: on long chains and large cycles of groups, checks with the
// index on and off succeed and fail (ErrMaxDepth) alike.
func TestGroupIndexDepth(t *testing.T) {
	ctx := context.Background()
	const n = 70
	var rels []string
	for i := 0; i+1 < n; i++ {
		rels = append(rels, fmt.Sprintf("group:c%d#member@group:c%d#member", i, i+1)) // a chain
		rels = append(rels, fmt.Sprintf("group:y%d#member@group:y%d#member", i, i+1)) // a cycle
	}
	rels = append(rels, fmt.Sprintf("group:y%d#member@group:y0#member", n-1),
		fmt.Sprintf("group:c%d#member@user:deep", n-1), "group:y30#member@user:cyc",
		"group:s0#member@group:s1#member", "group:s1#member@user:shallow")
	st := newTestStore(t, "definition user {}\ndefinition group {\n\trelation member: user | group#member\n}\n", rels...)
	on := indexedEngine(t, st, Options{CacheSize: -1}, nil)
	off := New(st, Options{CacheSize: -1, DisableGroupIndex: true})
	var queries []string
	for i := 0; i < n; i += 3 {
		for _, u := range []string{"deep", "cyc", "shallow", "nobody"} {
			queries = append(queries, fmt.Sprintf("group:c%d#member@user:%s", i, u), fmt.Sprintf("group:y%d#member@user:%s", i, u))
		}
	}
	queries = append(queries, "group:s0#member@user:shallow", "group:s0#member@user:nobody")
	var errs, allowed int
	for _, q := range queries {
		req := checkReq(t, q)
		want, werr := off.Check(ctx, req)
		got, gerr := on.Check(ctx, req)
		if (werr != nil) != (gerr != nil) || (werr == nil && got.Permissionship != want.Permissionship) {
			t.Errorf("%s: index on %s (%v), off %s (%v)", q, got.Permissionship, gerr, want.Permissionship, werr)
		}
		if werr != nil {
			errs++
		} else if want.Permissionship == Allowed {
			allowed++
		}
	}
	if errs == 0 || allowed == 0 || indexHits(on) == 0 {
		t.Errorf("%d checks too deep, %d allowed, %d index answers: the test tests nothing", errs, allowed, indexHits(on))
	}
}

// A schema write that changes which relations nest rebuilds the index;
// reads at revisions of the old schema walk.
func TestGroupIndexSchemaChange(t *testing.T) {
	ctx := context.Background()
	v1 := "definition user {}\ndefinition team {\n\trelation member: user\n}\ndefinition group {\n\trelation member: user | group#member | team#member\n}\n"
	v2 := "definition user {}\ndefinition team {\n\trelation member: user | team#member\n}\ndefinition group {\n\trelation member: user | group#member | team#member\n}\n"
	st := newTestStore(t, v1, "group:a#member@group:b#member", "group:b#member@team:t#member", "team:t#member@user:ana")
	e := indexedEngine(t, st, Options{CacheSize: -1}, nil)
	defer e.Close()
	s := e.GroupIndexStats(ctx)
	if s.State != "ready" || s.Relations != "group#member,team#member" || s.Builds != 1 {
		t.Fatalf("v1: %+v", s)
	}
	old, _ := st.HeadRevision(ctx)
	if _, _, err := st.WriteSchema(ctx, "v2.zed", []byte(v2)); err != nil {
		t.Fatal(err)
	}
	writeRels(t, st, tuples.Touch, "team:t#member@team:u#member", "team:u#member@user:bo")
	if err := e.SyncGroupIndex(ctx); err != nil {
		t.Fatal(err)
	}
	s = e.GroupIndexStats(ctx)
	if s.State != "ready" || s.Relations != "group#member,team#member" || s.Builds != 1 {
		// Same relations indexed: v2 nests team#member in itself, which
		// was already below group#member.
		t.Fatalf("v2: %+v", s)
	}
	for q, want := range map[string]Permissionship{
		"group:a#member@user:bo": Allowed, "group:a#member@user:ana": Allowed, "team:t#member@user:bo": Allowed, "team:u#member@user:ana": Denied,
	} {
		if got, err := e.Check(ctx, checkReq(t, q)); err != nil || got.Permissionship != want {
			t.Errorf("%s = %s, %v; want %s", q, got.Permissionship, err, want)
		}
	}
	req := checkReq(t, "group:a#member@user:ana")
	req.Consistency = Consistency{Mode: AtExactSnapshot, Token: old.Token()}
	if got, err := e.Check(ctx, req); err != nil || got.Permissionship != Allowed {
		t.Errorf("at the old revision: %s, %v", got.Permissionship, err)
	}

	// A schema where only team#member nests: a new index.
	v3 := "definition user {}\ndefinition team {\n\trelation member: user | team#member\n}\ndefinition group {\n\trelation member: user | team#member\n}\n"
	writeRels(t, st, tuples.Delete, "group:a#member@group:b#member")
	if _, _, err := st.WriteSchema(ctx, "v3.zed", []byte(v3)); err != nil {
		t.Fatal(err)
	}
	if err := e.SyncGroupIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if s = e.GroupIndexStats(ctx); s.State != "ready" || s.Relations != "team#member,group#member" || s.Builds != 2 {
		t.Fatalf("v3: %+v", s)
	}
	before := indexHits(e)
	if got, err := e.Check(ctx, checkReq(t, "group:b#member@user:bo")); err != nil || got.Permissionship != Allowed {
		t.Errorf("v3: %s, %v", got.Permissionship, err)
	}
	if indexHits(e) == before {
		t.Errorf("v3: the index did not answer")
	}
}

// Without SyncGroupIndex, the requests that need the index build it in
// the background (after a few) and bring it up to the head after writes.
func TestGroupIndexBuildsInBackground(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t, "definition user {}\ndefinition group {\n\trelation member: user | group#member\n}\n",
		"group:a#member@group:b#member", "group:b#member@user:ana")
	e := New(st, Options{CacheSize: -1})
	defer e.Close()
	ask := func(q string, want Permissionship) {
		t.Helper()
		if got, err := e.Check(ctx, checkReq(t, q)); err != nil || got.Permissionship != want {
			t.Fatalf("%s = %s, %v; want %s", q, got.Permissionship, err, want)
		}
	}
	wait := func(what string, ok func(GroupIndexStats) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			ask("group:a#member@user:ana", Allowed)
			s := e.GroupIndexStats(ctx)
			if ok(s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, s)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if s := e.GroupIndexStats(ctx); s.State != "waiting" {
		t.Fatalf("before any request: %+v", s)
	}
	wait("built", func(s GroupIndexStats) bool { return s.State == "ready" && s.Lag == 0 })
	head := writeRels(t, st, tuples.Touch, "group:b#member@group:c#member", "group:c#member@user:bo")
	if s := e.GroupIndexStats(ctx); s.Lag == 0 {
		t.Fatalf("after a write, before a request: %+v", s)
	}
	ask("group:a#member@user:bo", Allowed) // walks, and starts the catch-up
	wait("caught up", func(s GroupIndexStats) bool { return s.Revision == head && s.Lag == 0 })
	before := indexHits(e)
	ask("group:a#member@user:bo", Allowed)
	ask("group:a#member@user:cy", Denied)
	if indexHits(e) != before+2 {
		t.Errorf("the index answered %d checks, want 2", indexHits(e)-before)
	}
}

// Checks with the index on while groups are written, the index catching
// up in the background and from a goroutine of its own: every answer is
// asked again, index off, at the revision it reported. Run under the race
// detector (go test -race -short).
func TestGroupIndexConcurrent(t *testing.T) {
	ctx := context.Background()
	st := newTestStore(t, groupSchemaPlain)
	prog, _, err := st.Schema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slots := groupSlots(prog)
	queries := groupQueries(prog)
	e := indexedEngine(t, st, Options{CacheSize: 512, Quantization: -1}, nil)
	defer e.Close()
	off := New(st, Options{CacheSize: -1, DisableGroupIndex: true})
	rounds := 300
	if testing.Short() {
		rounds = 60
	}
	type answer struct {
		q   CheckRequest
		res CheckResult
	}
	var (
		answers []answer
		mu      sync.Mutex
		wg      sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		defer close(done)
		r := rand.New(rand.NewPCG(7, 14))
		var live []tuples.Relationship
		for range rounds {
			u := randomGroupUpdate(r, slots, live)
			rev, err := st.Write(ctx, []tuples.Update{u})
			if err != nil {
				t.Error(err)
				return
			}
			live = readAll(t, st, rev)
		}
	}()
	wg.Add(1)
	go func() { // a follower besides the background one
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := e.SyncGroupIndex(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for {
				select {
				case <-done:
					return
				default:
				}
				q := queries[r.IntN(len(queries))]
				q.Consistency = fresh
				res, err := e.Check(ctx, q)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				answers = append(answers, answer{q, res})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, a := range answers {
		q := a.q
		q.Consistency = Consistency{Mode: AtExactSnapshot, Token: a.res.Revision.Token()}
		want, err := off.Check(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if want.Permissionship != a.res.Permissionship {
			t.Errorf("%s#%s@%s at %d: %s with the index, %s without", q.Resource, q.Permission, q.Subject, a.res.Revision, a.res.Permissionship, want.Permissionship)
		}
	}
	t.Logf("%d answers checked again; the index answered %d sub-problems", len(answers), indexHits(e))
}

// The upper relations are indexed only where memory allows; the core must
// fit. Answers are the same whichever the index holds.
func TestGroupIndexMemoryBound(t *testing.T) {
	ctx := context.Background()
	src := "definition user {}\ndefinition team {\n\trelation member: user | team#member\n}\ndefinition department {\n\trelation member: user | team#member\n}\n"
	var rels []string
	for i := range 40 {
		rels = append(rels, fmt.Sprintf("team:t%d#member@team:t%d#member", i, i+1), fmt.Sprintf("team:t%d#member@user:u%d", i, i))
		rels = append(rels, fmt.Sprintf("department:d%d#member@team:t%d#member", i%5, i), fmt.Sprintf("department:d%d#member@user:v%d", i%5, i))
	}
	st := newTestStore(t, src, rels...)
	full := indexedEngine(t, st, Options{CacheSize: -1}, nil)
	s := full.GroupIndexStats(ctx)
	if s.State != "ready" || s.Relations != "team#member,department#member" {
		t.Fatalf("unbounded: %+v", s)
	}
	// Room for the core (teams: about half the index) but not for the
	// departments under half the bound.
	coreOnly := indexedEngine(t, st, Options{CacheSize: -1, GroupIndexMaxBytes: s.Bytes}, nil)
	if s := coreOnly.GroupIndexStats(ctx); s.State != "ready" || s.Relations != "team#member" {
		t.Fatalf("bounded: %+v", s)
	}
	none := New(st, Options{CacheSize: -1, GroupIndexMaxBytes: 100})
	if err := none.SyncGroupIndex(ctx); !errors.Is(err, errIndexTooLarge) {
		t.Fatalf("a core too large: %v", err)
	}
	if s := none.GroupIndexStats(ctx); s.State != "refused" {
		t.Fatalf("a core too large: %+v", s)
	}
	off := New(st, Options{CacheSize: -1, DisableGroupIndex: true})
	compare := func() {
		t.Helper()
		for i := 0; i < 45; i += 2 {
			for _, q := range []string{
				fmt.Sprintf("department:d%d#member@user:u%d", i%6, i), fmt.Sprintf("department:d%d#member@user:v%d", i%6, i),
				fmt.Sprintf("team:t%d#member@user:u%d", i%7, i), fmt.Sprintf("department:d%d#member@team:t%d#member", i%6, i),
			} {
				want, err := off.Check(ctx, checkReq(t, q))
				if err != nil {
					t.Fatal(err)
				}
				for j, e := range []*Engine{full, coreOnly, none} {
					if got, err := e.Check(ctx, checkReq(t, q)); err != nil || got.Permissionship != want.Permissionship {
						t.Errorf("%s: engine %d %s, %v; want %s", q, j, got.Permissionship, err, want.Permissionship)
					}
				}
			}
		}
	}
	compare()
	// Growing past the bound while following the changes: built again,
	// without the departments.
	follow := indexedEngine(t, st, Options{CacheSize: -1, GroupIndexMaxBytes: 2*s.Bytes + 1}, nil)
	if s := follow.GroupIndexStats(ctx); s.Relations != "team#member,department#member" {
		t.Fatalf("before growing: %+v", s)
	}
	var more []string
	for i := range 2000 {
		more = append(more, fmt.Sprintf("department:d%d#member@user:w%d", i%5, i))
	}
	writeRels(t, st, tuples.Touch, more...)
	if err := follow.SyncGroupIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if s := follow.GroupIndexStats(ctx); s.Relations != "team#member" || s.Builds != 2 || s.Lag != 0 {
		t.Fatalf("after growing: %+v", s)
	}
	full = follow
	compare()
}

// A caveated nesting naming a group before the group has relationships of
// its own: walking up through the index must still see it (it found
// nothing once, where the group's node was made later without it).
func TestGroupIndexUncleanNestingFirst(t *testing.T) {
	ctx := context.Background()
	src := "caveat cav(x int) {\n\tx > 1\n}\ndefinition user {}\ndefinition group {\n\trelation member: user | group#member\n}\n" +
		"definition team {\n\trelation member: user | team#member | group#member with cav\n}\n"
	st := newTestStore(t, src, "team:t#member@team:u#member", "team:t#member@group:g#member[cav]")
	e := indexedEngine(t, st, Options{CacheSize: -1}, nil)
	off := New(st, Options{CacheSize: -1, DisableGroupIndex: true})
	writeRels(t, st, tuples.Touch, "group:g#member@user:ana")
	if err := e.SyncGroupIndex(ctx); err != nil {
		t.Fatal(err)
	}
	q := LookupResourcesRequest{ResourceType: "team", Permission: "member", Subject: Subject{Type: "user", ID: "ana"}, Consistency: fresh}
	want, werr := lookupAll(off, q)
	got, gerr := lookupAll(e, q)
	if werr != nil || gerr != nil || !slices.Equal(got, want) || len(want) != 1 {
		t.Errorf("index on %v (%v), off %v (%v)", got, gerr, want, werr)
	}
}

// tooOldFeed is a store whose change feed has been garbage-collected up
// to revision goneBefore.
type tooOldFeed struct {
	datastore.Datastore
	goneBefore atomic.Uint64
}

func (s *tooOldFeed) Changes(ctx context.Context, after tuples.Revision, limit int) ([]tuples.ChangeSet, tuples.Revision, error) {
	if uint64(after) < s.goneBefore.Load() {
		return nil, 0, fmt.Errorf("changes after %d: %w", after, tuples.ErrRevisionTooOld)
	}
	return s.Datastore.Changes(ctx, after, limit)
}

// An index whose change feed is gone is built again from the head.
func TestGroupIndexFeedGone(t *testing.T) {
	ctx := context.Background()
	st := &tooOldFeed{Datastore: newTestStore(t, "definition user {}\ndefinition group {\n\trelation member: user | group#member\n}\n",
		"group:a#member@group:b#member", "group:b#member@user:ana")}
	e := indexedEngine(t, st, Options{CacheSize: -1}, nil)
	head := writeRels(t, st, tuples.Touch, "group:b#member@group:c#member", "group:c#member@user:bo")
	st.goneBefore.Store(uint64(head))
	if err := e.SyncGroupIndex(ctx); err != nil {
		t.Fatal(err)
	}
	s := e.GroupIndexStats(ctx)
	if s.Builds != 2 || s.Revision != head || s.Lag != 0 {
		t.Fatalf("after the feed was gone: %+v", s)
	}
	before := indexHits(e)
	if got, err := e.Check(ctx, checkReq(t, "group:a#member@user:bo")); err != nil || got.Permissionship != Allowed || indexHits(e) != before+1 {
		t.Errorf("group:a#member@user:bo = %s, %v (%d index answers)", got.Permissionship, err, indexHits(e)-before)
	}
}
