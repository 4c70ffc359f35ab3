package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reach-authz/reach/bench"
)

// TestBenchSmall runs `reach bench --scale small` (every workload, shorter
// than the default 2 s each so that the test stays quick) and checks the
// report's shape, never its timings.
func TestBenchSmall(t *testing.T) {
	dir := t.TempDir()
	plot := filepath.Join(dir, "latency.svg")
	code, stdout, stderr := reach(t, "", "bench", "--scale", "small", "--duration", "250ms", "--json", "--plot", plot)
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s\nstdout:\n%s", code, stderr, stdout)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout)
	}
	if rep.Dataset != "gifting" || rep.Scale != "small" || rep.Target != 10_000 {
		t.Errorf("dataset %q scale %q target %d, want gifting small 10000", rep.Dataset, rep.Scale, rep.Target)
	}
	if rep.Relationships < rep.Target || rep.Load.Relationships != rep.Relationships {
		t.Errorf("%d relationships generated, %d loaded, target %d", rep.Relationships, rep.Load.Relationships, rep.Target)
	}
	if rep.Load.DiskBytes <= 0 || rep.Load.DiskBytesPerRelationship <= 0 || rep.Memory.PeakHeapBytes == 0 {
		t.Errorf("load %+v memory %+v: sizes missing", rep.Load, rep.Memory)
	}
	var names []string
	for _, w := range rep.Workloads {
		names = append(names, w.Name)
		l := w.Latency
		if w.Ops <= 0 || w.OpsPerSecond <= 0 || w.Concurrency < 1 || w.AllocSample < 1 {
			t.Errorf("%s: %+v", w.Name, w)
		}
		if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
			t.Errorf("%s: percentiles out of order: %+v", w.Name, l)
		}
		if w.CacheHitRatio < 0 || w.CacheHitRatio > 1 {
			t.Errorf("%s: cache hit ratio %v", w.Name, w.CacheHitRatio)
		}
		if w.Unexpected != 0 || w.Errors != 0 {
			t.Errorf("%s: %d unexpected answers, %d errors: %v", w.Name, w.Unexpected, w.Errors, w.Examples)
		}
		var ops int64
		for _, c := range w.Classes {
			ops += c.Ops
		}
		if ops != w.Ops || len(w.Classes) == 0 {
			t.Errorf("%s: classes count %d ops of %d", w.Name, ops, w.Ops)
		}
	}
	if got, want := strings.Join(names, ","), strings.Join(bench.Workloads(), ","); got != want {
		t.Errorf("workloads %s, want %s", got, want)
	}
	svg, err := os.ReadFile(plot)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg, new(struct{})); err != nil || !strings.HasPrefix(string(svg), "<svg") {
		t.Errorf("%s is not an SVG image: %v", plot, err)
	}
	if !strings.Contains(stderr, "loading") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
}

// TestBenchText checks the text report and the HTML plot, on the second
// dataset, a fixed number of operations and a data directory that a second
// run reuses.
func TestBenchText(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	plot := filepath.Join(t.TempDir(), "latency.html")
	args := []string{"--data-dir", dir, "bench", "--dataset", "campaigns", "--relationships", "3000",
		"--workload", "check-cold,lookup-subjects", "--count", "40", "--concurrency", "1", "-q", "--plot", plot}
	code, stdout, stderr := reach(t, "", args...)
	if code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s\nstdout:\n%s", code, stderr, stdout)
	}
	if stderr != "" {
		t.Errorf("-q still wrote to stderr: %q", stderr)
	}
	for _, want := range []string{"dataset campaigns, seed 1:", "relationships in", "bytes per relationship",
		"workload", "p99.9", "check-cold", "lookup-subjects", "owner edits action"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the text report lacks %q:\n%s", want, stdout)
		}
	}
	html, err := os.ReadFile(plot)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "<svg") || !strings.Contains(string(html), "<pre>") {
		t.Errorf("%s holds no plot and report", plot)
	}

	// The same dataset again: the directory is reused, nothing imported.
	code, stdout, stderr = reach(t, "", append(args[:len(args)-2], "-o", "json")...)
	if code != exitOK {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Load.Reused {
		t.Error("the second run did not reuse the data directory")
	}
	// Another dataset in the same directory is refused.
	code, _, stderr = reach(t, "", "--data-dir", dir, "bench", "--relationships", "3000", "--count", "5", "-q")
	if code != exitError3 || !strings.Contains(stderr, "give an empty or new directory") {
		t.Errorf("another dataset in a used directory: exit %d, stderr %q", code, stderr)
	}
}

func TestBenchRefusesForeignDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := reach(t, "", "--data-dir", dir, "bench", "--count", "5", "-q")
	if code != exitError3 || !strings.Contains(stderr, "not empty") {
		t.Errorf("exit %d, stderr %q; want 3 and a refusal", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "MANIFEST")); string(b) != "x" {
		t.Error("the directory was changed")
	}
}

func TestBenchUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown scale", []string{"--scale", "huge"}, "unknown --scale"},
		{"scale and relationships", []string{"--scale", "small", "--relationships", "10"}, "not both"},
		{"zero relationships", []string{"--relationships", "0"}, "at least 1"},
		{"unknown dataset", []string{"--dataset", "nope"}, "unknown --dataset"},
		{"unknown workload", []string{"--workload", "check,frob"}, `unknown --workload "frob"`},
		{"negative concurrency", []string{"--concurrency", "-1"}, "--concurrency"},
		{"zero duration", []string{"--duration", "0s"}, "--duration"},
		{"negative count", []string{"--count", "-3"}, "--count"},
		{"plot extension", []string{"--plot", "x.png"}, ".svg or .html"},
		{"argument", []string{"extra"}, "unknown command"},
		{"bad duration", []string{"--duration", "soon"}, "invalid argument"},
		{"bad memory limit", []string{"--memory-limit", "lots"}, "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := reach(t, "", append([]string{"bench"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}
