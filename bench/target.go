package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// Target is a server that Run drives instead of an embedded store (see
// Config.Target): `reach bench --endpoint` passes one that speaks SpiceDB's
// authzed.api.v1 API over gRPC, so that the same data and workloads measure
// reach serve, or any other server of that API, over the network.
type Target interface {
	// Name says where the target is (an address), for the report.
	Name() string
	// WriteSchema writes the schema the dataset is written under.
	WriteSchema(ctx context.Context, filename string, src []byte) error
	// Import writes every relationship generate emits (it stops at the
	// first error emit returns) and calls progress, if not nil, with the
	// number written so far now and then. It returns how many it wrote and
	// in how many batches (calls, or transactions).
	Import(ctx context.Context, generate func(emit func(tuples.Relationship) error) error, progress func(int64)) (written int64, batches int, err error)
	// Check, CheckBulk, LookupResources and LookupSubjects answer as the
	// engine's methods of the same names do (the revisions returned may be
	// 0 where the server's tokens are not reach's).
	Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error)
	CheckBulk(ctx context.Context, reqs []engine.CheckRequest) ([]engine.CheckResult, error)
	LookupResources(ctx context.Context, req engine.LookupResourcesRequest, fn func(engine.LookupResult) bool) (string, error)
	LookupSubjects(ctx context.Context, req engine.LookupSubjectsRequest) ([]engine.FoundSubject, tuples.Revision, error)
	// Write applies updates in one atomic batch and returns the server's
	// consistency token (ZedToken) of the write, which the next check of
	// the worker that wrote reads at_least_as_fresh.
	Write(ctx context.Context, updates []tuples.Update) (token string, err error)
}

// runTarget is Run for cfg.Target: the dataset is written through the
// target (unless cfg.SkipLoad) and the workloads run against it. The
// latencies are the client's (network and server included); there are no
// cache counters, and memory is the client process's.
func runTarget(ctx context.Context, cfg Config, ds Dataset, rep *Report, say func(string, ...any)) (*Report, error) {
	t := cfg.Target
	rep.Server = t.Name()
	mem := startMemWatch(cfg.WorkloadHeapProfile != nil)
	defer mem.close()
	if cfg.SkipLoad {
		rep.Load.Reused = true
		say("%s holds %s relationships of %s (seed %d) already: not loading", t.Name(), count(ds.Relationships()), ds.Name(), cfg.Seed)
	} else {
		say("loading %s relationships of %s (seed %d) into %s", count(ds.Relationships()), ds.Name(), cfg.Seed, t.Name())
		name, src := ds.Schema()
		if err := t.WriteSchema(ctx, name, src); err != nil {
			return nil, fmt.Errorf("bench: writing the schema %s to %s: %w", name, t.Name(), err)
		}
		start := time.Now()
		last := start
		n, batches, err := t.Import(ctx, func(emit func(tuples.Relationship) error) error {
			return ds.Generate(ctx, emit)
		}, func(n int64) {
			if now := time.Now(); now.Sub(last) >= 2*time.Second {
				last = now
				say("  %s / %s relationships (%.0f%%), %.0fs", count(n), count(ds.Relationships()), 100*float64(n)/float64(ds.Relationships()), now.Sub(start).Seconds())
			}
		})
		l := &rep.Load
		l.Relationships, l.Batches = n, batches
		l.Seconds = time.Since(start).Seconds()
		l.PerSecond = float64(n) / l.Seconds
		if err != nil {
			return nil, fmt.Errorf("bench: loading %s into %s: %w (if it holds the dataset already, give --no-load)", ds.Name(), t.Name(), err)
		}
		if n != ds.Relationships() {
			return nil, fmt.Errorf("bench: loading %s: wrote %d relationships, the dataset has %d", ds.Name(), n, ds.Relationships())
		}
		say("loaded %s relationships in %.1fs (%s/s)", count(n), l.Seconds, count(int64(l.PerSecond)))
	}
	mem.reset()
	if err := runWorkloads(ctx, cfg, ds, rep, func() *params {
		return &params{eng: t, write: t.Write}
	}, say); err != nil {
		return nil, err
	}
	rep.Memory.setPeaks(mem.peaks())
	if err := writeHeapProfile(cfg.WorkloadHeapProfile, mem); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return rep, nil
}

// errTargetWithDir is returned for a Config that names both a Target and a
// data directory.
var errTargetWithDir = errors.New("bench: a target server and a data directory exclude each other")
