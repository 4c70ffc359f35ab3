package tuples

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/badger/v4"
	"gopkg.in/yaml.v3"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
)

// ImportFormat is the format of an import file.
type ImportFormat uint8

const (
	// FormatAuto picks YAML for names ending in .yaml or .yml, lines otherwise.
	FormatAuto ImportFormat = iota
	// FormatLines is one relationship per line.
	FormatLines
	// FormatYAML is the relationships block of a validation file.
	FormatYAML
)

// Import defaults.
const (
	// DefaultImportBatch is how many relationships one import batch holds.
	DefaultImportBatch = 10000
	// maxImportBatch keeps a batch within Badger's transaction limits (about
	// 100,000 entries with the default memtable; a relationship takes two).
	maxImportBatch = 40000
	// maxLineLength is the longest line read.
	maxLineLength = 1 << 20
	// keptErrors is how many skipped lines' errors ImportResult keeps.
	keptErrors = 10
)

// ImportOptions configure Import.
type ImportOptions struct {
	// Name is the file name used in messages and to pick the format
	// ("input" when empty).
	Name string
	// Format of the input; FormatAuto decides by Name.
	Format ImportFormat
	// BatchSize is the most relationships in one batch (revision); default
	// DefaultImportBatch, at most 40,000. Batches of long lines end sooner,
	// to fit in one Badger write (about 4 MiB of input).
	BatchSize int
	// SkipInvalid skips lines that do not parse or that the schema refuses,
	// counting them, instead of stopping.
	SkipInvalid bool
	// Progress, if set, is called after every batch is committed (from the
	// goroutine that called Import).
	Progress func(ImportStats)
}

// ImportStats count what an import has done so far.
type ImportStats struct {
	Lines    int64    // lines read (comments and blank lines included)
	Bytes    int64    // bytes of input read
	Imported int64    // relationships written
	Skipped  int64    // invalid lines skipped (SkipInvalid)
	Batches  int      // batches committed
	Revision Revision // revision of the last committed batch (0 if none)
}

// ImportResult is what Import did.
type ImportResult struct {
	ImportStats
	// Invalid holds the errors of the first skipped lines (at most 10).
	Invalid []error
}

// LineError is a fault on one line of an import file.
type LineError struct {
	File string
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the fault itself (a *ParseError or a *ValidationError).
func (e *LineError) Unwrap() error { return e.Err }

// Import reads relationships from r and writes them (as TOUCH: an
// existing relationship is replaced) in large batches, each one atomic and
// at its own revision. The input is either
//
//   - lines: one relationship per line in the string form Parse reads; blank
//     lines and lines starting with `#` or `//` are skipped (what Export
//     writes), or
//   - YAML: the `relationships:` block of a validation file (the format of
//     `zed validate`); its other keys are ignored.
//
// A line that does not parse, or that the schema in force does not allow,
// stops the import with a *LineError (`FILE:N: ...`); nothing of the batch
// holding it is written, while the batches before it stay written. With
// ImportOptions.SkipInvalid such lines are counted and skipped instead.
// Parsing runs concurrently with writing.
// It returns what was written even when it fails part way.
//
// Batches bypass Badger's transactions for speed, keeping their atomicity
// (see bulk.go); Options.MaxBatch does not apply.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	if opts.Name == "" {
		opts.Name = "input"
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultImportBatch
	}
	if opts.BatchSize > maxImportBatch {
		opts.BatchSize = maxImportBatch
	}
	format := opts.Format
	if format == FormatAuto {
		format = FormatLines
		switch strings.ToLower(filepath.Ext(opts.Name)) {
		case ".yaml", ".yml":
			format = FormatYAML
		}
	}
	var res ImportResult
	if _, err := s.headRev(); err != nil {
		return res, err
	}
	s.wmu.Lock()
	err := s.writable(0)
	s.wmu.Unlock()
	if err != nil {
		return res, fmt.Errorf("import %s: %w", opts.Name, err)
	}
	var src lineSource
	switch format {
	case FormatLines:
		src = newTextSource(r)
	case FormatYAML:
		data, err := io.ReadAll(r)
		if err != nil {
			return res, fmt.Errorf("import %s: %w", opts.Name, err)
		}
		lines, err := yamlRelationships(opts.Name, data)
		if err != nil {
			return res, err
		}
		src = &sliceSource{lines: lines, bytes: int64(len(data))}
	default:
		return res, fmt.Errorf("import %s: unknown format %d", opts.Name, format)
	}

	// Keep every batch within one Badger write (see bulk.go): a
	// relationship takes two entries of about its text's length each.
	maxCount, maxSize := s.bulkLimits()
	maxRels := min(opts.BatchSize, int(maxCount/2)-64)
	maxBytes := int(maxSize / 2)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var skipped atomic.Int64
	var invalidMu sync.Mutex
	skip := func(err error) {
		skipped.Add(1)
		invalidMu.Lock()
		if len(res.Invalid) < keptErrors {
			res.Invalid = append(res.Invalid, err)
		}
		invalidMu.Unlock()
	}

	// The reader parses, validates, builds and sorts the keys of batch k+1
	// and stages its write (at the revision it expects it to get) while the
	// writer (this goroutine) commits batch k. The buffers of a committed
	// batch go back to the reader through free.
	batches := make(chan *preparedBatch, 1)
	free := make(chan *preparedBatch, 4)
	var readErr error // set by the reader before it closes batches
	go func() {
		defer close(batches)
		val := &importValidator{}
		var nextRev Revision
		newBatch := func() *importBatch {
			select {
			case p := <-free:
				b := p.importBatch
				b.rels, b.lines, b.size, b.buf, b.stop = b.rels[:0], b.lines[:0], 0, p.buf, nil
				return b
			default:
				return &importBatch{rels: make([]Relationship, 0, maxRels), lines: make([]int, 0, maxRels), buf: &bulkBuf{}}
			}
		}
		readErr = readBatches(ctx, src, opts, maxRels, maxBytes, skip, newBatch, func(b *importBatch) error {
			p, err := s.prepareBatch(b, nil, opts, val, skip)
			if err != nil {
				return err
			}
			if b.stop != nil {
				return b.stop
			}
			if len(p.rels) > 0 {
				head, err := s.headRev()
				if err != nil {
					return err
				}
				rev := max(nextRev, head+1)
				if err := s.stageBatch(p, rev, time.Now()); err != nil {
					return err
				}
				nextRev = rev + 1
			}
			select {
			case batches <- p:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	val := &importValidator{}
	var werr error
	for p := range batches {
		if werr != nil {
			continue // drain, so the reader ends
		}
		rev, n, err := s.commitPrepared(ctx, p, opts, val, skip)
		if err != nil {
			werr = err
			cancel()
			continue
		}
		res.Lines, res.Bytes = p.read, p.bytes
		if n > 0 {
			res.Imported += int64(n)
			res.Batches++
			res.Revision = rev
		}
		res.Skipped = skipped.Load()
		if opts.Progress != nil {
			opts.Progress(res.ImportStats)
		}
		p.ld = nil
		select {
		case free <- p:
		default:
		}
	}
	res.Skipped = skipped.Load()
	if werr == nil {
		werr = readErr
	}
	if werr != nil {
		res.Lines, res.Bytes = src.position()
		if errors.Is(werr, context.Canceled) && ctx.Err() != nil {
			werr = fmt.Errorf("import %s: %w", opts.Name, werr)
		}
		return res, werr
	}
	res.Lines, res.Bytes = src.position()
	if opts.Progress != nil {
		opts.Progress(res.ImportStats)
	}
	return res, nil
}

// importBatch is a run of parsed relationships with their line numbers.
type importBatch struct {
	rels  []Relationship
	lines []int // lines[i] is the line of rels[i]
	size  int   // bytes of input, roughly
	// lines and bytes read when the batch was cut.
	read, bytes int64
	buf         *bulkBuf // buffers for its keys (nil: new ones)
	// stop is a fault in the line after the batch that ends the import:
	// the batch is checked, so that a fault in an earlier line is the one
	// reported, and then stop is returned; nothing of it is written.
	stop error
}

// readBatches parses src into batches and passes each to emit, until the
// end of src, an error or ctx's end. A batch ends at maxRels relationships or
// when its size reaches maxBytes.
func readBatches(ctx context.Context, src lineSource, opts ImportOptions, maxRels, maxBytes int, skip func(error), newBatch func() *importBatch, emit func(*importBatch) error) error {
	b := newBatch()
	send := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.read, b.bytes = src.position()
		if err := emit(b); err != nil {
			return err
		}
		b = newBatch()
		return nil
	}
	for {
		text, line, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &LineError{File: opts.Name, Line: line, Err: err}
		}
		r, err := Parse(text)
		if err != nil {
			le := &LineError{File: opts.Name, Line: line, Err: err}
			if !opts.SkipInvalid {
				b.stop = le
				return emit(b)
			}
			skip(le)
			continue
		}
		b.rels = append(b.rels, r)
		b.lines = append(b.lines, line)
		b.size += len(text) + 24
		if len(b.rels) >= maxRels || b.size >= maxBytes {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if len(b.rels) > 0 {
		return send()
	}
	return nil
}

// importValidator remembers the shapes of relationship (types, relations,
// wildcard, caveat, expiration) that the schema allows, so that a large
// import validates each shape once. What varies within a shape is checked
// on every relationship: the caveat context (against the caveat's
// parameters, parsed once per shape). Parse has checked the syntax of
// the ids, the one other thing ValidateAgainst looks at.
type importValidator struct {
	prog *schema.Program
	ok   map[relShape]*shapeCheck
	last relShape    // the last shape found allowed
	lc   *shapeCheck // its check
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

func (v *importValidator) check(p *schema.Program, r *Relationship) error {
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

// preparedBatch is an import batch checked against a schema, with its
// keys built (with the name ids of na) and sorted, and maybe its write
// staged (ld, at rev and now; see stageBatch).
type preparedBatch struct {
	*importBatch // rels and lines hold only the valid relationships
	prog         *schema.Program
	na           *nameAssigner
	fwd, rvs     []bulkEntry
	changes      []byte

	ld  *badger.KVLoader // the staged write, or nil
	rev Revision
	now time.Time
}

// prepareBatch checks b against prog (nil: the schema in force now),
// dropping (SkipInvalid) or refusing the relationships it does not allow,
// and builds the batch's keys. It runs without the write lock;
// commitPrepared redoes it if the schema or the names changed meanwhile.
func (s *Store) prepareBatch(b *importBatch, prog *schema.Program, opts ImportOptions, val *importValidator, skip func(error)) (*preparedBatch, error) {
	if prog == nil {
		head, err := s.headRev()
		if err != nil {
			return nil, err
		}
		if prog, err = s.programAt(head); err != nil {
			return nil, err
		}
		if prog == nil {
			return nil, fmt.Errorf("import %s: %w (write one first)", opts.Name, ErrNoSchema)
		}
	}
	n := 0
	for i := range b.rels {
		if err := val.check(prog, &b.rels[i]); err != nil {
			le := &LineError{File: opts.Name, Line: b.lines[i], Err: err}
			if !opts.SkipInvalid {
				return nil, le
			}
			skip(le)
			continue
		}
		b.rels[n], b.lines[n] = b.rels[i], b.lines[i]
		n++
	}
	b.rels, b.lines = b.rels[:n], b.lines[:n]
	p := &preparedBatch{importBatch: b, prog: prog, na: s.names.assigner()}
	p.fwd, p.rvs, p.changes = buildBulk(p.na, b.rels, b.size, b.buf)
	return p, nil
}

// commitPrepared writes p as one atomic batch (TOUCH) at the next revision.
func (s *Store) commitPrepared(ctx context.Context, p *preparedBatch, opts ImportOptions, val *importValidator, skip func(error)) (Revision, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(int64(p.size) * 3); err != nil {
		return 0, 0, err
	}
	head, err := s.headRev()
	if err != nil {
		return 0, 0, err
	}
	prog, err := s.programAt(head)
	if err != nil {
		return 0, 0, err
	}
	if prog == nil {
		return 0, 0, fmt.Errorf("import %s: %w", opts.Name, ErrNoSchema)
	}
	if prog != p.prog || (len(p.na.added) > 0 && s.names.load() != p.na.base) {
		// A schema or relationship write came in between: check and key
		// the batch again, under the lock this time.
		if p, err = s.prepareBatch(p.importBatch, prog, opts, val, skip); err != nil {
			return 0, 0, err
		}
	}
	if len(p.rels) == 0 {
		return head, 0, nil
	}
	rev := head + 1
	stale := p.ld == nil || p.rev != rev
	if !stale {
		last, ok := s.lastCommitTime()
		stale = ok && p.now.Before(last)
	}
	if stale {
		if err := s.stageBatch(p, rev, time.Now()); err != nil {
			return 0, 0, err
		}
	}
	if err := s.finishBatch(p); err != nil {
		return 0, 0, err
	}
	return rev, len(p.rels), nil
}

// lineSource yields the relationship lines of an input with their line
// numbers; io.EOF at the end.
type lineSource interface {
	next() (text string, line int, err error)
	// position is the lines and bytes read so far; safe to call from any
	// goroutine.
	position() (lines, bytes int64)
}

// textSource reads one relationship per line.
type textSource struct {
	sc   *bufio.Scanner
	line atomic.Int64
	in   countingReader
	// chunk holds the text of the lines returned: a line's string points
	// into it (one allocation per 64 KiB of lines, not one per line). Bytes
	// once appended are never written again, so the strings stay immutable.
	chunk []byte
}

// textChunk is the size of textSource's chunks.
const textChunk = 64 << 10

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func newTextSource(r io.Reader) *textSource {
	t := &textSource{in: countingReader{r: r}}
	t.sc = bufio.NewScanner(&t.in)
	t.sc.Buffer(make([]byte, 0, 256<<10), maxLineLength)
	return t
}

func (t *textSource) next() (string, int, error) {
	for t.sc.Scan() {
		n := int(t.line.Add(1))
		b := bytes.TrimSpace(t.sc.Bytes())
		if len(b) == 0 || b[0] == '#' || bytes.HasPrefix(b, []byte("//")) {
			continue
		}
		return t.str(b), n, nil
	}
	if err := t.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line longer than %d bytes", maxLineLength)
		}
		return "", int(t.line.Load()) + 1, err
	}
	return "", 0, io.EOF
}

// str returns b as a string held in t.chunk.
func (t *textSource) str(b []byte) string {
	if len(b) > cap(t.chunk)-len(t.chunk) {
		if len(b) > textChunk/4 {
			return string(b)
		}
		t.chunk = make([]byte, 0, textChunk)
	}
	start := len(t.chunk)
	t.chunk = append(t.chunk, b...)
	return unsafe.String(&t.chunk[start], len(b))
}

// position counts the bytes read ahead into the scanner's buffer too.
func (t *textSource) position() (int64, int64) { return t.line.Load(), t.in.n.Load() }

// sliceSource yields lines already split out (from a YAML file).
type sliceSource struct {
	lines []sourceLine
	i     atomic.Int64
	bytes int64
}

type sourceLine struct {
	text string
	line int
}

func (s *sliceSource) next() (string, int, error) {
	i := s.i.Load()
	if int(i) >= len(s.lines) {
		return "", 0, io.EOF
	}
	s.i.Store(i + 1)
	return s.lines[i].text, s.lines[i].line, nil
}

func (s *sliceSource) position() (int64, int64) {
	i := s.i.Load()
	if int(i) >= len(s.lines) {
		return int64(len(s.lines)), s.bytes
	}
	return i, s.bytes * i / int64(max(1, len(s.lines)))
}

// yamlRelationships returns the lines of the `relationships` block of a
// validation file, with their lines in the file: a block scalar's lines
// follow its indicator in order, so a forward search from the node's line
// finds each one, even in folded (`>`) blocks.
func yamlRelationships(name string, data []byte) ([]sourceLine, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not a YAML file: %w", name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: a validation file must be a mapping with a relationships key", name, max(1, root.Line))
	}
	var n *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "relationships" {
			n = root.Content[i+1]
		}
	}
	if n == nil {
		return nil, fmt.Errorf("%s: no relationships block", name)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("%s:%d:%d: relationships must be a string, one relationship per line", name, n.Line, n.Column)
	}
	src := strings.Split(string(data), "\n")
	block := n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	var out []sourceLine
	next := n.Line // src[next] is the line after the node's own
	for _, raw := range strings.Split(n.Value, "\n") {
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "//") || strings.HasPrefix(t, "#") {
			continue
		}
		line := n.Line
		if block {
			for j := next; j < len(src); j++ {
				if strings.TrimSpace(src[j]) == t {
					line, next = j+1, j+1
					break
				}
			}
		}
		out = append(out, sourceLine{text: t, line: line})
	}
	return out, nil
}

// ExportOptions configure Export.
type ExportOptions struct {
	// Revision to export (0: the head).
	Revision Revision
	// Filter selects what to export; the zero Filter exports everything.
	Filter Filter
	// Header writes a first comment line naming the revision.
	Header bool
}

// Export writes the live relationships matching opts.Filter at one revision
// to w, one per line in the form Import reads, in key order. It returns the
// revision read and how many relationships it wrote.
func (s *Store) Export(ctx context.Context, w io.Writer, opts ExportOptions) (Revision, int64, error) {
	return WriteExport(ctx, s, w, opts)
}
