package bench

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	goldenfile "github.com/reach-authz/reach/internal/golden"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

func TestSchemasCompile(t *testing.T) {
	for _, name := range Datasets() {
		ds, err := NewDataset(name, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		file, src := ds.Schema()
		_, diags, err := schema.Compile(file, src)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, d := range diags {
			t.Errorf("%s: %s", file, d)
		}
	}
}

// TestGenerate checks, for several sizes, that Generate emits exactly
// Relationships() relationships, all distinct and all allowed by the schema,
// and that the size lands near the target (whole organisations or accounts,
// so above it by at most one unit).
func TestGenerate(t *testing.T) {
	for _, name := range Datasets() {
		for _, target := range []int64{1, 5_000, 40_000} {
			t.Run(fmt.Sprintf("%s/%d", name, target), func(t *testing.T) {
				ds, err := NewDataset(name, 7, target)
				if err != nil {
					t.Fatal(err)
				}
				file, src := ds.Schema()
				prog, _, err := schema.Compile(file, src)
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				err = ds.Generate(context.Background(), func(r tuples.Relationship) error {
					s := r.String()
					if seen[s] {
						return fmt.Errorf("%s emitted twice", s)
					}
					seen[s] = true
					if err := tuples.ValidateAgainst(prog, r); err != nil {
						return err
					}
					// what load writes must parse back to r
					line := strings.TrimSuffix(string(appendRelationship(nil, &r)), "\n")
					if back, err := tuples.Parse(line); err != nil || back.String() != s {
						return fmt.Errorf("%q parses back as %v, %v", line, back, err)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if got := int64(len(seen)); got != ds.Relationships() {
					t.Fatalf("Generate emitted %d relationships, Relationships() says %d", got, ds.Relationships())
				}
				if ds.Relationships() < target {
					t.Errorf("%d relationships, below the target %d", ds.Relationships(), target)
				}
				if before := ds.Relationships() - lastUnit(ds); before >= target {
					t.Errorf("%d relationships: the target %d was reached before the last unit", ds.Relationships(), target)
				}
			})
		}
	}
}

// TestGenerateGolden pins the generated data: its first relationships and
// a hash of all of them, so that a change to a generator (which changes
// every published figure) is deliberate. Run with -update to accept one.
func TestGenerateGolden(t *testing.T) {
	for _, name := range Datasets() {
		t.Run(name, func(t *testing.T) {
			ds, err := NewDataset(name, 1, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			h := fnv.New64a()
			n := 0
			err = ds.Generate(context.Background(), func(r tuples.Relationship) error {
				s := r.String()
				if n < 40 {
					b.WriteString(s + "\n")
				}
				h.Write([]byte(s + "\n"))
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "...\n%d relationships, fnv64a %016x\n", n, h.Sum64())
			golden(t, filepath.Join("testdata", name+".golden"), b.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	goldenfile.Check(t, path, got)
}

func TestSeedsDiffer(t *testing.T) {
	first := func(seed uint64) string {
		ds := NewGifting(seed, 3000)
		var b strings.Builder
		ds.Generate(context.Background(), func(r tuples.Relationship) error {
			b.WriteString(r.String())
			return nil
		})
		return b.String()
	}
	if first(1) == first(2) {
		t.Error("seeds 1 and 2 generate the same data")
	}
	if first(3) != first(3) {
		t.Error("seed 3 generates different data twice")
	}
}

// TestGiftingShape checks the skew the dataset promises.
func TestGiftingShape(t *testing.T) {
	g := NewGifting(1, 1_000_000)
	var depts, large, deep int
	for o := 0; o < g.Organizations(); o++ {
		for d := 0; d < g.depts(o); d++ {
			depts++
			if g.large(o, d) {
				large++
				if g.users(o, d) < 100*8 {
					t.Fatalf("large department o%d_d%d has %d users", o, d, g.users(o, d))
				}
			}
			if tl := g.teams(o, d); tl.n[3] > 0 {
				deep++
			}
		}
	}
	if large == 0 || large > depts/10 {
		t.Errorf("%d large departments of %d: want a few", large, depts)
	}
	if deep == 0 {
		t.Error("no department nests teams three levels deep")
	}
	// every nested team's parent is one level up
	for d := 0; d < g.depts(0); d++ {
		tl := g.teams(0, d)
		for tm := 0; tm < tl.total(); tm++ {
			if l := tl.level(tm); l > 0 {
				if p := g.parent(0, d, tl, tm); tl.level(p) != l-1 {
					t.Fatalf("team %d at level %d has parent %d at level %d", tm, l, p, tl.level(p))
				}
			}
		}
	}
}

// TestGenerateStreams checks that generating does not keep what it
// emitted: the heap after a million relationships is about what it was.
func TestGenerateStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a million relationships")
	}
	for _, name := range Datasets() {
		ds, _ := NewDataset(name, 1, 1_000_000)
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		var peak uint64
		n := 0
		ds.Generate(context.Background(), func(tuples.Relationship) error {
			if n++; n%100_000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&m1)
				peak = max(peak, m1.HeapAlloc)
			}
			return nil
		})
		if int64(n) != ds.Relationships() {
			t.Fatalf("%s: generated %d relationships, want %d", name, n, ds.Relationships())
		}
		if grew := int64(peak) - int64(m0.HeapAlloc); grew > 16<<20 {
			t.Errorf("%s: the heap grew by %d bytes while generating %d relationships", name, grew, n)
		}
	}
}

// TestExpectedAnswers loads the small datasets into a store and checks
// that the engine agrees with every class of query the datasets make: the
// workloads count disagreements as "unexpected", so the expectations must
// be right.
func TestExpectedAnswers(t *testing.T) {
	for _, name := range Datasets() {
		t.Run(name, func(t *testing.T) {
			ds, _ := NewDataset(name, 3, 10_000)
			store := loadedStore(t, ds)
			eng := engine.New(store, engine.Options{})
			ctx := context.Background()
			r := rand.New(rand.NewPCG(3, 4))
			perClass := 25
			if testing.Short() {
				perClass = 8
			}
			for class, cname := range ds.CheckClasses() {
				for range perClass {
					q := ds.Check(r, class)
					if q.Class != class {
						t.Fatalf("class %d query says class %d", class, q.Class)
					}
					res, err := eng.Check(ctx, q.Req)
					if err != nil {
						t.Fatalf("%s: %v", cname, err)
					}
					if res.Permissionship != q.Want {
						t.Errorf("%s: check %s#%s@%s = %s, want %s", cname, q.Req.Resource, q.Req.Permission, q.Req.Subject, res.Permissionship, q.Want)
					}
				}
			}
			if testing.Short() {
				return // TestRunSmall runs lookups too
			}
			// Lookups name objects that exist and find something.
			for class, cname := range ds.LookupResourcesClasses() {
				found := 0
				for range perClass {
					req := ds.LookupResources(r, class)
					if _, err := eng.LookupResources(ctx, req, func(engine.LookupResult) bool { found++; return true }); err != nil {
						t.Fatalf("%s: %v", cname, err)
					}
				}
				if found == 0 && !strings.Contains(cname, "lists") {
					t.Errorf("%s: %d lookups found nothing", cname, perClass)
				}
			}
			for class, cname := range ds.LookupSubjectsClasses() {
				req := ds.LookupSubjects(r, class)
				subs, _, err := eng.LookupSubjects(ctx, req)
				if err != nil {
					t.Fatalf("%s: %v", cname, err)
				}
				if len(subs) == 0 {
					t.Errorf("%s: LookupSubjects(%s#%s) found nobody", cname, req.Resource, req.Permission)
				}
			}
		})
		t.Run(name+"/write", func(t *testing.T) {
			// A write and its undo are accepted.
			ds, _ := NewDataset(name, 3, 2_000)
			store := loadedStore(t, ds)
			ctx := context.Background()
			add, rm := ds.Write(rand.New(rand.NewPCG(3, 4)), 1)
			if _, err := store.Write(ctx, add); err != nil {
				t.Fatal(err)
			}
			if _, err := store.Write(ctx, rm); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// loadedStore is an in-memory store holding ds, loaded through load.
func loadedStore(t testing.TB, ds Dataset) *tuples.Store {
	t.Helper()
	store, err := tuples.Open("", tuples.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	name, src := ds.Schema()
	if _, _, err := store.WriteSchema(context.Background(), name, src); err != nil {
		t.Fatal(err)
	}
	st, err := load(context.Background(), store, ds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Relationships != ds.Relationships() {
		t.Fatalf("loaded %d of %d", st.Relationships, ds.Relationships())
	}
	return store
}

func TestNewDatasetErrors(t *testing.T) {
	tests := []struct {
		name   string
		target int64
		want   string
	}{
		{"nope", 10, `unknown dataset "nope"`},
		{"gifting", 0, "want at least 1"},
	}
	for _, tt := range tests {
		if _, err := NewDataset(tt.name, 1, tt.target); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewDataset(%q, %d) = %v, want an error with %q", tt.name, tt.target, err, tt.want)
		}
	}
}

// lastUnit is the number of relationships of the last organisation or
// account of ds.
func lastUnit(ds Dataset) int64 {
	switch ds := ds.(type) {
	case *Gifting:
		return ds.orgRelationships(ds.orgs - 1)
	case *Campaigns:
		return ds.accountRelationships(ds.accounts - 1)
	}
	panic("unknown dataset")
}
