package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestRunSmall(t *testing.T) {
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Config{Scale: "small", Duration: 200 * time.Millisecond, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		os.Stdout.Write(progress.Bytes())
		os.Stdout.Write(text.Bytes())
	}
	if m := rep.Memory; runtime.GOOS == "linux" && (m.PeakAnonBytes == 0 || m.PeakAnonBytes > m.PeakRSSBytes) {
		t.Errorf("peak RSS %d, of it anonymous %d: want 0 < anonymous <= RSS", m.PeakRSSBytes, m.PeakAnonBytes)
	}
	if got, want := len(rep.Workloads), len(Workloads()); got != want {
		t.Fatalf("%d workloads, want %d", got, want)
	}
	for _, w := range rep.Workloads {
		if w.Ops == 0 || w.Errors != 0 || w.Unexpected != 0 {
			t.Errorf("%s: %d ops, %d errors, %d unexpected: %v", w.Name, w.Ops, w.Errors, w.Unexpected, w.Examples)
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	var svg bytes.Buffer
	if err := rep.WritePlot(&svg, PlotSVG); err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(svg.Bytes(), new(struct{})); err != nil {
		t.Errorf("the SVG is not well-formed XML: %v", err)
	}
	if n := strings.Count(svg.String(), "<polyline"); n != len(rep.Workloads) {
		t.Errorf("the SVG has %d lines, want one per workload (%d)", n, len(rep.Workloads))
	}
}

// TestRunHeapProfiles checks that Run writes a heap profile of the load and
// one of the workloads when asked.
func TestRunHeapProfiles(t *testing.T) {
	var load, work bytes.Buffer
	_, err := Run(context.Background(), Config{Scale: "small", Workloads: []string{"check-hot"}, Count: 100,
		LoadHeapProfile: &load, WorkloadHeapProfile: &work})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*bytes.Buffer{"load": &load, "workloads": &work} {
		zr, err := gzip.NewReader(b)
		if err != nil {
			t.Errorf("%s: not a gzipped profile: %v", name, err)
			continue
		}
		p, err := io.ReadAll(zr)
		if err != nil || !bytes.Contains(p, []byte("inuse_space")) {
			t.Errorf("%s: not a heap profile (%v): %q", name, err, p[:min(len(p), 64)])
		}
	}
}

// TestRunMemoryLimit checks that Run sets the Go memory limit it is given,
// reports it, and puts the one before back.
func TestRunMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	rep, err := Run(context.Background(), Config{Scale: "small", Workloads: []string{"check-hot"}, Count: 10, MemoryLimit: 3 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Memory.GoMemoryLimitBytes != 3<<30 {
		t.Errorf("report says a Go memory limit of %d, want %d", rep.Memory.GoMemoryLimitBytes, 3<<30)
	}
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("after Run the Go memory limit is %d, was %d", after, before)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Go memory limit 3.00GiB") {
		t.Errorf("the text report does not give the limit:\n%s", text.String())
	}
}
