package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// withDeadline's context behaves as context.WithTimeout's, whether or not
// Done is asked for, and before or after it ends.
func TestWithDeadline(t *testing.T) {
	type key struct{}
	parent := context.WithValue(context.Background(), key{}, "v")

	ctx, c := withDeadline(parent, time.Now().Add(20*time.Millisecond))
	if c == nil || ctx.Value(key{}) != "v" || ctx.Err() != nil {
		t.Fatalf("fresh: %v %v %v", c, ctx.Value(key{}), ctx.Err())
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > 20*time.Millisecond {
		t.Errorf("deadline %v %v", dl, ok)
	}
	time.Sleep(30 * time.Millisecond)
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("past the deadline, Done never asked: Err = %v", ctx.Err())
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Error("past the deadline, Done is not closed")
	}
	c.cancel()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("cancelled after the deadline: Err = %v", ctx.Err())
	}

	// Done asked first: closed by the timer.
	ctx, c = withDeadline(parent, time.Now().Add(20*time.Millisecond))
	start := time.Now()
	<-ctx.Done()
	if d := time.Since(start); d < 15*time.Millisecond || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Done closed after %v, Err %v", d, ctx.Err())
	}
	c.cancel()

	// Cancelled before the deadline, Done asked after.
	ctx, c = withDeadline(parent, time.Now().Add(time.Hour))
	c.cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("cancelled: Err = %v", ctx.Err())
	}
	select {
	case <-ctx.Done():
	default:
		t.Error("cancelled: Done open")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("cancelled, Done asked: Err = %v", ctx.Err())
	}

	// The parent cancelled: Err says so, Done closes, a derived context
	// ends too.
	p, stop := context.WithCancel(parent)
	ctx, c = withDeadline(p, time.Now().Add(time.Hour))
	derived, stopDerived := context.WithCancel(ctx)
	defer stopDerived()
	stop()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("parent cancelled: Err = %v", ctx.Err())
	}
	select {
	case <-derived.Done():
	case <-time.After(time.Second):
		t.Error("parent cancelled: the derived context did not end")
	}
	c.cancel()

	// An earlier deadline of the client's stays.
	early, stopEarly := context.WithTimeout(parent, time.Second)
	defer stopEarly()
	if ctx, c := withDeadline(early, time.Now().Add(time.Hour)); ctx != early || c != nil {
		t.Errorf("the client's earlier deadline was replaced")
	}
}

func TestWithDeadlineConcurrent(t *testing.T) {
	for range 50 {
		ctx, c := withDeadline(context.Background(), time.Now().Add(time.Millisecond))
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					<-ctx.Done()
				}
				for ctx.Err() == nil {
					time.Sleep(100 * time.Microsecond)
				}
			}()
		}
		wg.Wait()
		c.cancel()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err = %v", ctx.Err())
		}
	}
}
