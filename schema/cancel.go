package schema

import (
	"context"
	"fmt"
)

// CompileContext is Compile for callers with a context, such as a server
// handling a request: when ctx is done before the Program is built, it stops
// parsing, checking or building within a few hundred steps and returns a nil
// Program, no diagnostics and an error that wraps ctx.Err() (errors.Is(err,
// context.DeadlineExceeded) reports a deadline that passed). Compilation is
// linear in the size of the source and bounded by the limits of limits.go,
// so this matters for the largest schemas and the tightest deadlines.
func CompileContext(ctx context.Context, filename string, src []byte) (*Program, []Diagnostic, error) {
	return compile(ctx, filename, src, defaultLimits)
}

// stopper lets the parser, the checker and the builder notice that their
// context is done. A step costs a counter increment; ctx.Err() is asked
// every stopEvery steps.
type stopper struct {
	ctx   context.Context // nil when it can never be done
	steps int
	err   error // ctx.Err() once seen
}

// stopEvery is how many steps (tokens, terms, relations) pass between two
// looks at the context: a few microseconds of work.
const stopEvery = 256

func newStopper(ctx context.Context) *stopper {
	if ctx.Done() == nil {
		return &stopper{} // context.Background and the like
	}
	return &stopper{ctx: ctx}
}

// stopped counts a step and reports whether the context is done.
func (s *stopper) stopped() bool {
	if s.err != nil {
		return true
	}
	if s.ctx == nil {
		return false
	}
	s.steps++
	if s.steps%stopEvery != 0 {
		return false
	}
	s.err = s.ctx.Err()
	return s.err != nil
}

// stopError is the error CompileContext returns for a context that is done.
func stopError(filename string, err error) error {
	if filename == "" {
		return fmt.Errorf("compiling schema: stopped: %w", err)
	}
	return fmt.Errorf("compiling schema %s: stopped: %w", filename, err)
}
