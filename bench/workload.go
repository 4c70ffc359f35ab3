package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// Workload parameters.
const (
	// HotQueries is the size of the hot set: the checks asked over and over.
	HotQueries = 1000
	// hotShare is the share (in tenths) of the check mix drawn from the hot set.
	hotShare = 8
	// BulkSize is the number of checks in one CheckBulk call.
	BulkSize = 50
	// writeShare is the share (in hundredths) of write-mix operations that write.
	writeShare = 1
	// maxExamples is how many unexpected answers a workload reports in full.
	maxExamples = 5
)

// workload is one kind of load: how to draw its next operation.
type workload struct {
	name, desc string
	classes    func(ds Dataset) []string
	next       func(w *worker) op
	// warm: ask every check of the hot set once before the timed run.
	warm bool
}

// Workloads lists the workload names in the order Run runs them by default.
func Workloads() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return names
}

// WorkloadDescription says what the named workload does ("" if unknown).
func WorkloadDescription(name string) string {
	if w := findWorkload(name); w != nil {
		return w.desc
	}
	return ""
}

func findWorkload(name string) *workload {
	for i := range workloads {
		if workloads[i].name == name {
			return &workloads[i]
		}
	}
	return nil
}

var mixClasses = []string{"hot allowed", "hot denied", "new allowed", "new denied"}

var workloads = []workload{
	{
		name:    "check-cold",
		desc:    "checks never asked before, of every class of the dataset in turn (gifting: allowed and denied at depth 1 to 5)",
		classes: func(ds Dataset) []string { return ds.CheckClasses() },
		next: func(w *worker) op {
			q := w.p.ds.Check(w.rng, w.rng.IntN(len(w.p.ds.CheckClasses())))
			return op{kind: opCheck, class: q.Class, check: q}
		},
	},
	{
		name:    "check-hot",
		desc:    fmt.Sprintf("the same %s checks (the hot set, asked once before the run) over and over: a warm cache", count(HotQueries)),
		warm:    true,
		classes: func(ds Dataset) []string { return ds.CheckClasses() },
		next: func(w *worker) op {
			q := w.p.hot[w.rng.IntN(len(w.p.hot))]
			return op{kind: opCheck, class: q.Class, check: q}
		},
	},
	{
		name:    "check",
		desc:    fmt.Sprintf("the check mix: %d%% from the hot set, the others new; as many allowed as denied", hotShare*10),
		classes: func(Dataset) []string { return mixClasses },
		next:    func(w *worker) op { return w.mixCheck() },
	},
	{
		name:    "checkbulk",
		desc:    fmt.Sprintf("CheckBulk calls of %d checks from the check mix", BulkSize),
		classes: func(Dataset) []string { return []string{fmt.Sprintf("%d checks", BulkSize)} },
		next: func(w *worker) op {
			o := op{kind: opBulk, bulk: make([]CheckQuery, BulkSize), reqs: make([]engine.CheckRequest, BulkSize)}
			for i := range o.bulk {
				o.bulk[i] = w.mixCheck().check
				o.reqs[i] = o.bulk[i].Req
			}
			return o
		},
	},
	{
		name:    "lookup-resources",
		desc:    "LookupResources, every class of the dataset in turn, all results",
		classes: func(ds Dataset) []string { return ds.LookupResourcesClasses() },
		next: func(w *worker) op {
			c := w.rng.IntN(len(w.p.ds.LookupResourcesClasses()))
			return op{kind: opLookupResources, class: c, lr: w.p.ds.LookupResources(w.rng, c)}
		},
	},
	{
		name:    "lookup-subjects",
		desc:    "LookupSubjects, every class of the dataset in turn",
		classes: func(ds Dataset) []string { return ds.LookupSubjectsClasses() },
		next: func(w *worker) op {
			c := w.rng.IntN(len(w.p.ds.LookupSubjectsClasses()))
			return op{kind: opLookupSubjects, class: c, ls: w.p.ds.LookupSubjects(w.rng, c)}
		},
	},
	{
		name: "write-mix",
		desc: fmt.Sprintf("the check mix with %d%% writes (an object added, or one added earlier removed); "+
			"the check after a write reads at_least_as_fresh it, the others minimize_latency", writeShare),
		classes: func(Dataset) []string { return []string{"hot check", "new check", "write"} },
		next: func(w *worker) op {
			if w.rng.IntN(100) < writeShare {
				if n := len(w.pending); n > 0 && w.rng.IntN(2) == 0 {
					rm := w.pending[0]
					w.pending = w.pending[1:]
					return op{kind: opWrite, class: 2, write: rm}
				}
				add, rm := w.p.ds.Write(w.rng, w.p.writeSeq.Add(1))
				w.pending = append(w.pending, rm)
				return op{kind: opWrite, class: 2, write: add}
			}
			o := w.mixCheck()
			o.class /= 2 // hot, new
			return o
		},
	},
}

type opKind uint8

const (
	opCheck opKind = iota
	opBulk
	opLookupResources
	opLookupSubjects
	opWrite
)

// op is one operation of a workload, drawn before it is timed.
type op struct {
	kind  opKind
	class int
	check CheckQuery
	bulk  []CheckQuery
	reqs  []engine.CheckRequest
	lr    engine.LookupResourcesRequest
	ls    engine.LookupSubjectsRequest
	write []tuples.Update
}

// querier answers the workloads' queries: the engine, or a Target.
type querier interface {
	Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error)
	CheckBulk(ctx context.Context, reqs []engine.CheckRequest) ([]engine.CheckResult, error)
	LookupResources(ctx context.Context, req engine.LookupResourcesRequest, fn func(engine.LookupResult) bool) (string, error)
	LookupSubjects(ctx context.Context, req engine.LookupSubjectsRequest) ([]engine.FoundSubject, tuples.Revision, error)
}

// params is what every worker of one workload shares.
type params struct {
	eng querier
	// write writes a batch and returns its consistency token.
	write func(ctx context.Context, updates []tuples.Update) (string, error)
	// cache reads the engine's cache counters; nil for a Target.
	cache func() engine.CacheStats
	// close stops the engine's background work; nil for a Target.
	close    func()
	ds       Dataset
	hot      []CheckQuery
	writeSeq *atomic.Uint64
}

// cacheStats reads p's cache counters (zero for a Target).
func (p *params) cacheStats() engine.CacheStats {
	if p.cache == nil {
		return engine.CacheStats{}
	}
	return p.cache()
}

// localParams runs a workload on a fresh engine over store, its group
// index (where the schema nests) built first, as a server that has been up
// a while has it: the workload times the steady state, not the build.
func localParams(store datastore.Datastore, opts engine.Options) *params {
	eng := engine.New(store, opts)
	_ = eng.SyncGroupIndex(context.Background()) // (without it, the engine walks)
	return &params{
		eng:   eng,
		cache: eng.CacheStats,
		close: eng.Close,
		write: func(ctx context.Context, updates []tuples.Update) (string, error) {
			rev, err := store.Write(ctx, updates)
			if err != nil {
				return "", err
			}
			return rev.Token(), nil
		},
	}
}

// worker runs operations on one goroutine and keeps its own counters.
type worker struct {
	p          *params
	rng        *rand.Rand
	all        Histogram
	classes    []Histogram
	results    []int64
	unexpected int64
	errors     int64
	examples   []string
	cancelled  int64
	token      string            // the last write's revision token, until the next check
	pending    [][]tuples.Update // removals of objects this worker added
}

func newWorker(p *params, seed uint64, id int, nclasses int) *worker {
	return &worker{
		p:       p,
		rng:     rand.New(rand.NewPCG(seed, uint64(id)+1)),
		classes: make([]Histogram, nclasses),
		results: make([]int64, nclasses),
	}
}

// mixCheck draws from the check mix: class 0/1 hot allowed/denied, 2/3 new.
func (w *worker) mixCheck() op {
	var q CheckQuery
	class := 0
	if w.rng.IntN(10) < hotShare {
		q = w.p.hot[w.rng.IntN(len(w.p.hot))]
	} else {
		q = w.p.ds.Check(w.rng, w.rng.IntN(len(w.p.ds.CheckClasses())))
		class = 2
	}
	if q.Want != engine.Allowed {
		class++
	}
	return op{kind: opCheck, class: class, check: q}
}

// do runs o, timing only the call to the engine or store, and returns the
// time it ended.
func (w *worker) do(ctx context.Context, o *op) time.Time {
	var (
		err     error
		bad     string // the last wrong answer
		nbad    int64  // how many answers were wrong
		results int64
	)
	eng := w.p.eng
	start := time.Now()
	switch o.kind {
	case opCheck:
		req := o.check.Req
		if w.token != "" { // read your own write once, then minimize_latency
			req.Consistency = engine.Consistency{Mode: engine.AtLeastAsFresh, Token: w.token}
			w.token = ""
		}
		var res engine.CheckResult
		res, err = eng.Check(ctx, req)
		if err == nil && res.Permissionship != o.check.Want {
			bad, nbad = fmt.Sprintf("check %s#%s@%s: %s, want %s", req.Resource, req.Permission, req.Subject, res.Permissionship, o.check.Want), 1
		}
	case opBulk:
		var res []engine.CheckResult
		res, err = eng.CheckBulk(ctx, o.reqs)
		if err == nil {
			for i := range res {
				if q := &o.bulk[i]; res[i].Permissionship != q.Want {
					bad = fmt.Sprintf("bulk check %s#%s@%s: %s, want %s", q.Req.Resource, q.Req.Permission, q.Req.Subject, res[i].Permissionship, q.Want)
					nbad++
				}
			}
		}
	case opLookupResources:
		_, err = eng.LookupResources(ctx, o.lr, func(engine.LookupResult) bool {
			results++
			return true
		})
	case opLookupSubjects:
		var found []engine.FoundSubject
		found, _, err = eng.LookupSubjects(ctx, o.ls)
		results = int64(len(found))
	case opWrite:
		var token string
		token, err = w.p.write(ctx, o.write)
		if err == nil {
			w.token = token
		}
	}
	end := time.Now()
	if err != nil && ctx.Err() != nil {
		w.cancelled++ // still running when the run ended: not timed
		return end
	}
	d := end.Sub(start).Nanoseconds()
	w.all.Record(d)
	w.classes[o.class].Record(d)
	w.results[o.class] += results
	if err != nil {
		w.errors++
		if len(w.examples) < maxExamples {
			w.examples = append(w.examples, "error: "+err.Error())
		}
	}
	if nbad > 0 {
		w.unexpected += nbad
		if len(w.examples) < maxExamples {
			w.examples = append(w.examples, bad)
		}
	}
	return end
}

// runWorkload runs wl with concurrency workers for d, or until count
// operations (when count > 0), then measures allocations per operation on
// one goroutine.
func runWorkload(ctx context.Context, p *params, wl *workload, seed uint64, concurrency int, d time.Duration, count int64) WorkloadResult {
	classes := wl.classes(p.ds)
	workers := make([]*worker, concurrency)
	for i := range workers {
		workers[i] = newWorker(p, seed, i, len(classes))
	}
	if wl.warm {
		for i := range p.hot {
			_, _ = p.eng.Check(ctx, p.hot[i].Req) // the answers are checked in the run
		}
	}
	var issued atomic.Int64
	before := p.cacheStats()
	start := time.Now()
	deadline := start.Add(d)
	// An operation still running long after the end (a lookup can take
	// seconds) is cancelled and counted apart.
	runCtx, cancel := context.WithCancel(ctx)
	if count <= 0 {
		runCtx, cancel = context.WithDeadline(ctx, deadline.Add(max(d, 5*time.Second)))
	}
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				if count > 0 && issued.Add(1) > count {
					return
				}
				o := wl.next(w)
				if end := w.do(runCtx, &o); count <= 0 && !end.Before(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	after := p.cacheStats()

	res := WorkloadResult{Name: wl.name, Description: wl.desc, Concurrency: concurrency, Seconds: wall.Seconds()}
	var all Histogram
	class := make([]Histogram, len(classes))
	results := make([]int64, len(classes))
	for _, w := range workers {
		all.Merge(&w.all)
		for i := range class {
			class[i].Merge(&w.classes[i])
			results[i] += w.results[i]
		}
		res.Unexpected += w.unexpected
		res.Errors += w.errors
		res.Cancelled += w.cancelled
		for _, e := range w.examples {
			if len(res.Examples) < maxExamples {
				res.Examples = append(res.Examples, e)
			}
		}
		// Remove what write-mix added (untimed), so that the data stays
		// what the generator made.
		for _, rm := range w.pending {
			if _, err := p.write(ctx, rm); err != nil && res.Errors == 0 {
				res.Errors++
				res.Examples = append(res.Examples, "cleanup: "+err.Error())
			}
		}
	}
	res.Ops = int64(all.Count())
	res.OpsPerSecond = float64(res.Ops) / wall.Seconds()
	res.ChecksPerOp = 1
	switch wl.name {
	case "checkbulk":
		res.ChecksPerOp = BulkSize
	case "lookup-resources", "lookup-subjects":
		res.ChecksPerOp = 0
	}
	res.Latency = latencyOf(&all)
	res.hist = &all
	var totalResults int64
	for i, name := range classes {
		c := ClassResult{Name: name, Ops: int64(class[i].Count()), Latency: latencyOf(&class[i])}
		if c.Ops > 0 {
			c.ResultsPerOp = float64(results[i]) / float64(c.Ops)
		}
		totalResults += results[i]
		res.Classes = append(res.Classes, c)
	}
	if res.Ops > 0 {
		res.ResultsPerOp = float64(totalResults) / float64(res.Ops)
	}
	res.CacheHits = after.Hits - before.Hits
	res.CacheMisses = after.Misses - before.Misses
	if n := res.CacheHits + res.CacheMisses; n > 0 {
		res.CacheHitRatio = float64(res.CacheHits) / float64(n)
	}

	// Allocations: ReadMemStats stops the world and counts every
	// goroutine's allocations, so they are measured apart, on one goroutine,
	// over operations drawn beforehand.
	// Lookups can take a second each, so the sample also stops after a
	// tenth of the run's duration (at least 3 operations).
	n := 2000
	if count > 0 {
		n = int(min(2000, max(3, count/10)))
	}
	cal := newWorker(p, seed^0xa110c, concurrency, len(classes))
	ops := make([]op, n)
	for i := range ops {
		ops[i] = wl.next(cal)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	calStart := time.Now()
	done := 0
	for done < n && (count > 0 || done < 3 || time.Since(calStart) < d/10) {
		cal.do(ctx, &ops[done])
		done++
	}
	runtime.ReadMemStats(&m1)
	for _, rm := range cal.pending {
		if _, err := p.write(ctx, rm); err != nil {
			res.Errors++
		}
	}
	n = done
	res.AllocsPerOp = float64(m1.Mallocs-m0.Mallocs) / float64(n)
	res.BytesPerOp = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n)
	res.AllocSample = n
	return res
}

func latencyOf(h *Histogram) Latency {
	return Latency{
		P50: h.Quantile(0.50), P90: h.Quantile(0.90), P99: h.Quantile(0.99), P999: h.Quantile(0.999),
		Max: h.Max(), Mean: int64(h.Mean()),
	}
}
