package schema

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The tests below hold the schema package to time linear in the size of its
// input (issue 12.4): each hostile shape took a minute or more when some step
// walked the whole input again at every node (a position lookup down the left
// chain of `a - b - c - ...`, expression text built by concatenation, a fresh
// walk of the subject relations for every arrow, a fresh "did you mean" sort
// for every unknown name...) and takes well under a second now. The bound of
// 10 s is there to catch a quadratic step coming back, not to time anything.

// longChain returns a schema whose permission `view` is n terms joined by op:
// `viewer - viewer - viewer ...`.
func longChain(n int, op string) []byte {
	var b strings.Builder
	b.WriteString("definition user {}\n\ndefinition document {\n\trelation viewer: user\n\tpermission view = viewer")
	for i := 1; i < n; i++ {
		b.WriteString(" " + op + " viewer")
	}
	b.WriteString("\n}\n")
	return []byte(b.String())
}

// hostileShapes returns schemas of about n statements of each shape that
// once took time quadratic in n (10n arrows or comment lines, which cost
// less each).
func hostileShapes(n int) map[string][]byte {
	shapes := map[string][]byte{}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	take := func(name string) { shapes[name] = []byte(b.String()); b.Reset() }

	w("definition user {}\ndefinition doc {\n\trelation parent: doc\n\tpermission walk = parent")
	for i := 1; i < 10*n; i++ {
		w("->parent")
	}
	w("\n}\n")
	take("arrow chain") // refused (nested arrows), but its message is built in linear time

	for i := 0; i < 10*n; i++ {
		w("// %d\n", i)
	}
	w("definition user {}\n")
	take("doc comment")

	w("definition user {}\n")
	for i := 0; i < n; i++ {
		w("definition d%06d {\n\trelation member: d%06d#member | user\n}\n", i, i+1)
	}
	w("definition d%06d {\n\trelation member: user:*\n}\n", n)
	take("subject relation chain ending in a wildcard")

	w("definition user {}\n")
	for i := 0; i < n; i++ {
		w("definition d%06d {\n\trelation member: d%06d#member | d%06d#member\n}\n", i, (i+1)%n, (i+7)%n)
	}
	take("subject relations in cycles")

	w("definition user {}\n")
	for i := 0; i < n; i++ {
		w("definition d%06d {\n\trelation parent: d%06d#parent | user\n\tpermission view = parent->view\n}\n", i, i+1)
	}
	w("definition d%06d {\n\trelation parent: user\n\tpermission view = parent\n}\n", n)
	take("arrows over a subject relation chain")

	w("definition user {}\ndefinition doc {\n\trelation viewer: user\n")
	for i := 0; i < n; i++ {
		w("\tpermission p%06d = p%06d\n", i, i+1)
	}
	w("\tpermission p%06d = viewer\n}\n", n)
	take("alias chain")

	w("definition user {}\ndefinition doc {\n")
	for i := 0; i < n; i++ {
		w("\trelation r%06d: user\n", i)
	}
	for i := 0; i < n; i++ {
		w("\tpermission p%06d = q%06d\n", i, i)
	}
	w("}\n")
	take("unknown names among many members")

	for i := 0; i < n; i++ {
		w("definition d%06d {\n\trelation owner: e%06d\n}\n", i, i)
	}
	take("unknown names among many definitions")
	return shapes
}

// within fails t if f has not returned after d.
func within(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("not done after %v: time is no longer linear in the input", d)
	}
}

// noTermLimit is defaultLimits without the limits on the source's size and
// on terms, to show that the work stays linear past them.
var noTermLimit = limits{sourceBytes: 1 << 30, exprTerms: 1 << 30, exprDepth: MaxExprDepth}

// TestLongChainRefused: `permission view = viewer - viewer - ...` with
// 100,000 terms took over a minute to compile (8.7 s at 20,000 terms). It is
// now refused at once, at its 10,001st term (MaxExprTerms).
func TestLongChainRefused(t *testing.T) {
	src := longChain(100_000, "-")
	var err error
	within(t, 10*time.Second, func() { _, _, err = Compile("long.zed", src) })
	const want = "long.zed:5:90020: expression too long: permission view has more than 10000 terms"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestLongChainCompiles: without the limit on terms, a chain of 100,000
// terms of each operator compiles, to a complete tree, well within the
// bound.
func TestLongChainCompiles(t *testing.T) {
	for _, op := range []string{"-", "+", "&"} {
		t.Run(op, func(t *testing.T) {
			const n = 100_000
			src := longChain(n, op)
			var prog *Program
			var err error
			within(t, 10*time.Second, func() { prog, _, err = compile(context.Background(), "long.zed", src, noTermLimit) })
			if err != nil {
				t.Fatal(err)
			}
			// The tree is complete: n leaves, exclusions nested to the left.
			leaves, depth := 0, 0
			r := prog.Lookup("document", "view").Rewrite
			if want := (Position{File: "long.zed", Line: 5, Column: 20, Offset: 84}); r.Pos != want {
				t.Errorf("position %s (offset %d), want %s (offset %d)", r.Pos, r.Pos.Offset, want, want.Offset)
			}
			for r.Op == OpExclusion {
				leaves++ // the right operand
				depth++
				r = r.Children[0]
			}
			if r.Op == OpComputed {
				leaves++
			} else {
				leaves += len(r.Children)
			}
			if leaves != n {
				t.Errorf("%d leaves, want %d", leaves, n)
			}
			if op == "-" && depth != n-1 {
				t.Errorf("exclusions nested %d deep, want %d", depth, n-1)
			}
		})
	}
}

// TestHostileShapesCompileInLinearTime: each shape, at a size where the
// quadratic step it once had took minutes, is compiled (or refused) in well
// under the bound.
func TestHostileShapesCompileInLinearTime(t *testing.T) {
	for name, src := range hostileShapes(20_000) {
		t.Run(name, func(t *testing.T) {
			within(t, 10*time.Second, func() { compile(context.Background(), "hostile.zed", src, noTermLimit) })
		})
	}
}

// BenchmarkCompileLongChain compiles a permission of 10,000 terms
// `viewer - viewer - ...`, the most MaxExprTerms allows: time per op divided
// by 10,000 is the cost of a term, the same at any length.
func BenchmarkCompileLongChain(b *testing.B) {
	src := longChain(10_000, "-")
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile("long.zed", src); err != nil {
			b.Fatal(err)
		}
	}
}
