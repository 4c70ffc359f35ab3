package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// withDeadline bounds a unary call by the time at, as
// context.WithDeadline(ctx, at) does, unless the client's own deadline comes
// first: then it returns ctx as it is, and a nil *deadlineCtx. Otherwise
// the caller calls the *deadlineCtx's cancel when the call ends.
//
// The context costs one allocation where context.WithDeadline costs four
// (a timer, its closure, the child context and the parent's table of
// children): its Done channel, and the timer that closes it, are made only
// when some code asks for Done. Most calls never do: the engine and the
// Badger store poll Err, which compares the clock with the deadline. A
// store on the network (PostgreSQL) asks for Done when it queries, and then
// gets context.WithDeadline's.
func withDeadline(ctx context.Context, at time.Time) (context.Context, *deadlineCtx) {
	return withDeadlineIn(nil, ctx, at)
}

// withDeadlineIn is withDeadline, its context made in c (a fresh one) if c
// is not nil.
func withDeadlineIn(c *deadlineCtx, ctx context.Context, at time.Time) (context.Context, *deadlineCtx) {
	if dl, ok := ctx.Deadline(); ok && !dl.After(at) {
		return ctx, nil
	}
	if c == nil {
		c = new(deadlineCtx)
	}
	c.Context, c.at = ctx, at
	return c, c
}

// deadlineCtx is the context of withDeadline: ctx's values, ctx's
// cancellation, and a deadline of its own.
type deadlineCtx struct {
	context.Context
	at time.Time

	// inner is context.WithDeadline(ctx, at), made when Done is first
	// asked for; from then on it answers Done, Err and Value.
	inner atomic.Pointer[innerCtx]
	mu    sync.Mutex // guards making inner, and err
	err   error      // set by cancel while inner is nil
}

type innerCtx struct {
	ctx  context.Context
	stop context.CancelFunc
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.at, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	if in := c.inner.Load(); in != nil {
		return in.ctx.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.inner.Load()
	if in == nil {
		in = &innerCtx{}
		in.ctx, in.stop = context.WithDeadline(c.Context, c.at)
		if c.err != nil {
			in.stop() // (the deadline or ctx, if they ended it, win)
		}
		c.inner.Store(in)
	}
	return in.ctx.Done()
}

func (c *deadlineCtx) Err() error {
	if in := c.inner.Load(); in != nil {
		return in.ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.inner.Load(); in != nil {
		return in.ctx.Err()
	}
	if c.err != nil {
		return c.err
	}
	return c.errLocked()
}

// errLocked is what ended the context, its Done never asked for: ctx, or
// the deadline.
func (c *deadlineCtx) errLocked() error {
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.at) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers from inner once it exists, so that a context derived from
// this one finds inner's cancellation (as context.WithCancel looks for its
// parent's) and needs no goroutine to follow it.
func (c *deadlineCtx) Value(key any) any {
	if in := c.inner.Load(); in != nil {
		return in.ctx.Value(key)
	}
	return c.Context.Value(key)
}

// cancel ends the context, as the CancelFunc of context.WithTimeout: Err
// reports Canceled from now on, unless something ended it first.
func (c *deadlineCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in := c.inner.Load(); in != nil {
		in.stop()
		return
	}
	if c.err == nil {
		c.err = c.errLocked()
		if c.err == nil {
			c.err = context.Canceled
		}
	}
}

func (c *deadlineCtx) String() string { return "server.withDeadline" }
