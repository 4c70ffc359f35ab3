package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/bench"
)

func init() { subcommands = append(subcommands, newBenchCmd) }

func newBenchCmd() *cobra.Command {
	var (
		cfg                     bench.Config
		scale                   string
		workloads               string
		jsonOut                 bool
		plot                    string
		quiet                   bool
		cpuProfile, loadProfile string
		memProfile, loadMemProf string
		memoryLimit             = byteSize(bench.DefaultMemoryLimit)
	)
	c := &cobra.Command{
		Use:   "bench",
		Short: "Generate seed-shaped data, load it and measure checks, lookups and writes",
		Long: `bench generates a deterministic, seed-shaped dataset (the gifting portal of seed 000 or the
campaign tool of seed 003), loads it into a store through the bulk import path, runs workloads
against the engine and reports throughput, latency percentiles (p50, p90, p99, p99.9), cache hit
ratio, allocations per operation, peak memory and disk bytes per relationship.

The store lives in a temporary directory unless --data-dir is given; a directory that already holds
the same dataset (same --dataset, --seed and size, from an earlier bench) is reused without
importing, and any other non-empty directory is refused.

With --endpoint HOST:PORT (and --token KEY) the dataset is loaded into that server through
ImportBulkRelationships (its schema through WriteSchema) and the workloads run through the
authzed.api.v1 API: against reach serve or any server that speaks it (an empty one: the dataset's
schema replaces the server's). Latencies are then the
client's, network included, and there are no cache counters. --no-load skips the load when the
server holds the dataset (same --dataset, --seed and size) already.

Workloads (comma-separated, default all):
` + workloadHelp(),
		Example: `  reach bench --scale small
  reach bench --scale medium --workload check-cold,check-hot --duration 10s --json
  reach bench --relationships 250000 --dataset campaigns --plot latency.svg
  reach bench --scale large --data-dir /var/tmp/reach-bench-10m   # reused by later runs
  reach bench --endpoint 127.0.0.1:50051 --token "$KEY" --workload check-cold,check-hot,check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("scale") && cmd.Flags().Changed("relationships") {
				return usagef("give --scale or --relationships, not both")
			}
			if _, ok := bench.Scales[scale]; !ok {
				return usagef("unknown --scale %q: want one of %s", scale, strings.Join(bench.ScaleNames(), ", "))
			}
			if cmd.Flags().Changed("relationships") {
				if cfg.Relationships < 1 {
					return usagef("--relationships must be at least 1, not %d", cfg.Relationships)
				}
			} else {
				cfg.Scale = scale
			}
			if !slices.Contains(bench.Datasets(), cfg.Dataset) {
				return usagef("unknown --dataset %q: want one of %s", cfg.Dataset, strings.Join(bench.Datasets(), ", "))
			}
			cfg.Workloads = nil
			if workloads != "all" {
				for _, w := range strings.Split(workloads, ",") {
					w = strings.TrimSpace(w)
					if !slices.Contains(bench.Workloads(), w) {
						return usagef("unknown --workload %q: want all or a comma-separated list of %s", w, strings.Join(bench.Workloads(), ", "))
					}
					cfg.Workloads = append(cfg.Workloads, w)
				}
			}
			if cfg.Concurrency < 0 {
				return usagef("--concurrency must be at least 1 (0: one per CPU), not %d", cfg.Concurrency)
			}
			if cfg.Duration <= 0 {
				return usagef("--duration must be positive, not %s", cfg.Duration)
			}
			if cfg.Count < 0 {
				return usagef("--count must be positive, not %d", cfg.Count)
			}
			plotFormat := ""
			if plot != "" {
				switch strings.ToLower(filepath.Ext(plot)) {
				case ".svg":
					plotFormat = bench.PlotSVG
				case ".html", ".htm":
					plotFormat = bench.PlotHTML
				default:
					return usagef("--plot %s: the file name must end in .svg or .html", plot)
				}
			}
			if cmd.Flags().Changed("data-dir") {
				cfg.DataDir = global.dataDir
			}
			cfg.MemoryLimit = int64(memoryLimit)
			if !cmd.Flags().Changed("memory-limit") && os.Getenv("GOMEMLIMIT") != "" {
				cfg.MemoryLimit = 0 // the runtime's, from GOMEMLIMIT
			}
			if !quiet {
				cfg.Progress = cmd.ErrOrStderr()
			}
			if isRemote() {
				if cfg.DataDir != "" || cfg.CacheSize != 0 || cfg.CacheMaxBytes != 0 || loadProfile != "" || loadMemProf != "" {
					return usagef("--data-dir, --cache-size, --cache-max-bytes, --cpuprofile-load and --memprofile-load concern the embedded store: they do not go with --endpoint")
				}
				t, err := newBenchTargets(strings.Split(remoteFlags.endpoint, ","))
				if err != nil {
					return err
				}
				defer t.Close()
				cfg.Target = t
			} else if dsOpts.kind != "badger" {
				if cfg.DataDir != "" {
					return usagef("--data-dir concerns the embedded store: it does not go with --datastore %s", dsOpts.kind)
				}
				store, err := openDatastore(cmd.Context(), openParams{})
				if err != nil {
					return err
				}
				defer store.Close()
				cfg.Datastore = store
			} else if cfg.SkipLoad {
				return usagef("--no-load goes with --endpoint or a network --datastore")
			}

			for _, p := range []struct {
				path string
				to   *io.Writer
			}{{cpuProfile, &cfg.WorkloadProfile}, {loadProfile, &cfg.LoadProfile}, {memProfile, &cfg.WorkloadHeapProfile}, {loadMemProf, &cfg.LoadHeapProfile}} {
				if p.path == "" {
					continue
				}
				f, err := os.Create(p.path)
				if err != nil {
					return fmt.Errorf("profile: %w", err)
				}
				defer f.Close()
				*p.to = f
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOut || global.output == "json" {
				err = rep.WriteJSON(out)
			} else {
				err = rep.WriteText(out)
			}
			if err != nil {
				return err
			}
			if plot != "" {
				if err := writePlot(rep, plot, plotFormat); err != nil {
					return err
				}
				if !quiet {
					fmt.Fprintf(cmd.ErrOrStderr(), "latency plot written to %s\n", plot)
				}
			}
			var wrong, failed int64
			for _, w := range rep.Workloads {
				wrong += w.Unexpected
				failed += w.Errors
			}
			if wrong > 0 || failed > 0 {
				return exitWith(exitNo, "reach bench: %d answers differed from what the data gives and %d operations failed (see the report)", wrong, failed)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&scale, "scale", bench.DefaultScale, "dataset size: "+scaleHelp())
	f.Int64Var(&cfg.Relationships, "relationships", 0, "dataset size in relationships (instead of --scale)")
	f.StringVar(&cfg.Dataset, "dataset", bench.DefaultDataset, "dataset: "+strings.Join(bench.Datasets(), " or "))
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed of the dataset and of the queries")
	f.StringVar(&workloads, "workload", "all", "workloads to run, comma-separated (all: "+strings.Join(bench.Workloads(), ",")+")")
	f.IntVar(&cfg.Concurrency, "concurrency", 0, "goroutines per workload (0: one per CPU)")
	f.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "how long each workload runs")
	f.Int64Var(&cfg.Count, "count", 0, "operations per workload (instead of --duration)")
	f.IntVar(&cfg.CacheSize, "cache-size", 0, "most check cache entries besides --cache-max-bytes (0: no more bound, -1: no cache)")
	f.Var((*byteSize)(&cfg.CacheMaxBytes), "cache-max-bytes", "memory of the check cache (as 256MiB or 1GiB; 0: the engine's default, 256MiB; <0: no cache)")
	f.Var(&memoryLimit, "memory-limit", "soft memory limit of the Go runtime during the run, as GOMEMLIMIT sets (default: GOMEMLIMIT if set, else this; 0: none but GOMEMLIMIT's)")
	f.BoolVar(&jsonOut, "json", false, "print the report as JSON (as --output json does)")
	f.StringVar(&plot, "plot", "", "also draw the latency distribution into this file (.svg or .html)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress lines on stderr")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the workloads to this file (for go tool pprof)")
	f.StringVar(&loadProfile, "cpuprofile-load", "", "write a CPU profile of the load to this file")
	f.StringVar(&memProfile, "memprofile", "", "write a heap profile of the workloads to this file, taken when the live Go heap was largest")
	f.StringVar(&loadMemProf, "memprofile-load", "", "write a heap profile of the load to this file, taken when the live Go heap was largest")
	f.BoolVar(&cfg.SkipLoad, "no-load", false, "with --endpoint or --datastore postgres: the server or database holds the dataset already; do not load it")
	return c
}

func writePlot(rep *bench.Report, path, format string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("plot: %w", cerr)
		}
	}()
	return rep.WritePlot(f, format)
}

func workloadHelp() string {
	var b strings.Builder
	for _, w := range bench.Workloads() {
		fmt.Fprintf(&b, "  %-17s %s\n", w, bench.WorkloadDescription(w))
	}
	return strings.TrimRight(b.String(), "\n")
}

func scaleHelp() string {
	var parts []string
	for _, s := range bench.ScaleNames() {
		parts = append(parts, fmt.Sprintf("%s (%s)", s, approx(bench.Scales[s])))
	}
	return strings.Join(parts, ", ")
}

func approx(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
