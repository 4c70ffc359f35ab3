package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
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
