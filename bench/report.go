package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of Run: the data set, how it was loaded, and one
// result per workload. Durations are in nanoseconds, sizes in bytes.
type Report struct {
	Dataset       string  `json:"dataset"`
	Seed          uint64  `json:"seed"`
	Scale         string  `json:"scale,omitempty"`
	Target        int64   `json:"target_relationships"`
	Relationships int64   `json:"relationships"`
	Machine       Machine `json:"machine"`
	// Server is the address of the server the workloads ran against
	// (Config.Target); empty for the embedded store.
	Server string `json:"server,omitempty"`
	Load   Load   `json:"load"`
	// Workloads in the order they ran.
	Workloads []WorkloadResult `json:"workloads"`
	// Memory is the process's memory use.
	Memory Memory `json:"memory"`
}

// Machine describes where the run took place.
type Machine struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

// Load is how the data got into the store.
type Load struct {
	// Reused is true when the data directory already held this data set
	// and nothing was imported.
	Reused bool `json:"reused"`
	// Relationships imported, in Seconds (generation included: they run
	// concurrently), in Batches (revisions).
	Relationships int64   `json:"relationships"`
	Seconds       float64 `json:"seconds"`
	PerSecond     float64 `json:"relationships_per_second"`
	Batches       int     `json:"batches"`
	// DiskBytes is the space the store takes on disk after it was closed
	// (blocks allocated, not apparent sizes), and per relationship.
	DiskBytes                int64   `json:"disk_bytes"`
	DiskBytesPerRelationship float64 `json:"disk_bytes_per_relationship"`
	ReopenSeconds            float64 `json:"reopen_seconds"`
	// Peaks of memory during the load, as in Memory.
	PeakRSSBytes      uint64 `json:"peak_rss_bytes,omitempty"`
	PeakAnonBytes     uint64 `json:"peak_anon_rss_bytes,omitempty"`
	PeakHeapBytes     uint64 `json:"peak_heap_bytes"`
	PeakLiveHeapBytes uint64 `json:"peak_live_heap_bytes,omitempty"`
}

func (l *Load) setPeaks(p memPeaks) {
	l.PeakRSSBytes, l.PeakAnonBytes, l.PeakHeapBytes, l.PeakLiveHeapBytes = p.rss, p.anon, p.heap, p.live
}

// Memory is the peak memory of the process.
type Memory struct {
	// PeakRSSBytes is the most resident memory the process had (Linux's
	// VmHWM: Go heap, Badger's caches and the pages of its memory-mapped
	// files); 0 where the system does not say.
	PeakRSSBytes uint64 `json:"peak_rss_bytes,omitempty"`
	// PeakAnonBytes is the most anonymous resident memory (Linux's
	// RssAnon, sampled every 50 ms): the resident set less the pages of
	// files, that is the memory the process holds itself (Go heap, the
	// check cache, stacks), which the kernel cannot reclaim without swap.
	// The rest of PeakRSSBytes is mostly pages of the store's files, which
	// Badger reads and writes through memory maps: the kernel's page cache,
	// which it reclaims when memory runs short (under a cgroup's limit, say).
	// 0 where the system does not say.
	PeakAnonBytes uint64 `json:"peak_anon_rss_bytes,omitempty"`
	// PeakHeapBytes is the most Go heap in use, sampled every 50 ms: live
	// objects and garbage not yet collected.
	PeakHeapBytes uint64 `json:"peak_heap_bytes"`
	// PeakLiveHeapBytes is the largest live heap a garbage collection
	// found (sampled every 50 ms).
	PeakLiveHeapBytes uint64 `json:"peak_live_heap_bytes,omitempty"`
	// GoMemoryLimitBytes is the soft memory limit of the Go runtime during
	// the run (Config.MemoryLimit or GOMEMLIMIT); 0 for none.
	GoMemoryLimitBytes int64 `json:"go_memory_limit_bytes,omitempty"`
}

func (m *Memory) setPeaks(p memPeaks) {
	m.PeakRSSBytes, m.PeakAnonBytes, m.PeakHeapBytes, m.PeakLiveHeapBytes = p.rss, p.anon, p.heap, p.live
}

// WorkloadResult is what one workload measured.
type WorkloadResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Concurrency int    `json:"concurrency"`
	// Ops were done in Seconds of wall-clock time. ChecksPerOp is 1 for
	// checks, the batch size for CheckBulk, 0 for lookups.
	Ops          int64   `json:"ops"`
	Seconds      float64 `json:"seconds"`
	OpsPerSecond float64 `json:"ops_per_second"`
	ChecksPerOp  float64 `json:"checks_per_op"`
	// Latency of one operation.
	Latency Latency `json:"latency_ns"`
	// ResultsPerOp is the mean number of results of a lookup.
	ResultsPerOp float64 `json:"results_per_op,omitempty"`
	// Cache counters of the engine over the run (sub-problems included).
	CacheHits     uint64  `json:"cache_hits"`
	CacheMisses   uint64  `json:"cache_misses"`
	CacheHitRatio float64 `json:"cache_hit_ratio"`
	// Allocations per operation, measured on one goroutine over AllocSample
	// operations after the timed run.
	AllocsPerOp float64 `json:"allocs_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocSample int     `json:"alloc_sample"`
	// Unexpected counts answers (checks, or checks within a CheckBulk)
	// that differ from what the data gives;
	// Errors counts failed operations; Examples shows the first few.
	Unexpected int64    `json:"unexpected"`
	Errors     int64    `json:"errors"`
	Examples   []string `json:"examples,omitempty"`
	// Cancelled counts operations still running well after the end of the
	// run (a duration past it, at least 5 s), which were cancelled and are
	// not in the latencies.
	Cancelled int64 `json:"cancelled"`
	// Classes break the operations down by kind.
	Classes []ClassResult `json:"classes"`

	hist *Histogram
}

// ClassResult is the latency of one class of operations of a workload.
type ClassResult struct {
	Name         string  `json:"name"`
	Ops          int64   `json:"ops"`
	Latency      Latency `json:"latency_ns"`
	ResultsPerOp float64 `json:"results_per_op,omitempty"`
}

// Latency holds percentiles, the mean and the maximum, in nanoseconds.
type Latency struct {
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p99_9"`
	Max  int64 `json:"max"`
	Mean int64 `json:"mean"`
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // names read as written (an arrow as ->)
	return enc.Encode(r)
}

// WriteText writes r as tables for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s, seed %d", r.Dataset, r.Seed)
	if r.Scale != "" {
		fmt.Fprintf(&b, ", scale %s", r.Scale)
	}
	fmt.Fprintf(&b, ": %s relationships (%s/%s, %d CPUs, %s)\n", count(r.Relationships), r.Machine.OS, r.Machine.Arch, r.Machine.CPUs, r.Machine.GoVersion)
	switch {
	case r.Server != "" && r.Load.Reused:
		fmt.Fprintf(&b, "server: %s (holding the dataset already; latencies are the client's, network included)\n", r.Server)
	case r.Server != "":
		fmt.Fprintf(&b, "server: %s (latencies are the client's, network included)\n", r.Server)
		fmt.Fprintf(&b, "load: %s relationships in %.1fs (%s/s, %d batches) through the API\n",
			count(r.Load.Relationships), r.Load.Seconds, count(int64(r.Load.PerSecond)), r.Load.Batches)
	case r.Load.Reused:
		fmt.Fprintf(&b, "load: reused the data directory; %s on disk (%.1f bytes per relationship)\n",
			bytesize(r.Load.DiskBytes), r.Load.DiskBytesPerRelationship)
	default:
		fmt.Fprintf(&b, "load: %s relationships in %.1fs (%s/s, %d batches); %s on disk (%.1f bytes per relationship); reopened in %.2fs\n",
			count(r.Load.Relationships), r.Load.Seconds, count(int64(r.Load.PerSecond)), r.Load.Batches,
			bytesize(r.Load.DiskBytes), r.Load.DiskBytesPerRelationship, r.Load.ReopenSeconds)
	}
	if r.Server != "" {
		b.WriteString("client ")
	}
	fmt.Fprintf(&b, "memory: peak RSS %s, peak Go heap %s", rssText(r.Memory.PeakRSSBytes, r.Memory.PeakAnonBytes), bytesize(int64(r.Memory.PeakHeapBytes)))
	if !r.Load.Reused && r.Server == "" {
		fmt.Fprintf(&b, " (during the load: %s, %s)", rssText(r.Load.PeakRSSBytes, r.Load.PeakAnonBytes), bytesize(int64(r.Load.PeakHeapBytes)))
	}
	if lim := r.Memory.GoMemoryLimitBytes; lim > 0 {
		fmt.Fprintf(&b, "; Go memory limit %s", bytesize(lim))
		if live := max(r.Memory.PeakLiveHeapBytes, r.Load.PeakLiveHeapBytes); live > uint64(lim)/10*9 {
			fmt.Fprintf(&b, "\nnote: the live heap reached %s, near the Go memory limit: the garbage collector ran often (a larger --memory-limit avoids it)", bytesize(int64(live)))
		}
	}
	b.WriteString("\n\n")

	tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tconc\tops\tops/s\tchecks/s\tp50\tp90\tp99\tp99.9\tmax\thit%\tallocs/op\tB/op\twrong\terrors\t")
	for _, wr := range r.Workloads {
		checks := "-"
		if wr.ChecksPerOp > 0 {
			checks = count(int64(wr.OpsPerSecond * wr.ChecksPerOp))
		}
		l := wr.Latency
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%d\t%d\t\n",
			wr.Name, wr.Concurrency, count(wr.Ops), count(int64(wr.OpsPerSecond)), checks,
			dur(l.P50), dur(l.P90), dur(l.P99), dur(l.P999), dur(l.Max),
			100*wr.CacheHitRatio, wr.AllocsPerOp, bytesize(int64(wr.BytesPerOp)), wr.Unexpected, wr.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, wr := range r.Workloads {
		fmt.Fprintf(&b, "\n%s: %s\n", wr.Name, wr.Description)
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "class\tops\tp50\tp90\tp99\tp99.9\tmax\tresults/op\t")
		for _, c := range wr.Classes {
			res := "-"
			if wr.ChecksPerOp == 0 {
				res = fmt.Sprintf("%.1f", c.ResultsPerOp)
			}
			l := c.Latency
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Name, count(c.Ops), dur(l.P50), dur(l.P90), dur(l.P99), dur(l.P999), dur(l.Max), res)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, e := range wr.Examples {
			fmt.Fprintf(&b, "  ! %s\n", e)
		}
		if wr.Cancelled > 0 {
			fmt.Fprintf(&b, "  ! %d operations still running long after the end were cancelled (not in the latencies)\n", wr.Cancelled)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dur prints nanoseconds with three significant digits.
func dur(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(ns)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

// count prints n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// bytesize prints a size in B, KiB, MiB or GiB.
func bytesize(n int64) string {
	const k = 1024
	switch {
	case n < k:
		return fmt.Sprintf("%dB", n)
	case n < k*k:
		return fmt.Sprintf("%.1fKiB", float64(n)/k)
	case n < k*k*k:
		return fmt.Sprintf("%.1fMiB", float64(n)/(k*k))
	}
	return fmt.Sprintf("%.2fGiB", float64(n)/(k*k*k))
}

// rssText prints a peak resident set and, when known, its anonymous peak.
func rssText(rss, anon uint64) string {
	if anon == 0 {
		return bytesize(int64(rss))
	}
	return fmt.Sprintf("%s (anonymous %s)", bytesize(int64(rss)), bytesize(int64(anon)))
}
