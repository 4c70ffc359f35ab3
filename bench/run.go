package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"sync/atomic"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// Scales are the named sizes, in relationships.
var Scales = map[string]int64{
	"small":  10_000,
	"medium": 1_000_000,
	"large":  10_000_000,
	"xlarge": 100_000_000,
}

// ScaleNames lists the scales from the smallest.
func ScaleNames() []string {
	names := make([]string, 0, len(Scales))
	for n := range Scales {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return Scales[names[i]] < Scales[names[j]] })
	return names
}

// Defaults of Config.
const (
	DefaultDataset  = "gifting"
	DefaultScale    = "small"
	DefaultDuration = 2 * time.Second
)

// DefaultMemoryLimit is the Go runtime's soft memory limit that reach bench
// runs with when neither --memory-limit nor GOMEMLIMIT gives one (Run itself
// leaves the runtime's limit alone unless Config.MemoryLimit is set).
//
// Without a limit the collector lets the heap grow to twice what is live,
// and most of what is live while a store is written is Badger's memtables
// and table buffers (up to 530 MiB importing 10M relationships), so the
// heap reached 1 GiB. The limit keeps it at 640 MiB instead, so that the
// process (heap, the 256 MiB check cache, stacks) stays within 1 GiB. At
// 10M the collector then ran 80 times during the load instead of 52, and
// took 2-3% of the CPU instead of 1% (GODEBUG=gctrace=1): those buffers
// hold no pointers, so a collection barely reads them. A run whose live
// heap nears the limit collects often: the report says so, and a larger
// limit (--scale xlarge) avoids it.
const DefaultMemoryLimit = 640 << 20

// Config says what Run does. The zero value runs every workload for 2 s on
// the small gifting dataset in a temporary directory.
type Config struct {
	// Dataset is the name of the dataset (see Datasets).
	Dataset string
	// Seed makes a different, equally shaped dataset and queries.
	Seed uint64
	// Scale names the size (see Scales); Relationships, when > 0, sets
	// it instead.
	Scale         string
	Relationships int64
	// Workloads to run, in order (default: all, see Workloads).
	Workloads []string
	// Concurrency is the number of goroutines per workload (default
	// GOMAXPROCS).
	Concurrency int
	// Duration of each workload; Count, when > 0, runs each for that many
	// operations instead.
	Duration time.Duration
	Count    int64
	// DataDir holds the store. Empty: a temporary directory, removed at the
	// end. A directory that already holds this dataset (same name, seed and
	// size, written by an earlier run) is reused without importing; any
	// other non-empty directory is refused.
	DataDir string
	// CacheSize and CacheMaxBytes bound the engine's check cache
	// (engine.Options.CacheSize and CacheMaxBytes: 0 the default, < 0 no
	// cache).
	CacheSize     int
	CacheMaxBytes int64
	// Progress, if not nil, receives a line now and then about what is
	// happening.
	Progress io.Writer
	// LoadProfile and WorkloadProfile, if not nil, receive a CPU profile
	// (runtime/pprof) of the load and of the workloads, for go tool pprof.
	LoadProfile, WorkloadProfile io.Writer
	// MemoryLimit, if > 0, is the soft memory limit of the Go runtime
	// during Run (runtime/debug.SetMemoryLimit, what GOMEMLIMIT sets), put
	// back as it was at the end; 0 leaves the runtime's limit (GOMEMLIMIT,
	// or none). See DefaultMemoryLimit.
	MemoryLimit int64
	// LoadHeapProfile and WorkloadHeapProfile, if not nil, receive a heap
	// profile (runtime/pprof) taken when the live Go heap was largest
	// during the load and during the workloads.
	LoadHeapProfile, WorkloadHeapProfile io.Writer
	// Target, if not nil, is a server to load the dataset into and run the
	// workloads against, instead of a store in DataDir (which must be
	// empty, as must CacheSize, CacheMaxBytes, LoadProfile and
	// LoadHeapProfile). SkipLoad
	// says that it holds the dataset already (the same dataset, seed and
	// size).
	Target   Target
	SkipLoad bool
	// Datastore, if not nil, is an open store (PostgreSQL, say) to load the
	// dataset into and run the workloads on in this process, instead of a
	// Badger store in DataDir (which must be empty); SkipLoad says that it
	// holds the dataset already. Run does not close it.
	Datastore datastore.Datastore
}

// markerFile, in a data directory, records the dataset the bench loaded.
const markerFile = "reach-bench.json"

type marker struct {
	Dataset       string `json:"dataset"`
	Seed          uint64 `json:"seed"`
	Relationships int64  `json:"relationships"`
	Load          Load   `json:"load"`
}

// Run generates and loads the dataset, then runs the workloads, and reports.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Dataset == "" {
		cfg.Dataset = DefaultDataset
	}
	target := cfg.Relationships
	if target <= 0 {
		if cfg.Scale == "" {
			cfg.Scale = DefaultScale
		}
		var ok bool
		if target, ok = Scales[cfg.Scale]; !ok {
			return nil, fmt.Errorf("unknown scale %q (known: %v)", cfg.Scale, ScaleNames())
		}
	} else if cfg.Scale != "" && Scales[cfg.Scale] != target {
		cfg.Scale = ""
	}
	if len(cfg.Workloads) == 0 {
		cfg.Workloads = Workloads()
	}
	for _, w := range cfg.Workloads {
		if findWorkload(w) == nil {
			return nil, fmt.Errorf("unknown workload %q (known: %v)", w, Workloads())
		}
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultDuration
	}
	ds, err := NewDataset(cfg.Dataset, cfg.Seed, target)
	if err != nil {
		return nil, err
	}
	if cfg.MemoryLimit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(cfg.MemoryLimit))
	}
	rep := &Report{
		Dataset: ds.Name(), Seed: cfg.Seed, Scale: cfg.Scale, Target: target, Relationships: ds.Relationships(),
		Machine: Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()},
	}
	if lim := debug.SetMemoryLimit(-1); lim < math.MaxInt64 {
		rep.Memory.GoMemoryLimitBytes = lim
	}
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}

	if cfg.Target != nil {
		if cfg.DataDir != "" {
			return nil, errTargetWithDir
		}
		return runTarget(ctx, cfg, ds, rep, say)
	}
	if cfg.Datastore != nil {
		if cfg.DataDir != "" {
			return nil, errors.New("bench: a datastore and a data directory exclude each other")
		}
		return runDatastore(ctx, cfg, ds, rep, say)
	}
	if cfg.SkipLoad {
		return nil, errors.New("bench: SkipLoad goes with a Target or a Datastore (a data directory is reused by itself)")
	}

	dir := cfg.DataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "reach-bench-*"); err != nil {
			return nil, fmt.Errorf("bench: temporary data directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	reuse, err := checkDataDir(dir, ds, cfg.Seed)
	if err != nil {
		return nil, err
	}

	mem := startMemWatch(cfg.LoadHeapProfile != nil || cfg.WorkloadHeapProfile != nil)
	defer mem.close()
	mem.reset()
	if reuse != nil {
		rep.Load = reuse.Load
		rep.Load.Reused = true
		say("reusing %s: %s relationships of %s (seed %d)", dir, count(ds.Relationships()), ds.Name(), cfg.Seed)
	} else {
		say("loading %s relationships of %s (seed %d) into %s", count(ds.Relationships()), ds.Name(), cfg.Seed, dir)
		stopProfile, err := startProfile(cfg.LoadProfile)
		if err != nil {
			return nil, err
		}
		err = loadInto(ctx, dir, ds, &rep.Load, say)
		stopProfile()
		if err != nil {
			return nil, err
		}
		rep.Load.setPeaks(mem.peaks())
		if err := writeHeapProfile(cfg.LoadHeapProfile, mem); err != nil {
			return nil, err
		}
		if rep.Load.DiskBytes, err = diskUsage(dir); err != nil {
			return nil, fmt.Errorf("bench: measuring %s: %w", dir, err)
		}
		rep.Load.DiskBytesPerRelationship = float64(rep.Load.DiskBytes) / float64(max(1, rep.Load.Relationships))
		m, _ := json.MarshalIndent(marker{Dataset: ds.Name(), Seed: cfg.Seed, Relationships: ds.Relationships(), Load: rep.Load}, "", "  ")
		if err := os.WriteFile(filepath.Join(dir, markerFile), m, 0o644); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}

	mem.reset()
	t0 := time.Now()
	store, err := tuples.Open(dir, tuples.Options{})
	if err != nil {
		return nil, fmt.Errorf("bench: reopening the store: %w", err)
	}
	defer store.Close()
	if !rep.Load.Reused {
		rep.Load.ReopenSeconds = time.Since(t0).Seconds()
	}
	if rep.Load.Reused {
		if rep.Load.DiskBytes, err = diskUsage(dir); err == nil {
			rep.Load.DiskBytesPerRelationship = float64(rep.Load.DiskBytes) / float64(max(1, ds.Relationships()))
		}
	}

	if err := runWorkloads(ctx, cfg, ds, rep, func() *params {
		return localParams(store, engine.Options{CacheSize: cfg.CacheSize, CacheMaxBytes: cfg.CacheMaxBytes})
	}, say); err != nil {
		return nil, err
	}
	rep.Memory.setPeaks(mem.peaks())
	if err := writeHeapProfile(cfg.WorkloadHeapProfile, mem); err != nil {
		return nil, err
	}
	if !rep.Load.Reused {
		rep.Memory.PeakRSSBytes = max(rep.Memory.PeakRSSBytes, rep.Load.PeakRSSBytes)
		rep.Memory.PeakAnonBytes = max(rep.Memory.PeakAnonBytes, rep.Load.PeakAnonBytes)
		rep.Memory.PeakHeapBytes = max(rep.Memory.PeakHeapBytes, rep.Load.PeakHeapBytes)
		rep.Memory.PeakLiveHeapBytes = max(rep.Memory.PeakLiveHeapBytes, rep.Load.PeakLiveHeapBytes)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rep, nil
}

// runWorkloads runs the workloads of cfg one after the other, each on the
// params newParams makes (a fresh engine and cache, or a Target), and
// appends their results to rep.
func runWorkloads(ctx context.Context, cfg Config, ds Dataset, rep *Report, newParams func() *params, say func(string, ...any)) error {
	hotRng := rand.New(rand.NewPCG(cfg.Seed, 0x407))
	hot := make([]CheckQuery, HotQueries)
	for i := range hot {
		hot[i] = ds.Check(hotRng, i%len(ds.CheckClasses()))
	}
	var writeSeq atomic.Uint64
	stopProfile, err := startProfile(cfg.WorkloadProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	for i, name := range cfg.Workloads {
		if err := ctx.Err(); err != nil {
			return err
		}
		wl := findWorkload(name)
		// A fresh engine (and cache) per workload, so that each starts
		// from the same state whatever ran before it.
		p := newParams()
		p.ds, p.hot, p.writeSeq = ds, hot, &writeSeq
		if cfg.Count > 0 {
			say("workload %s: %d operations on %d goroutines", name, cfg.Count, cfg.Concurrency)
		} else {
			say("workload %s: %s on %d goroutines", name, cfg.Duration, cfg.Concurrency)
		}
		res := runWorkload(ctx, p, wl, cfg.Seed+uint64(i)*0x1000, cfg.Concurrency, cfg.Duration, cfg.Count)
		if p.close != nil {
			p.close() // before the store closes
		}
		rep.Workloads = append(rep.Workloads, res)
	}
	return nil
}

// checkDataDir returns the marker of dir when it holds ds already, nil when
// dir is empty or absent, and an error for any other directory.
func checkDataDir(dir string, ds Dataset, seed uint64) (*marker, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: data directory: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil {
		return nil, fmt.Errorf("bench: data directory %s is not empty and holds no earlier bench data (%s); give an empty or new directory", dir, markerFile)
	}
	var m marker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bench: %s: %w", filepath.Join(dir, markerFile), err)
	}
	if m.Dataset != ds.Name() || m.Seed != seed || m.Relationships != ds.Relationships() {
		return nil, fmt.Errorf("bench: data directory %s holds %s (seed %d, %d relationships), not %s (seed %d, %d relationships); give an empty or new directory",
			dir, m.Dataset, m.Seed, m.Relationships, ds.Name(), seed, ds.Relationships())
	}
	return &m, nil
}

// loadInto creates the store in dir, writes the schema, imports ds, and
// closes the store (so that what is on disk is all of it).
func loadInto(ctx context.Context, dir string, ds Dataset, l *Load, say func(string, ...any)) (err error) {
	store, err := tuples.Open(dir, tuples.Options{})
	if err != nil {
		return fmt.Errorf("bench: opening the store: %w", err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench: closing the store: %w", cerr)
		}
	}()
	return loadStore(ctx, store, ds, l, say)
}

// loadStore writes the schema of ds into store and imports ds.
func loadStore(ctx context.Context, store datastore.Datastore, ds Dataset, l *Load, say func(string, ...any)) error {
	name, src := ds.Schema()
	if _, _, err := store.WriteSchema(ctx, name, src); err != nil {
		return fmt.Errorf("bench: writing the schema %s: %w", name, err)
	}
	start := time.Now()
	last := start
	st, err := load(ctx, store, ds, func(n int64) {
		if now := time.Now(); now.Sub(last) >= 2*time.Second {
			last = now
			say("  %s / %s relationships (%.0f%%), %.0fs", count(n), count(ds.Relationships()), 100*float64(n)/float64(ds.Relationships()), now.Sub(start).Seconds())
		}
	})
	l.Relationships, l.Batches = st.Relationships, st.Batches
	l.Seconds = time.Since(start).Seconds()
	l.PerSecond = float64(l.Relationships) / l.Seconds
	if err != nil {
		return err
	}
	say("loaded %s relationships in %.1fs (%s/s)", count(l.Relationships), l.Seconds, count(int64(l.PerSecond)))
	return nil
}

// runDatastore loads ds into cfg.Datastore (unless cfg.SkipLoad) and runs
// the workloads on engines over it.
func runDatastore(ctx context.Context, cfg Config, ds Dataset, rep *Report, say func(string, ...any)) (*Report, error) {
	mem := startMemWatch(cfg.LoadHeapProfile != nil || cfg.WorkloadHeapProfile != nil)
	defer mem.close()
	mem.reset()
	if cfg.SkipLoad {
		rep.Load.Reused = true
	} else {
		say("loading %s relationships of %s (seed %d) into the datastore", count(ds.Relationships()), ds.Name(), cfg.Seed)
		stopProfile, err := startProfile(cfg.LoadProfile)
		if err != nil {
			return nil, err
		}
		err = loadStore(ctx, cfg.Datastore, ds, &rep.Load, say)
		stopProfile()
		if err != nil {
			return nil, err
		}
		rep.Load.setPeaks(mem.peaks())
		if err := writeHeapProfile(cfg.LoadHeapProfile, mem); err != nil {
			return nil, err
		}
	}
	mem.reset()
	if err := runWorkloads(ctx, cfg, ds, rep, func() *params {
		return localParams(cfg.Datastore, engine.Options{CacheSize: cfg.CacheSize, CacheMaxBytes: cfg.CacheMaxBytes})
	}, say); err != nil {
		return nil, err
	}
	rep.Memory.setPeaks(mem.peaks())
	if err := writeHeapProfile(cfg.WorkloadHeapProfile, mem); err != nil {
		return nil, err
	}
	return rep, ctx.Err()
}

// writeHeapProfile writes to w (if not nil) the heap profile mem kept of the
// largest live heap since its last reset.
func writeHeapProfile(w io.Writer, mem *memWatch) error {
	if w == nil {
		return nil
	}
	p := mem.heapProfile()
	if len(p) == 0 {
		return errors.New("bench: no heap profile was taken")
	}
	if _, err := w.Write(p); err != nil {
		return fmt.Errorf("bench: heap profile: %w", err)
	}
	return nil
}

// startProfile starts a CPU profile into w (nothing when w is nil) and
// returns the function that stops it.
func startProfile(w io.Writer) (stop func(), err error) {
	if w == nil {
		return func() {}, nil
	}
	if err := pprof.StartCPUProfile(w); err != nil {
		return nil, fmt.Errorf("bench: CPU profile: %w", err)
	}
	return pprof.StopCPUProfile, nil
}
