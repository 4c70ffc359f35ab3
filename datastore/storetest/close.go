package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// testClose checks that Close wakes whoever waits for a revision with
// ErrClosed (the server's Watch streams end on it), that a closed store
// answers ErrClosed, through a snapshot opened before it closed too, and
// that closing twice is harmless (the factory's cleanup closes it again).
func testClose(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, "document:a#viewer@user:ana")
	h := head(t, ds)
	sn, err := ds.Snapshot(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- ds.WaitForRevision(ctx, h+1) }()
	// The follower is let read the feed before the store closes (a read
	// that races Close is not what this test is about).
	following := make(chan error, 1)
	fw := &waitCalled{Datastore: ds, called: make(chan struct{}, 1)}
	go func() {
		following <- follow(ctx, fw, h, 0, func(tuples.ChangeSet) error { return nil })
	}()
	select {
	case <-fw.called:
	case err := <-following:
		t.Fatalf("the follower ended before the store closed: %v", err)
	}
	if err := ds.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for what, ch := range map[string]chan error{"WaitForRevision": waiting, "a follower of the change feed": following} {
		select {
		case err := <-ch:
			if !errors.Is(err, tuples.ErrClosed) {
				t.Errorf("%s when the store closes: %v, want ErrClosed", what, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s did not return when the store closed", what)
		}
	}
	if _, err := ds.HeadRevision(ctx); !errors.Is(err, tuples.ErrClosed) {
		t.Errorf("HeadRevision after Close: %v, want ErrClosed", err)
	}
	if _, _, err := sn.Get("document", "a", "viewer", "user", "ana", ""); !errors.Is(err, tuples.ErrClosed) {
		t.Errorf("Get through a snapshot opened before Close: %v, want ErrClosed", err)
	}
	if err := sn.Subjects("document", "a", "viewer", "", "", func(tuples.Relationship) bool { return true }); !errors.Is(err, tuples.ErrClosed) {
		t.Errorf("Subjects through a snapshot opened before Close: %v, want ErrClosed", err)
	}
	if err := sn.Resources("user", "ana", "", "document", "viewer", func(tuples.Relationship) bool { return true }); !errors.Is(err, tuples.ErrClosed) {
		t.Errorf("Resources through a snapshot opened before Close: %v, want ErrClosed", err)
	}
	sn.Close()
	if _, err := ds.Snapshot(ctx, h); !errors.Is(err, tuples.ErrClosed) {
		t.Errorf("Snapshot after Close: %v, want ErrClosed", err)
	}
	if err := ds.WaitForRevision(ctx, h+1); !errors.Is(err, tuples.ErrClosed) {
		t.Errorf("WaitForRevision after Close: %v, want ErrClosed", err)
	}
	if err := ds.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// waitCalled signals each call of WaitForRevision before it waits.
type waitCalled struct {
	datastore.Datastore
	called chan struct{}
}

func (w *waitCalled) WaitForRevision(ctx context.Context, rev tuples.Revision) error {
	select {
	case w.called <- struct{}{}:
	default:
	}
	return w.Datastore.WaitForRevision(ctx, rev)
}
