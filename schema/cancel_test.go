package schema

import (
	"context"
	"errors"
	"testing"
	"time"
)

// pollCounter is a context that is never done until its Err has been asked
// cancelAt times (never, when cancelAt is 0): it shows where compilation
// looks at its context, without depending on the clock.
type pollCounter struct {
	context.Context
	done     chan struct{} // never closed: Done is not nil, so the context is watched
	calls    int
	cancelAt int
}

func newPollCounter(cancelAt int) *pollCounter {
	return &pollCounter{Context: context.Background(), done: make(chan struct{}), cancelAt: cancelAt}
}

func (c *pollCounter) Done() <-chan struct{} { return c.done }

func (c *pollCounter) Err() error {
	c.calls++
	if c.cancelAt > 0 && c.calls >= c.cancelAt {
		return context.Canceled
	}
	return nil
}

// TestCompileContextMatchesCompile: with a context that is never done,
// CompileContext answers as Compile does, for valid and invalid schemas.
func TestCompileContextMatchesCompile(t *testing.T) {
	srcs := map[string][]byte{"generated": []byte(generateSchema(2000))}
	for _, tc := range goldenCases(t, "invalid") {
		srcs[tc.name] = tc.src
	}
	for name, src := range srcs {
		p1, d1, err1 := Compile("s.zed", src)
		p2, d2, err2 := CompileContext(newPollCounter(0), "s.zed", src)
		if diagText(d1) != diagText(d2) || (err1 == nil) != (err2 == nil) || (p1 == nil) != (p2 == nil) {
			t.Errorf("%s: CompileContext answered %v, %v; Compile %v, %v", name, d2, err2, d1, err1)
			continue
		}
		if p1 != nil && p1.Hash() != p2.Hash() {
			t.Errorf("%s: different programs", name)
		}
	}
}

func TestCompileContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	prog, diags, err := CompileContext(ctx, "s.zed", []byte(generateSchema(200)))
	if prog != nil || diags != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, %v, %v", prog != nil, diags, err)
	}
	if want := "compiling schema s.zed: stopped: context canceled"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// TestCompileContextStopsInEveryPhase: parsing, checking and building each
// look at the context as they go, and a context that is done at any of
// those looks stops compilation with its error.
func TestCompileContextStopsInEveryPhase(t *testing.T) {
	src := []byte(generateSchema(20_000))
	// Count the looks of each phase, in the order compile makes them.
	ctx := newPollCounter(0)
	stop := newStopper(ctx)
	ctx.Err() // compile's look before it starts
	start := ctx.calls
	f, diags := parse("s.zed", src, defaultLimits, stop)
	parsed := ctx.calls
	c := newChecker(f, stop)
	c.check()
	checked := ctx.calls
	if len(diags)+len(c.diags) > 0 || build(f, stop) == nil {
		t.Fatal("the generated schema does not compile")
	}
	built := ctx.calls
	t.Logf("looks at the context: %d before, %d parsing, %d checking, %d building", start, parsed-start, checked-parsed, built-checked)
	if parsed-start < 10 || checked-parsed < 10 || built-checked < 10 {
		t.Fatalf("a phase looks at its context less than 10 times: %d, %d, %d", parsed-start, checked-parsed, built-checked)
	}
	for _, k := range []int{1, start + 1, (start + parsed) / 2, parsed, parsed + 1, (parsed + checked) / 2, checked, checked + 1, built} {
		prog, diags, err := CompileContext(newPollCounter(k), "s.zed", src)
		if prog != nil || diags != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("done at look %d of %d: got a program %v, %d diagnostics, error %v", k, built, prog != nil, len(diags), err)
		}
	}
	if prog, _, err := CompileContext(newPollCounter(built+1), "s.zed", src); prog == nil || err != nil {
		t.Errorf("done after the last look: %v", err)
	}
}

// TestCompileContextDeadline: a request whose deadline passes while a
// large schema compiles (a 200,000-line one, past MaxSourceBytes, with the
// limits lifted: it takes seconds) gets the deadline's error, not a Program.
func TestCompileContextDeadline(t *testing.T) {
	src := []byte(generateSchema(200_000))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var prog *Program
	var err error
	within(t, 10*time.Second, func() { prog, _, err = compile(ctx, "big.zed", src, noTermLimit) })
	if prog != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got a program %v, error %v", prog != nil, err)
	}
}
