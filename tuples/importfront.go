package tuples

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
)

// The front end of an import, the same for every driver: RunImport reads
// the input (ImportLines) into batches, parses and validates them
// (ImportValidator), and decides what a valid line is, how a fault reads
// (FILE:N: ...), what SkipInvalid keeps, when a batch ends, and what the
// result and the progress calls say. A driver (ImportWriter) only readies
// each validated batch and writes it, atomically, its own way.

// ImportBatch is a run of relationships read from an import input, in the
// input's order, with the line of each; once validated, the valid ones
// alone.
type ImportBatch struct {
	Rels  []Relationship
	Lines []int // Lines[i] is the line of Rels[i]
	Size  int   // bytes of input, roughly
	// lines and bytes read when the batch was cut.
	read, bytes int64
	// stop is a fault in the line after the batch that ends the import:
	// the batch is validated, so that a fault in an earlier line is the one
	// reported, and then stop is returned; nothing of it is written.
	stop error
}

// ImportLimits bound the batches of an import to what one write of a store
// holds, beyond ImportOptions.BatchSize.
type ImportLimits struct {
	// MaxRels is the most relationships in a batch (0: BatchSize alone).
	MaxRels int
	// MaxBytes ends a batch once its input reaches this size (0: no bound).
	MaxBytes int
}

// ImportWriter writes the batches of an import that RunImport reads and
// validates; P is a batch readied for writing.
type ImportWriter[P any] interface {
	// Schema returns the schema to validate the next batch against (nil:
	// none written yet, which fails the import). It is called on the
	// reading goroutine.
	Schema(ctx context.Context) (*schema.Program, error)
	// Prepare readies b, validated against prog, to be written (on the
	// reading goroutine, while the batch before is committed).
	Prepare(ctx context.Context, b *ImportBatch, prog *schema.Program) (P, error)
	// Commit writes p as one atomic batch of TOUCHes at the next revision
	// and returns that revision and how many relationships it wrote (none,
	// and no revision, when validation left none). When the schema in
	// force is no longer the one p was prepared against, Commit validates
	// its batch again with v first (v.Validate: the relationships refused
	// are dropped or fail the import), writing nothing of a refused batch.
	// It runs on the goroutine that called RunImport.
	Commit(ctx context.Context, p P, v *ImportValidator) (Revision, int, error)
	// Release says that p and its batch are done with; their buffers may
	// be used again.
	Release(p P)
}

// RunImport is the part of an import every driver shares (see
// Store.Import for what an import does). lines is the input
// (NewImportLines); w writes its batches. A reading goroutine parses,
// validates and prepares batch k+1 while this one commits batch k. It
// returns what was written even when it fails part way.
func RunImport[P any](ctx context.Context, lines *ImportLines, opts ImportOptions, lim ImportLimits, w ImportWriter[P]) (ImportResult, error) {
	opts.Name = lines.Name
	maxRels := opts.BatchSize
	if maxRels <= 0 {
		maxRels = DefaultImportBatch
	}
	maxRels = min(maxRels, maxImportBatch)
	if lim.MaxRels > 0 {
		maxRels = min(maxRels, lim.MaxRels)
	}
	maxBytes := lim.MaxBytes
	if maxBytes <= 0 {
		maxBytes = int(^uint(0) >> 1)
	}

	var res ImportResult
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	skips := &importSkips{}

	type prepared struct {
		b *ImportBatch
		p P
	}
	batches := make(chan prepared, 1)
	// The batches the writer is done with go back to the reader.
	free := make(chan *ImportBatch, 4)
	var readErr error // set by the reader before it closes batches
	go func() {
		defer close(batches)
		v := newImportValidator(opts, skips)
		newBatch := func() *ImportBatch {
			select {
			case b := <-free:
				*b = ImportBatch{Rels: b.Rels[:0], Lines: b.Lines[:0]}
				return b
			default:
				return &ImportBatch{Rels: make([]Relationship, 0, maxRels), Lines: make([]int, 0, maxRels)}
			}
		}
		readErr = readBatches(ctx, lines, v, maxRels, maxBytes, newBatch, func(b *ImportBatch) error {
			prog, err := w.Schema(ctx)
			if err != nil {
				return err
			}
			if prog == nil {
				return fmt.Errorf("import %s: %w (write one first)", opts.Name, ErrNoSchema)
			}
			if err := v.Validate(b, prog); err != nil {
				return err
			}
			if b.stop != nil {
				return b.stop
			}
			p, err := w.Prepare(ctx, b, prog)
			if err != nil {
				return err
			}
			select {
			case batches <- prepared{b, p}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	v := newImportValidator(opts, skips)
	var werr error
	for it := range batches {
		if werr != nil {
			continue // drain, so the reader ends
		}
		rev, n, err := w.Commit(ctx, it.p, v)
		if err != nil {
			werr = err
			cancel()
			continue
		}
		res.Lines, res.Bytes = it.b.read, it.b.bytes
		if n > 0 {
			res.Imported += int64(n)
			res.Batches++
			res.Revision = rev
		}
		res.Skipped = skips.n.Load()
		if opts.Progress != nil {
			opts.Progress(res.ImportStats)
		}
		w.Release(it.p)
		select {
		case free <- it.b:
		default:
		}
	}
	res.Skipped = skips.n.Load()
	res.Invalid = skips.errors()
	if werr == nil {
		werr = readErr
	}
	res.Lines, res.Bytes = lines.Position()
	if werr != nil {
		if errors.Is(werr, context.Canceled) && ctx.Err() != nil {
			werr = fmt.Errorf("import %s: %w", opts.Name, werr)
		}
		return res, werr
	}
	if opts.Progress != nil {
		opts.Progress(res.ImportStats)
	}
	return res, nil
}

// importSkips counts the lines an import skipped (SkipInvalid) and keeps
// the errors of the first ones; both goroutines of an import add to it.
type importSkips struct {
	n    atomic.Int64
	mu   sync.Mutex
	kept []error
}

func (s *importSkips) add(err error) {
	if s == nil {
		return
	}
	s.n.Add(1)
	s.mu.Lock()
	if len(s.kept) < keptErrors {
		s.kept = append(s.kept, err)
	}
	s.mu.Unlock()
}

func (s *importSkips) errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kept
}

// readBatches parses the lines of src into batches and passes each to
// emit, until the end of src, an error or ctx's end. A batch ends at
// maxRels relationships or when its size reaches maxBytes.
func readBatches(ctx context.Context, src *ImportLines, v *ImportValidator, maxRels, maxBytes int, newBatch func() *ImportBatch, emit func(*ImportBatch) error) error {
	b := newBatch()
	send := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.read, b.bytes = src.Position()
		if err := emit(b); err != nil {
			return err
		}
		b = newBatch()
		return nil
	}
	for {
		text, line, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// Reading failed: not a fault of the line, never skipped.
			return &LineError{File: v.name, Line: line, Err: err}
		}
		r, err := Parse(text)
		if err != nil {
			if err := v.fault(line, err); err != nil {
				b.stop = err
				return emit(b)
			}
			continue
		}
		b.Rels = append(b.Rels, r)
		b.Lines = append(b.Lines, line)
		b.Size += len(text) + 24
		if len(b.Rels) >= maxRels || b.Size >= maxBytes {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(b.Rels) > 0 {
		return send()
	}
	return nil
}

// ImportValidator decides which relationships of an import are valid, as
// a write would, and what becomes of the others: a *LineError that stops
// the import, or with SkipInvalid a line counted and skipped.
//
// It remembers the shapes of relationship (types, relations, wildcard,
// caveat, expiration) that the schema allows, so that a large import
// validates each shape once. What varies within a shape is checked on
// every relationship: the caveat context (against the caveat's parameters,
// parsed once per shape). Parse has checked the syntax of the ids, the one
// other thing ValidateAgainst looks at.
//
// An ImportValidator is used by one goroutine at a time.
type ImportValidator struct {
	name        string // the input's, for messages
	skipInvalid bool
	skips       *importSkips // nil: not counted

	prog *schema.Program
	ok   map[relShape]*shapeCheck
	last relShape    // the last shape found allowed
	lc   *shapeCheck // its check
}

func newImportValidator(opts ImportOptions, skips *importSkips) *ImportValidator {
	return &ImportValidator{name: opts.Name, skipInvalid: opts.SkipInvalid, skips: skips}
}

// Validate checks b's relationships against prog, keeping the valid ones
// in b, in order. The first one refused is returned as a *LineError
// (FILE:N: and what a write of it says), or with SkipInvalid every one
// refused is dropped, counted and kept in the import's result.
func (v *ImportValidator) Validate(b *ImportBatch, prog *schema.Program) error {
	n := 0
	for i := range b.Rels {
		if err := v.check(prog, &b.Rels[i]); err != nil {
			if err := v.fault(b.Lines[i], err); err != nil {
				return err
			}
			continue
		}
		if n != i {
			b.Rels[n], b.Lines[n] = b.Rels[i], b.Lines[i]
		}
		n++
	}
	b.Rels, b.Lines = b.Rels[:n], b.Lines[:n]
	return nil
}

// fault handles err, a fault of line: it returns it as a *LineError, or
// with SkipInvalid counts and keeps it and returns nil.
func (v *ImportValidator) fault(line int, err error) error {
	le := &LineError{File: v.name, Line: line, Err: err}
	if !v.skipInvalid {
		return le
	}
	v.skips.add(le)
	return nil
}

type relShape struct {
	resType, rel, subjType, subjRel, caveat string
	wildcard, expiring                      bool
}

// shapeCheck is what remains to check of a relationship of an allowed
// shape: its caveat context, if the shape has a caveat.
type shapeCheck struct {
	// params are the caveat's parameter types by name; nil when the shape
	// has no caveat, or when a type did not parse (then every context is
	// checked by ValidateAgainst).
	params map[string]*caveats.Type
}

func shapeOf(r *Relationship) relShape {
	sh := relShape{resType: r.ResourceType, rel: r.Relation, subjType: r.SubjectType, subjRel: r.SubjectRelation,
		wildcard: r.IsWildcard(), expiring: r.Expiration != nil}
	if r.Caveat != nil {
		sh.caveat = r.Caveat.Name
	}
	return sh
}

// check returns why p does not allow r (ValidateAgainst's error), or nil.
func (v *ImportValidator) check(p *schema.Program, r *Relationship) error {
	if p != v.prog {
		v.prog, v.ok, v.lc = p, map[relShape]*shapeCheck{}, nil
	}
	sh := shapeOf(r)
	c := v.lc
	if c == nil || sh != v.last {
		var ok bool
		if c, ok = v.ok[sh]; !ok {
			// The first of its shape is checked whole, its context too.
			if err := ValidateAgainst(p, *r); err != nil {
				return err
			}
			c = newShapeCheck(p, r)
			v.ok[sh] = c
			v.last, v.lc = sh, c
			return nil
		}
		v.last, v.lc = sh, c
	}
	if r.Caveat == nil || len(r.Caveat.Context) == 0 {
		return nil
	}
	if c.params != nil && c.contextOK(r.Caveat.Context) {
		return nil
	}
	// A context at fault: ValidateAgainst says why, as for a write.
	return ValidateAgainst(p, *r)
}

// newShapeCheck prepares the check of r's shape, which p allows.
func newShapeCheck(p *schema.Program, r *Relationship) *shapeCheck {
	c := &shapeCheck{}
	if r.Caveat == nil {
		return c
	}
	cv := p.Caveat(r.Caveat.Name)
	if cv == nil {
		return c
	}
	params := make(map[string]*caveats.Type, len(cv.Params))
	for _, pa := range cv.Params {
		t, err := caveats.ParseType(pa.Type)
		if err != nil {
			return c
		}
		if _, dup := params[pa.Name]; !dup { // the first, as checkCaveatContext finds
			params[pa.Name] = t
		}
	}
	c.params = params
	return c
}

// contextOK reports whether checkCaveatContext would accept ctx: every
// name a parameter, every value converting to its type.
func (c *shapeCheck) contextOK(ctx map[string]any) bool {
	for k, v := range ctx {
		t, ok := c.params[k]
		if !ok {
			return false
		}
		if _, err := t.Convert(v); err != nil {
			return false
		}
	}
	return true
}
