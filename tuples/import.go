package tuples

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/dgraph-io/badger/v4"
	"gopkg.in/yaml.v3"

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
// Parsing runs concurrently with writing (RunImport, the front end every
// driver shares, reads, parses and validates the batches).
// It returns what was written even when it fails part way.
//
// Batches bypass Badger's transactions for speed, keeping their atomicity
// (see bulk.go); Options.MaxBatch does not apply.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportResult, error) {
	name := opts.Name
	if name == "" {
		name = "input"
	}
	var res ImportResult
	if _, err := s.headRev(); err != nil {
		return res, err
	}
	s.wmu.Lock()
	err := s.writable(0)
	s.wmu.Unlock()
	if err != nil {
		return res, fmt.Errorf("import %s: %w", name, err)
	}
	lines, err := NewImportLines(r, opts)
	if err != nil {
		return res, err
	}
	// Keep every batch within one Badger write (see bulk.go): a
	// relationship takes two entries of about its text's length each.
	maxCount, maxSize := s.bulkLimits()
	lim := ImportLimits{MaxRels: max(1, int(maxCount/2)-64), MaxBytes: max(1, int(maxSize/2))}
	return RunImport(ctx, lines, opts, lim, &badgerImport{s: s, free: make(chan *bulkBuf, 4)})
}

// badgerImport writes the batches of an import. Prepare builds and sorts
// the keys of batch k+1 and stages its write (at the revision it expects
// it to get) while Commit writes batch k. The key buffers of a written
// batch go back to Prepare through free.
type badgerImport struct {
	s       *Store
	nextRev Revision // the revision the next staged batch expects (Prepare's)
	free    chan *bulkBuf
}

func (w *badgerImport) Schema(context.Context) (*schema.Program, error) {
	head, err := w.s.headRev()
	if err != nil {
		return nil, err
	}
	return w.s.programAt(head)
}

func (w *badgerImport) Prepare(_ context.Context, b *ImportBatch, prog *schema.Program) (*preparedBatch, error) {
	var buf *bulkBuf
	select {
	case buf = <-w.free:
	default:
		buf = &bulkBuf{}
	}
	p := w.s.prepareBatch(b, prog, buf)
	if len(p.Rels) > 0 {
		head, err := w.s.headRev()
		if err != nil {
			return nil, err
		}
		rev := max(w.nextRev, head+1)
		if err := w.s.stageBatch(p, rev, time.Now()); err != nil {
			return nil, err
		}
		w.nextRev = rev + 1
	}
	return p, nil
}

func (w *badgerImport) Commit(ctx context.Context, p *preparedBatch, v *ImportValidator) (Revision, int, error) {
	return w.s.commitPrepared(ctx, p, v)
}

func (w *badgerImport) Release(p *preparedBatch) {
	p.ld = nil
	select {
	case w.free <- p.buf:
	default:
	}
}

// preparedBatch is an import batch validated against a schema, with its
// keys built (with the name ids of na, in buf) and sorted, and maybe its
// write staged (ld, at rev and now; see stageBatch).
type preparedBatch struct {
	*ImportBatch
	prog     *schema.Program
	na       *nameAssigner
	buf      *bulkBuf
	fwd, rvs []bulkEntry
	changes  []byte

	ld  *badger.KVLoader // the staged write, or nil
	rev Revision
	now time.Time
}

// prepareBatch builds the keys of b, validated against prog, in buf (nil:
// new buffers). It runs without the write lock; commitPrepared redoes it if
// the schema or the names changed meanwhile.
func (s *Store) prepareBatch(b *ImportBatch, prog *schema.Program, buf *bulkBuf) *preparedBatch {
	if buf == nil {
		buf = &bulkBuf{}
	}
	p := &preparedBatch{ImportBatch: b, prog: prog, na: s.names.assigner(), buf: buf}
	p.fwd, p.rvs, p.changes = buildBulk(p.na, b.Rels, b.Size, buf)
	return p
}

// commitPrepared writes p as one atomic batch (TOUCH) at the next revision.
// If the schema changed since p was prepared, its batch is validated again
// with v first.
func (s *Store) commitPrepared(ctx context.Context, p *preparedBatch, v *ImportValidator) (Revision, int, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(int64(p.Size) * 3); err != nil {
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
		return 0, 0, fmt.Errorf("import %s: %w", v.name, ErrNoSchema)
	}
	if prog != p.prog || (len(p.na.added) > 0 && s.names.load() != p.na.base) {
		// A schema or relationship write came in between: check and key
		// the batch again, under the lock this time.
		if prog != p.prog {
			if err := v.Validate(p.ImportBatch, prog); err != nil {
				return 0, 0, err
			}
		}
		p = s.prepareBatch(p.ImportBatch, prog, p.buf)
	}
	if len(p.Rels) == 0 {
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
	return rev, len(p.Rels), nil
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
