package bench

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// The hot paths of a check, timed with `go test -bench . -benchmem ./bench`
// over the gifting dataset at 100,000 relationships in an on-disk store
// (encoding a key is timed in tuples: BenchmarkGet and friends).

var fixture struct {
	once  sync.Once
	ds    *Gifting
	store *tuples.Store
	err   error
}

// benchStore loads the gifting dataset once for every benchmark of the run.
func benchStore(b *testing.B) (*Gifting, *tuples.Store) {
	b.Helper()
	fixture.once.Do(func() {
		ds := NewGifting(1, 100_000)
		dir, err := benchDir()
		if err != nil {
			fixture.err = err
			return
		}
		store, err := tuples.Open(dir, tuples.Options{})
		if err != nil {
			fixture.err = err
			return
		}
		name, src := ds.Schema()
		if _, _, err := store.WriteSchema(context.Background(), name, src); err != nil {
			fixture.err = err
			return
		}
		if _, err := load(context.Background(), store, ds, nil); err != nil {
			fixture.err = err
			return
		}
		fixture.ds, fixture.store = ds, store
	})
	if fixture.err != nil {
		b.Fatal(fixture.err)
	}
	return fixture.ds, fixture.store
}

// queries draws n checks of one class.
func queries(ds Dataset, class, n int) []CheckQuery {
	r := rand.New(rand.NewPCG(11, uint64(class)))
	qs := make([]CheckQuery, n)
	for i := range qs {
		qs[i] = ds.Check(r, class)
	}
	return qs
}

// runChecks times checks cycling over qs, failing on a wrong answer.
func runChecks(b *testing.B, eng *engine.Engine, qs []CheckQuery) {
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := &qs[i%len(qs)]
		res, err := eng.Check(ctx, q.Req)
		if err != nil || res.Permissionship != q.Want {
			b.Fatalf("%s#%s@%s: %v %v, want %v", q.Req.Resource, q.Req.Permission, q.Req.Subject, res.Permissionship, err, q.Want)
		}
	}
}

// BenchmarkParseRelationship times tuples.Parse of a typical relationship
// (a subject set of a nested team).
func BenchmarkParseRelationship(b *testing.B) {
	const s = "team:o12_d3_t41#member@team:o12_d3_t107#member"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tuples.Parse(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckCacheHit times a check answered from the check cache: one
// four-hop check asked again and again.
func BenchmarkCheckCacheHit(b *testing.B) {
	ds, store := benchStore(b)
	eng := engine.New(store, engine.Options{})
	runChecks(b, eng, queries(ds, 6, 1)) // depth 4 allowed
}

// BenchmarkCheckOneHop times an uncached check proved by one relationship
// (send#view by its sender), over 1,000 different checks.
func BenchmarkCheckOneHop(b *testing.B) {
	ds, store := benchStore(b)
	eng := engine.New(store, engine.Options{CacheSize: -1})
	runChecks(b, eng, queries(ds, 0, 1000)) // depth 1 allowed
}

// BenchmarkCheckFourHop times an uncached check proved through four
// relationships (campaign or template -> department -> team -> team ->
// user), over 1,000 different checks; and the denied check of the same
// shape, which must explore every path.
func BenchmarkCheckFourHop(b *testing.B) {
	ds, store := benchStore(b)
	eng := engine.New(store, engine.Options{CacheSize: -1})
	b.Run("allowed", func(b *testing.B) { runChecks(b, eng, queries(ds, 6, 1000)) })
	b.Run("denied", func(b *testing.B) { runChecks(b, eng, queries(ds, 7, 1000)) })
}

// BenchmarkLookupResources times LookupResources of every send an
// organisation admin views (about a thousand, depending on the
// organisation), uncached, and reports the results per lookup.
func BenchmarkLookupResources(b *testing.B) {
	ds, store := benchStore(b)
	eng := engine.New(store, engine.Options{CacheSize: -1})
	r := rand.New(rand.NewPCG(5, 6))
	reqs := make([]engine.LookupResourcesRequest, 100)
	for i := range reqs {
		reqs[i] = ds.LookupResources(r, 0)
	}
	ctx := context.Background()
	var found int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := eng.LookupResources(ctx, reqs[i%len(reqs)], func(engine.LookupResult) bool { found++; return true }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(found)/float64(b.N), "results/op")
}

// BenchmarkImport times loading the gifting dataset (200,000
// relationships) into a new on-disk store through load (Store.Import),
// generation included, and reports relationships per second.
func BenchmarkImport(b *testing.B) {
	ds := NewGifting(1, 200_000)
	name, src := ds.Schema()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		store, err := tuples.Open(b.TempDir(), tuples.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := store.WriteSchema(context.Background(), name, src); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := load(context.Background(), store, ds, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		store.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(ds.Relationships())*float64(b.N)/b.Elapsed().Seconds(), "rels/s")
}
