package engine

// Benchmarks on seed-shaped data (seed 000, the gifting portal: an
// organisation of departments; each department has an admin, direct
// members and a chain of three nested teams; every user owns sends that
// belong to their department). Sizes and store:
//
//	go test ./engine/ -run '^$' -bench . -benchtime 2000x
//	go test ./engine/ -run '^$' -bench 'Check$' -args -engine.rels 1000000 -engine.dir /tmp/reach-bench
//
// -engine.rels sets the number of relationships (default 100,000);
// -engine.dir keeps the store on disk there (built once, reused by later
// runs with the same size), instead of in memory. Check benchmarks report
// p50-ns and p99-ns besides ns/op.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

var (
	benchRels = flag.Int("engine.rels", 100_000, "relationships in the engine benchmarks' dataset")
	benchDir  = flag.String("engine.dir", "", "keep the engine benchmarks' store on disk in this directory")
)

const giftingSchema = `
definition user {}

definition organization {
	relation admin: user
	permission manage = admin
}

definition team {
	relation member: user | team#member
}

definition department {
	relation org: organization
	relation admin: user
	relation member: user | team#member
	permission manage = admin + org->manage
	permission view = member + manage
}

definition send {
	relation owner: user
	relation department: department
	permission view = owner + department->view
	permission edit = owner + department->manage
}
`

// Shape of one department: 100 direct members, then a chain of three
// nested teams (t0 holds t1 holds t2) of 50 users each; every user owns 4
// sends. 2,256 relationships.
const (
	deptDirect    = 100
	deptTeamSize  = 50
	deptTeams     = 3
	deptUsers     = deptDirect + deptTeams*deptTeamSize
	sendsPerUser  = 4
	deptsPerOrg   = 10
	relsPerDept   = deptUsers*(1+2*sendsPerUser) + deptTeams + 2
	deptSends     = deptUsers * sendsPerUser
	benchPoolSize = 1000
)

// giftingData is a generated dataset in a store.
type giftingData struct {
	store datastore.Datastore
	depts int
}

func userID(d, k int) string { return fmt.Sprintf("u%d_%d", d, k) }
func sendID(d, k int) string { return fmt.Sprintf("s%d_%d", d, k) }

// generate calls emit with every relationship of a dataset of depts
// departments.
func generateGifting(depts int, emit func(tuples.Relationship) error) error {
	rel := func(rt, rid, r, st, sid, srel string) error {
		return emit(tuples.Relationship{ResourceType: rt, ResourceID: rid, Relation: r, SubjectType: st, SubjectID: sid, SubjectRelation: srel})
	}
	for d := 0; d < depts; d++ {
		dept := strconv.Itoa(d)
		org := strconv.Itoa(d / deptsPerOrg)
		team := func(i int) string { return fmt.Sprintf("t%d_%d", d, i) }
		errs := []error{
			rel("department", dept, "org", "organization", org, ""),
			rel("department", dept, "admin", "user", "admin"+dept, ""),
			rel("department", dept, "member", "team", team(0), "member"),
		}
		for i := 1; i < deptTeams; i++ {
			errs = append(errs, rel("team", team(i-1), "member", "team", team(i), "member"))
		}
		if d%deptsPerOrg == 0 {
			errs = append(errs, rel("organization", org, "admin", "user", "orgadmin"+org, ""))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		for k := 0; k < deptUsers; k++ {
			u := userID(d, k)
			var err error
			if k < deptDirect {
				err = rel("department", dept, "member", "user", u, "")
			} else {
				err = rel("team", team((k-deptDirect)/deptTeamSize), "member", "user", u, "")
			}
			if err != nil {
				return err
			}
			for s := 0; s < sendsPerUser; s++ {
				id := sendID(d, k*sendsPerUser+s)
				if err := errors.Join(rel("send", id, "owner", "user", u, ""), rel("send", id, "department", "department", dept, "")); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

var (
	benchDataMu sync.Mutex
	benchData   = map[string]*giftingData{}
)

// loadGifting returns the dataset of about -engine.rels relationships,
// building it once per process (and once per directory on disk).
func loadGifting(b *testing.B) *giftingData {
	b.Helper()
	depts := max(2, *benchRels/relsPerDept)
	key := fmt.Sprint(depts, *benchDir)
	benchDataMu.Lock()
	defer benchDataMu.Unlock()
	if d := benchData[key]; d != nil {
		return d
	}
	opts := tuples.Options{InMemory: *benchDir == ""}
	dir := ""
	if !opts.InMemory {
		dir = filepath.Join(*benchDir, fmt.Sprintf("gifting-%d", depts))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	st, err := tuples.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if head, _ := st.HeadRevision(context.Background()); head == 0 {
		start := time.Now()
		if _, _, err := st.WriteSchema(ctx, "gifting.zed", []byte(giftingSchema)); err != nil {
			b.Fatal(err)
		}
		batch := make([]tuples.Update, 0, st.MaxBatch())
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			_, err := st.Write(ctx, batch)
			batch = batch[:0]
			return err
		}
		err := generateGifting(depts, func(r tuples.Relationship) error {
			batch = append(batch, tuples.Update{Op: tuples.Touch, Relationship: r})
			if len(batch) == cap(batch) {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("loaded %d relationships (%d departments) in %v", depts*relsPerDept+depts/deptsPerOrg, depts, time.Since(start).Round(time.Millisecond))
	}
	d := &giftingData{store: st, depts: depts}
	benchData[key] = d
	return d
}

// depthQueries returns benchPoolSize allowed checks of send#view (or edit)
// at the given depth: the number of relationships on the path from the
// send to the user.
func (g *giftingData) depthQueries(depth int, r *rand.Rand) []CheckRequest {
	var out []CheckRequest
	for len(out) < benchPoolSize {
		d := r.IntN(g.depts)
		var k int
		switch depth {
		case 1: // the owner
			k = r.IntN(deptUsers)
		case 2: // send -> department -> direct member
			k = r.IntN(deptDirect)
		default: // through 1, 2 or 3 nested teams
			k = deptDirect + (depth-3)*deptTeamSize + r.IntN(deptTeamSize)
		}
		owner := k
		if depth > 1 { // a send of someone else in the department
			owner = (k + 1 + r.IntN(deptUsers-1)) % deptUsers
		}
		send := Object{"send", sendID(d, owner*sendsPerUser+r.IntN(sendsPerUser))}
		out = append(out, CheckRequest{Resource: send, Permission: "view", Subject: Subject{Type: "user", ID: userID(d, k)}})
	}
	return out
}

// deniedQueries returns checks of users of another department.
func (g *giftingData) deniedQueries(r *rand.Rand) []CheckRequest {
	var out []CheckRequest
	for len(out) < benchPoolSize {
		d := r.IntN(g.depts)
		other := (d + 1 + r.IntN(g.depts-1)) % g.depts
		out = append(out, CheckRequest{Resource: Object{"send", sendID(d, r.IntN(deptSends))}, Permission: "view",
			Subject: Subject{Type: "user", ID: userID(other, r.IntN(deptUsers))}})
	}
	return out
}

// runChecks times each check and reports the percentiles.
func runChecks(b *testing.B, e *Engine, qs []CheckRequest, want Permissionship) {
	b.Helper()
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		q := qs[i%len(qs)]
		i++
		start := time.Now()
		res, err := e.Check(ctx, q)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if res.Permissionship != want {
			b.Fatalf("%s#%s@%s = %s, want %s", q.Resource, q.Permission, q.Subject, res.Permissionship, want)
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkCheck: allowed checks at depths 1 to 5 and denied ones, with the
// cache warm (every query asked before: the top-level hit) and off (every
// check walks the store; the memo only lives for one request).
func BenchmarkCheck(b *testing.B) {
	g := loadGifting(b)
	type class struct {
		name string
		qs   []CheckRequest
		want Permissionship
	}
	r := rand.New(rand.NewPCG(1, 2))
	var classes []class
	for depth := 1; depth <= 5; depth++ {
		classes = append(classes, class{fmt.Sprintf("depth=%d", depth), g.depthQueries(depth, r), Allowed})
	}
	classes = append(classes, class{"denied", g.deniedQueries(r), Denied})
	for _, c := range classes {
		for _, index := range []string{"on", "off"} {
			opts := Options{DisableGroupIndex: index == "off"}
			b.Run(c.name+"/cache=warm/index="+index, func(b *testing.B) {
				e := benchEngine(b, g, opts)
				for _, q := range c.qs { // warm up
					if _, err := e.Check(context.Background(), q); err != nil {
						b.Fatal(err)
					}
				}
				runChecks(b, e, c.qs, c.want)
			})
			b.Run(c.name+"/cache=off/index="+index, func(b *testing.B) {
				opts := opts
				opts.CacheSize = -1
				runChecks(b, benchEngine(b, g, opts), c.qs, c.want)
			})
		}
	}
}

// benchEngine returns an engine over g with opts, its group index (unless
// off) built before the benchmark starts.
func benchEngine(b *testing.B, g *giftingData, opts Options) *Engine {
	b.Helper()
	e := New(g.store, opts)
	b.Cleanup(e.Close)
	if err := e.SyncGroupIndex(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkGroupIndexBuild: building the group index from the store (a
// read of every team membership), with its size: the index's estimate
// (index-bytes) and the heap it took (heap-bytes). One build takes a while
// at 1M relationships: -bench GroupIndexBuild -benchtime 3x.
func BenchmarkGroupIndexBuild(b *testing.B) {
	g := loadGifting(b)
	var st GroupIndexStats
	var heap uint64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		e := New(g.store, Options{CacheSize: -1})
		if err := e.SyncGroupIndex(context.Background()); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		st = e.GroupIndexStats(context.Background())
		heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
		runtime.KeepAlive(e)
	}
	b.ReportMetric(float64(st.Bytes), "index-bytes")
	b.ReportMetric(float64(heap), "heap-bytes")
	b.ReportMetric(float64(st.Groups), "groups")
	b.ReportMetric(float64(st.Members), "members")
}

// BenchmarkCheckParallel: warm checks from every core at once, with the
// cache in one shard or in several (a shard locks on every get).
func BenchmarkCheckParallel(b *testing.B) {
	g := loadGifting(b)
	qs := g.depthQueries(4, rand.New(rand.NewPCG(3, 4)))
	for _, shards := range []int{1, defaultCacheShards} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			e := New(g.store, Options{})
			e.cache = newCheckCache(DefaultCacheMaxBytes, 0, shards)
			for _, q := range qs {
				if _, err := e.Check(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
			var next sync.Mutex
			seed := uint64(0)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				next.Lock()
				seed++
				r := rand.New(rand.NewPCG(seed, 5))
				next.Unlock()
				for pb.Next() {
					res, err := e.Check(context.Background(), qs[r.IntN(len(qs))])
					if err != nil || res.Permissionship != Allowed {
						b.Errorf("%v %v", res.Permissionship, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCheckBulk: 100 checks of mixed depths (20 of each depth 1 to 5)
// in one CheckBulk, with the cache off (the shared memo only: every bulk
// walks the store) and warm (every check asked before).
func BenchmarkCheckBulk(b *testing.B) {
	g := loadGifting(b)
	r := rand.New(rand.NewPCG(5, 6))
	var bulks [][]CheckRequest
	for i := 0; i < 50; i++ {
		var reqs []CheckRequest
		for depth := 1; depth <= 5; depth++ {
			reqs = append(reqs, g.depthQueries(depth, r)[:20]...)
		}
		bulks = append(bulks, reqs)
	}
	for _, cache := range []int{-1, 0} {
		b.Run(fmt.Sprintf("cache=%v", map[int]string{0: "warm", -1: "off"}[cache]), func(b *testing.B) {
			e := New(g.store, Options{CacheSize: cache})
			if cache == 0 {
				for _, reqs := range bulks {
					if _, err := e.CheckBulk(context.Background(), reqs); err != nil {
						b.Fatal(err)
					}
				}
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				res, err := e.CheckBulk(context.Background(), bulks[i%len(bulks)])
				i++
				if err != nil || len(res) != 100 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLookupResources: the sends a direct member of a department may
// view: the department's 1,000 among all the sends.
func BenchmarkLookupResources(b *testing.B) {
	g := loadGifting(b)
	for _, cache := range []int{0, -1} {
		b.Run(fmt.Sprintf("cache=%v", map[int]string{0: "on", -1: "off"}[cache]), func(b *testing.B) {
			e := New(g.store, Options{CacheSize: cache})
			r := rand.New(rand.NewPCG(7, 8))
			b.ReportAllocs()
			var lat []time.Duration
			for b.Loop() {
				d := r.IntN(g.depts)
				n := 0
				start := time.Now()
				_, err := e.LookupResources(context.Background(), LookupResourcesRequest{ResourceType: "send", Permission: "view",
					Subject: Subject{Type: "user", ID: userID(d, r.IntN(deptDirect))}}, func(LookupResult) bool {
					n++
					return true
				})
				lat = append(lat, time.Since(start))
				if err != nil || n != deptSends {
					b.Fatalf("%d results, %v; want %d", n, err, deptSends)
				}
			}
			reportPercentiles(b, lat)
			b.ReportMetric(float64(g.depts*deptSends), "sends")
		})
	}
}

// The generator's shape is what the benchmarks assume.
func TestGiftingShape(t *testing.T) {
	n := 0
	seen := map[string]bool{}
	err := generateGifting(deptsPerOrg+1, func(r tuples.Relationship) error {
		n++
		if k := r.String(); seen[k] {
			return fmt.Errorf("duplicate %s", k)
		} else {
			seen[k] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (deptsPerOrg+1)*relsPerDept + 2; n != want {
		t.Errorf("%d relationships, want %d", n, want)
	}
	var rels []string
	generateGifting(2, func(r tuples.Relationship) error {
		rels = append(rels, r.String())
		return nil
	})
	st := newTestStore(t, giftingSchema, rels...)
	e := New(st, Options{})
	g := &giftingData{store: st, depts: 2}
	r := rand.New(rand.NewPCG(9, 9))
	for depth := 1; depth <= 5; depth++ {
		for _, q := range g.depthQueries(depth, r)[:50] {
			q.Consistency, q.Explain = fresh, true
			res, err := e.Check(context.Background(), q)
			if err != nil || res.Permissionship != Allowed {
				t.Fatalf("depth %d: %s#%s@%s = %s, %v", depth, q.Resource, q.Permission, q.Subject, res.Permissionship, err)
			}
			if got := countRelationships(res.Explanation); got != depth {
				t.Errorf("depth %d: %s#%s@%s follows %d relationships", depth, q.Resource, q.Permission, q.Subject, got)
			}
		}
	}
	for _, q := range g.deniedQueries(r)[:50] {
		q.Consistency = fresh
		if res, err := e.Check(context.Background(), q); err != nil || res.Permissionship != Denied {
			t.Fatalf("%s#%s@%s = %s, %v", q.Resource, q.Permission, q.Subject, res.Permissionship, err)
		}
	}
	var ids []string
	if _, err := e.LookupResources(context.Background(), LookupResourcesRequest{ResourceType: "send", Permission: "view",
		Subject: Subject{Type: "user", ID: userID(1, 3)}, Consistency: fresh}, func(r LookupResult) bool {
		ids = append(ids, r.ResourceID)
		return true
	}); err != nil || len(ids) != deptSends || !sort.StringsAreSorted(ids) {
		t.Errorf("lookup: %d ids, %v", len(ids), err)
	}
}

// countRelationships counts the relationships an allowed proof follows.
func countRelationships(x *Explanation) int {
	n := 0
	if x.Rule == RuleRelationship && x.Result == Allowed {
		n++
	}
	for _, c := range x.Children {
		if c.Result == Allowed {
			n += countRelationships(c)
		}
	}
	return n
}
