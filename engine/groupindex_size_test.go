package engine_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/reach-authz/reach/bench"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// BenchmarkGroupIndexSize builds the group index of reach bench's datasets
// (bench.NewGifting, bench.NewCampaigns) at -engine.rels relationships,
// read straight from the generator (no store: the index's size does not
// depend on it), and reports its size: the index's own estimate
// (index-bytes) and the heap it holds after a GC (heap-bytes).
//
//	go test ./engine -run '^$' -bench GroupIndexSize -benchtime 1x -args -engine.rels 10000000
func BenchmarkGroupIndexSize(b *testing.B) {
	rels := int64(100_000)
	if f := flag.Lookup("engine.rels"); f != nil {
		rels, _ = strconv.ParseInt(f.Value.String(), 10, 64)
	}
	for _, ds := range []bench.Dataset{bench.NewGifting(1, rels), bench.NewCampaigns(1, rels)} {
		b.Run(ds.Name(), func(b *testing.B) {
			name, src := ds.Schema()
			prog, _, err := schema.Compile(name, src)
			if err != nil {
				b.Fatal(err)
			}
			store := &generatorStore{ds: ds, prog: prog}
			var st engine.GroupIndexStats
			var heap uint64
			var took time.Duration
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				e := engine.New(store, engine.Options{CacheSize: -1, GroupIndexMaxBytes: 4 << 30})
				if err := e.SyncGroupIndex(context.Background()); err != nil {
					b.Fatal(err)
				}
				took = time.Since(start)
				runtime.GC()
				runtime.ReadMemStats(&after)
				st = e.GroupIndexStats(context.Background())
				heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
				runtime.KeepAlive(e)
			}
			b.ReportMetric(float64(st.Bytes), "index-bytes")
			b.ReportMetric(float64(heap), "heap-bytes")
			b.ReportMetric(float64(ds.Relationships()), "rels")
			b.Logf("%s, %d relationships: %s; %d groups, %d edges, %d members, %d unclean, %d pairs; estimate %.1f MiB, heap %.1f MiB; built in %v (%d generator passes)",
				ds.Name(), ds.Relationships(), st.State+" "+st.Relations, st.Groups, st.Edges, st.Members, st.Unclean, st.Pairs,
				float64(st.Bytes)/(1<<20), float64(heap)/(1<<20), took.Round(time.Millisecond), store.passes)
		})
	}
}

// generatorStore serves a dataset's relationships from its generator at
// revision 1: enough for the group index (ForEach, Changes, the schema).
type generatorStore struct {
	ds     bench.Dataset
	prog   *schema.Program
	passes int
}

func (g *generatorStore) HeadRevision(context.Context) (tuples.Revision, error) { return 1, nil }

func (g *generatorStore) Snapshot(context.Context, tuples.Revision) (tuples.Snapshot, error) {
	return schemaOnly{g.prog}, nil
}

func (g *generatorStore) ForEach(ctx context.Context, _ tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error) {
	g.passes++
	stop := fmt.Errorf("stop")
	err := g.ds.Generate(ctx, func(r tuples.Relationship) error {
		if !f.Matches(r) {
			return nil
		}
		ok, err := fn(r)
		if err != nil {
			return err
		}
		if !ok {
			return stop
		}
		return nil
	})
	if err == stop {
		err = nil
	}
	return 1, err
}

func (g *generatorStore) Changes(context.Context, tuples.Revision, int) ([]tuples.ChangeSet, tuples.Revision, error) {
	return nil, 1, nil
}

// schemaOnly is a snapshot that has a schema and no relationships.
type schemaOnly struct{ prog *schema.Program }

func (s schemaOnly) Revision() tuples.Revision { return 1 }
func (s schemaOnly) Schema() *schema.Program   { return s.prog }
func (s schemaOnly) Close()                    {}
func (s schemaOnly) Get(string, string, string, string, string, string) (tuples.Relationship, bool, error) {
	return tuples.Relationship{}, false, nil
}
func (s schemaOnly) Subjects(string, string, string, string, string, func(tuples.Relationship) bool) error {
	return nil
}
func (s schemaOnly) Resources(string, string, string, string, string, func(tuples.Relationship) bool) error {
	return nil
}
