package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Plot formats.
const (
	PlotSVG  = "svg"
	PlotHTML = "html"
)

var plotColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// WritePlot draws the latency distribution of every workload as an SVG
// image (format "svg") or an HTML page holding the image and the text report
// (format "html"). Each workload is a line: along the x axis the percentile,
// spread so that the tail shows (50%, 90%, 99%, 99.9%, ... are equally far
// apart), up the y axis the latency on a log scale.
func (r *Report) WritePlot(w io.Writer, format string) error {
	switch format {
	case PlotSVG:
		_, err := io.WriteString(w, r.svg())
		return err
	case PlotHTML:
		var text strings.Builder
		if err := r.WriteText(&text); err != nil {
			return err
		}
		title := html.EscapeString(fmt.Sprintf("reach bench: %s, %s relationships", r.Dataset, count(r.Relationships)))
		_, err := fmt.Fprintf(w, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>%s</title>
<style>body{font-family:sans-serif;margin:2em}pre{font-size:13px}</style></head>
<body><h1>%s</h1>
%s
<pre>%s</pre>
</body></html>
`, title, title, r.svg(), html.EscapeString(text.String()))
		return err
	}
	return fmt.Errorf("unknown plot format %q: want %s or %s", format, PlotSVG, PlotHTML)
}

// svg renders the plot.
func (r *Report) svg() string {
	const (
		width, height            = 960, 540
		left, right, top, bottom = 80, 250, 40, 60
		pw, ph                   = width - left - right, height - top - bottom
	)
	type series struct {
		name string
		xs   []float64 // log10(1/(1-p))
		ys   []float64 // log10(ns)
	}
	var all []series
	xmax, ymin, ymax := 1.0, math.Inf(1), math.Inf(-1)
	for _, wr := range r.Workloads {
		if wr.hist == nil || wr.hist.Count() == 0 {
			continue
		}
		s := series{name: wr.Name}
		n := float64(wr.hist.Count())
		var cum uint64
		for _, b := range wr.hist.buckets() {
			cum += b.Count
			p := float64(cum) / n
			x := math.Log10(n) // the last value: as far as the data resolves
			if p < 1 {
				x = math.Log10(1 / (1 - p))
			}
			y := math.Log10(float64(max(b.Hi, 1)))
			if len(s.xs) == 0 {
				s.xs, s.ys = append(s.xs, 0), append(s.ys, math.Log10(float64(max(b.Lo, 1))))
			}
			s.xs, s.ys = append(s.xs, x), append(s.ys, y)
			xmax, ymin, ymax = max(xmax, x), min(ymin, s.ys[0]), max(ymax, y)
		}
		all = append(all, s)
	}
	if len(all) == 0 {
		ymin, ymax = 2, 6
	}
	ylo, yhi := math.Floor(ymin), math.Ceil(ymax)
	if yhi <= ylo {
		yhi = ylo + 1
	}
	xhi := math.Ceil(xmax)
	px := func(x float64) float64 { return left + x/xhi*pw }
	py := func(y float64) float64 { return top + ph - (y-ylo)/(yhi-ylo)*ph }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15">%s</text>`+"\n", left,
		html.EscapeString(fmt.Sprintf("reach bench: latency by percentile (%s, %s relationships)", r.Dataset, count(r.Relationships))))
	// grid and axes
	for y := ylo; y <= yhi; y++ {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", left, py(y), left+pw, py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(y)+4, dur(int64(math.Pow(10, y))))
	}
	ticks := []struct {
		x     float64
		label string
	}{{0, "0%"}, {math.Log10(2), "50%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}, {6, "99.9999%"}, {7, "99.99999%"}}
	for _, t := range ticks {
		if t.x > xhi {
			break
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", px(t.x), top, px(t.x), top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(t.x), top+ph+18, t.label)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">percentile</text>`+"\n", left+pw/2, height-18)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">latency (log scale)</text>`+"\n", top+ph/2)
	// lines and legend
	for i, s := range all {
		color := plotColors[i%len(plotColors)]
		var pts strings.Builder
		for j := range s.xs {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(s.xs[j]), py(s.ys[j]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`+"\n",
			color, strings.TrimSpace(pts.String()), html.EscapeString(s.name))
		ly := top + 10 + 20*i
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", left+pw+15, ly, left+pw+40, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", left+pw+46, ly+4, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
