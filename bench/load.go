package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// LoadStats is what load did.
type LoadStats struct {
	Relationships int64
	Batches       int
	Revision      tuples.Revision
}

// load streams every relationship of ds into store through the bulk import
// path (Store.Import): the generator prints relationships into a pipe that
// Import parses, validates and writes in large batches, as `reach import`
// does with a file. Nothing is held but a batch in flight. progress, if not
// nil, is called after every batch with the number written so far.
//
// This is the one place that knows how relationships get into the store.
func load(ctx context.Context, store datastore.Datastore, ds Dataset, progress func(int64)) (LoadStats, error) {
	pr, pw := io.Pipe()
	genErr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		buf := make([]byte, 0, 256)
		err := ds.Generate(ctx, func(r tuples.Relationship) error {
			buf = appendRelationship(buf[:0], &r)
			_, err := bw.Write(buf)
			return err
		})
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err) // nil: Import sees io.EOF
		genErr <- err
	}()
	opts := tuples.ImportOptions{Name: ds.Name()}
	if progress != nil {
		opts.Progress = func(s tuples.ImportStats) { progress(s.Imported) }
	}
	res, err := store.Import(ctx, pr, opts)
	pr.CloseWithError(io.ErrClosedPipe) // unblock the generator if Import stopped early
	gerr := <-genErr
	st := LoadStats{Relationships: res.Imported, Batches: res.Batches, Revision: res.Revision}
	if err != nil {
		return st, fmt.Errorf("loading %s: %w", ds.Name(), err)
	}
	if gerr != nil {
		return st, fmt.Errorf("generating %s: %w", ds.Name(), gerr)
	}
	if st.Relationships != ds.Relationships() {
		return st, fmt.Errorf("loading %s: imported %d relationships, the dataset has %d", ds.Name(), st.Relationships, ds.Relationships())
	}
	return st, nil
}

// appendRelationship appends r's string form and a newline.
func appendRelationship(b []byte, r *tuples.Relationship) []byte {
	if r.Caveat != nil || r.Expiration != nil {
		return append(append(b, r.String()...), '\n')
	}
	b = append(b, r.ResourceType...)
	b = append(b, ':')
	b = append(b, r.ResourceID...)
	b = append(b, '#')
	b = append(b, r.Relation...)
	b = append(b, '@')
	b = append(b, r.SubjectType...)
	b = append(b, ':')
	b = append(b, r.SubjectID...)
	if r.SubjectRelation != "" {
		b = append(b, '#')
		b = append(b, r.SubjectRelation...)
	}
	return append(b, '\n')
}
