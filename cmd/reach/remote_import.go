package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/tuples"
)

// importLine is one relationship line of an import and its line number.
type importLine struct {
	text string
	line int
}

// Import writes the relationships of r to the server as TOUCHes, as
// tuples.Store.Import does locally: in batches (of at most MaxBatch, the
// largest WriteRelationships), each one atomic at its own revision. Each
// line is parsed and checked against the server's schema here first, so
// that a bad line stops the import (or is skipped, with SkipInvalid) and is
// reported as FILE:LINE: message before anything of its batch is sent.
func (c *remoteClient) Import(ctx context.Context, r io.Reader, opts tuples.ImportOptions) (tuples.ImportResult, error) {
	var res tuples.ImportResult
	if opts.Name == "" {
		opts.Name = "input"
	}
	batchSize := opts.BatchSize
	if batchSize <= 0 {
		batchSize = tuples.DefaultImportBatch
	}
	batchSize = min(batchSize, c.MaxBatch())
	prog, _, err := c.Schema(ctx)
	if err != nil {
		return res, err
	}
	format := opts.Format
	if format == tuples.FormatAuto {
		format = tuples.FormatLines
		if ext := strings.ToLower(filepath.Ext(opts.Name)); ext == ".yaml" || ext == ".yml" {
			format = tuples.FormatYAML
		}
	}
	next, err := importSource(r, opts.Name, format, &res)
	if err != nil {
		return res, err
	}

	var batch []tuples.Update
	index := map[string]int{} // a relationship's place in batch: the last write of it wins
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rev, err := c.Write(ctx, batch)
		if err != nil {
			return err
		}
		res.Imported += int64(len(batch))
		res.Batches++
		res.Revision = rev
		batch, index = batch[:0], map[string]int{}
		if opts.Progress != nil {
			opts.Progress(res.ImportStats)
		}
		return nil
	}
	bad := func(l importLine, err error) error {
		le := &tuples.LineError{File: opts.Name, Line: l.line, Err: err}
		if !opts.SkipInvalid {
			return le
		}
		res.Skipped++
		if len(res.Invalid) < 10 {
			res.Invalid = append(res.Invalid, le)
		}
		return nil
	}
	for {
		l, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, err
		}
		rel, err := tuples.Parse(l.text)
		if err == nil {
			err = tuples.ValidateAgainst(prog, rel)
		}
		if err != nil {
			if err := bad(l, err); err != nil {
				return res, err
			}
			continue
		}
		key := rel.WithoutTraits().String()
		if i, ok := index[key]; ok {
			batch[i].Relationship = rel
			continue
		}
		index[key] = len(batch)
		batch = append(batch, tuples.Update{Op: tuples.Touch, Relationship: rel})
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	return res, flush()
}

// importSource returns the function that yields the relationship lines of
// r, counting lines and bytes into res.
func importSource(r io.Reader, name string, format tuples.ImportFormat, res *tuples.ImportResult) (func() (importLine, error), error) {
	if format == tuples.FormatYAML {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		f, err := validation.Parse(name, data, func(string) ([]byte, error) { return nil, nil })
		if err != nil {
			return nil, err
		}
		// Lines counts the relationships of the block, as the store does.
		res.Bytes, res.Lines = int64(len(data)), int64(len(f.Relationships))
		i := 0
		return func() (importLine, error) {
			if i == len(f.Relationships) {
				return importLine{}, io.EOF
			}
			l := f.Relationships[i]
			i++
			return importLine{text: l.Text, line: l.Line}, nil
		}, nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	return func() (importLine, error) {
		for sc.Scan() {
			res.Lines++
			res.Bytes += int64(len(sc.Bytes())) + 1
			b := bytes.TrimSpace(sc.Bytes())
			if len(b) == 0 || b[0] == '#' || bytes.HasPrefix(b, []byte("//")) {
				continue
			}
			return importLine{text: string(b), line: int(res.Lines)}, nil
		}
		if err := sc.Err(); err != nil {
			return importLine{}, fmt.Errorf("reading %s: %w", name, err)
		}
		return importLine{}, io.EOF
	}, nil
}
