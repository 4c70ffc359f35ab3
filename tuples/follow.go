package tuples

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
)

// The two loops every store shares, whatever it is built on: following its
// change feed, and writing its relationships out in the form Import reads.

// ChangeSource is a store's change feed.
type ChangeSource interface {
	// Changes returns the change sets after `after` in commit order, at
	// most limit of them, and the revision read up to.
	Changes(ctx context.Context, after Revision, limit int) ([]ChangeSet, Revision, error)
	// WaitForRevision blocks until the head is at least rev, or ctx ends.
	WaitForRevision(ctx context.Context, rev Revision) error
}

// followPage is how many change sets Follow reads at a time.
const followPage = 1000

// Follow calls fn with every change set of src after revision `after`, in
// commit order, waiting for new commits, until ctx ends (it then returns
// ctx's error), fn returns an error (returned), or the store fails or
// closes (ErrClosed).
func Follow(ctx context.Context, src ChangeSource, after Revision, fn func(ChangeSet) error) error {
	for {
		sets, upto, err := src.Changes(ctx, after, followPage)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		for _, cs := range sets {
			if err := fn(cs); err != nil {
				return err
			}
		}
		after = upto
		if len(sets) == followPage {
			continue
		}
		if err := src.WaitForRevision(ctx, after+1); err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return ctx.Err()
			}
			return err
		}
	}
}

// Lister reads a store's relationships by filter at a revision.
type Lister interface {
	HeadRevision(ctx context.Context) (Revision, error)
	ForEach(ctx context.Context, rev Revision, f Filter, fn func(Relationship) (bool, error)) (Revision, error)
}

// WriteExport writes the live relationships of src matching opts.Filter at
// opts.Revision (0: the head) to w, one per line in the form Import reads,
// in src's order, after a comment line naming the revision when
// opts.Header. It returns the revision read and how many it wrote.
func WriteExport(ctx context.Context, src Lister, w io.Writer, opts ExportOptions) (Revision, int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	rev := opts.Revision
	if rev == 0 {
		head, err := src.HeadRevision(ctx)
		if err != nil {
			return 0, 0, err
		}
		rev = head
	}
	if opts.Header {
		fmt.Fprintf(bw, "# relationships exported by reach at revision %s\n", rev.Token())
	}
	var n int64
	var werr error
	rev, err := src.ForEach(ctx, rev, opts.Filter, func(r Relationship) (bool, error) {
		if _, werr = bw.WriteString(r.String()); werr == nil {
			werr = bw.WriteByte('\n')
		}
		if werr != nil {
			return false, werr
		}
		n++
		return true, nil
	})
	if err != nil {
		return rev, n, fmt.Errorf("export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return rev, n, fmt.Errorf("export: %w", err)
	}
	return rev, n, nil
}
