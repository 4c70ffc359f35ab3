package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Import. A reader goroutine decodes the input (tuples.ImportLines, so the
// formats and the FILE:N: errors are the Badger driver's), parses and
// validates each batch and renders it as COPY text, while the caller's
// goroutine writes the batch before it. A batch is one transaction on one
// connection kept for the import:
//
//	COPY into a temporary staging table (before taking the head lock),
//	take the next revision (the head lock),
//	end the live versions of the relationships staged (a join on the
//	unique index of live rows), insert the staged rows at the revision,
//	record the change set and the commit time, commit.
//
// So each batch is atomic at its own revision, and a batch that fails
// leaves nothing behind.

// importBatchBytes ends a batch early once its COPY text reaches this size.
const importBatchBytes = 32 << 20

const stagingTable = `CREATE TEMPORARY TABLE IF NOT EXISTS reach_import (
	resource_type    text COLLATE "C",
	relation         text COLLATE "C",
	resource_id      text COLLATE "C",
	subject_type     text COLLATE "C",
	subject_relation text COLLATE "C",
	subject_id       text COLLATE "C",
	caveat_name      text,
	caveat_context   text,
	expiration       timestamptz,
	expiration_ns    smallint
) ON COMMIT DELETE ROWS`

// insertStagedRows inserts the staged rows at revision $1.
const insertStagedRows = `INSERT INTO reach_relationships AS r (resource_type, relation, resource_id, subject_type, subject_relation, subject_id,
		caveat_name, caveat_context, expiration, expiration_ns, created_rev)
	SELECT resource_type, relation, resource_id, subject_type, subject_relation, subject_id,
		coalesce(caveat_name, ''), caveat_context::json, expiration, expiration_ns, $1
	FROM reach_import`

// onLiveConflict names the live version as the conflict (the unique index
// of relationship and deleted_rev: inserted rows are live).
const onLiveConflict = `
	ON CONFLICT (resource_type, relation, resource_id, subject_type, subject_relation, subject_id, deleted_rev)`

const copyStaging = `COPY reach_import (resource_type, relation, resource_id, subject_type, subject_relation, subject_id,
	caveat_name, caveat_context, expiration, expiration_ns) FROM STDIN`

// importBatch is a run of parsed relationships with their lines, and once
// prepared (against prog) the valid ones as COPY text and a change set.
type importBatch struct {
	rels  []tuples.Relationship
	lines []int
	// lines and bytes read when the batch was cut.
	read, bytes int64
	stop        error // a fault in the line after the batch; see tuples.Import

	prog    *schema.Program
	copy    []byte
	changes []byte
	n       int // valid relationships
}

// Import reads relationships from r and writes them as TOUCHes in large
// batches, each one atomic at its own revision, exactly as
// tuples.Store.Import does (formats, ImportOptions, FILE:N: errors,
// SkipInvalid, progress and result), through COPY.
func (s *Store) Import(ctx context.Context, r io.Reader, opts tuples.ImportOptions) (tuples.ImportResult, error) {
	var res tuples.ImportResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = tuples.DefaultImportBatch
	}
	if opts.BatchSize > tuples.MaxImportBatch {
		opts.BatchSize = tuples.MaxImportBatch
	}
	src, err := tuples.NewImportLines(r, opts)
	if err != nil {
		return res, err
	}
	opts.Name = src.Name
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return res, classify(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, stagingTable); err != nil {
		return res, classify(err)
	}
	// The reader checks batches against the schema the writer last saw at
	// the head (the writer checks again under the head lock if it has
	// changed), so that it needs no connection of its own.
	var head int64
	if err := conn.QueryRow(ctx, `SELECT rev FROM reach_head`).Scan(&head); err != nil {
		return res, classify(err)
	}
	if err := s.learnSchemas(ctx, conn, head); err != nil {
		return res, err
	}
	first, _, err := s.programAt(ctx, conn, head)
	if err != nil {
		return res, err
	}
	var current atomic.Pointer[schema.Program]
	current.Store(first)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var skipped atomic.Int64
	var invalidMu sync.Mutex
	skip := func(err error) {
		skipped.Add(1)
		invalidMu.Lock()
		if len(res.Invalid) < tuples.KeptImportErrors {
			res.Invalid = append(res.Invalid, err)
		}
		invalidMu.Unlock()
	}

	batches := make(chan *importBatch, 1)
	var readErr error // set by the reader before it closes batches
	go func() {
		defer close(batches)
		val := &importValidator{}
		readErr = s.readBatches(ctx, src, opts, skip, func(b *importBatch) error {
			prog := current.Load()
			if prog == nil { // maybe written since the import began
				var err error
				if prog, _, _, err = s.headSchema(ctx); err != nil {
					return err
				}
			}
			if prog == nil {
				return fmt.Errorf("import %s: %w (write one first)", opts.Name, tuples.ErrNoSchema)
			}
			if err := prepareBatch(b, prog, opts, val, skip); err != nil {
				return err
			}
			if b.stop != nil {
				return b.stop
			}
			select {
			case batches <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	val := &importValidator{}
	replacing := false // a batch met live versions: later ones replace at once
	var werr error
	for b := range batches {
		if werr != nil {
			continue // drain, so the reader ends
		}
		rev, n, err := s.writeImportBatch(ctx, conn, b, opts, val, skip, &replacing)
		if err == nil {
			current.Store(b.prog)
		}
		if err != nil {
			werr = err
			cancel()
			continue
		}
		res.Lines, res.Bytes = b.read, b.bytes
		if n > 0 {
			res.Imported += int64(n)
			res.Batches++
			res.Revision = tuples.Revision(rev)
		}
		res.Skipped = skipped.Load()
		if opts.Progress != nil {
			opts.Progress(res.ImportStats)
		}
	}
	res.Skipped = skipped.Load()
	if werr == nil {
		werr = readErr
	}
	res.Lines, res.Bytes = src.Position()
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

// readBatches parses src into batches of at most opts.BatchSize
// relationships and passes each to emit, until the end of src, an error or
// ctx's end, as the Badger driver does.
func (s *Store) readBatches(ctx context.Context, src *tuples.ImportLines, opts tuples.ImportOptions, skip func(error), emit func(*importBatch) error) error {
	b := &importBatch{}
	size := 0
	send := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.read, b.bytes = src.Position()
		if err := emit(b); err != nil {
			return err
		}
		b, size = &importBatch{}, 0
		return nil
	}
	for {
		text, line, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return &tuples.LineError{File: opts.Name, Line: line, Err: err}
		}
		r, err := tuples.Parse(text)
		if err != nil {
			le := &tuples.LineError{File: opts.Name, Line: line, Err: err}
			if !opts.SkipInvalid {
				b.stop = le
				return emit(b)
			}
			skip(le)
			continue
		}
		b.rels = append(b.rels, r)
		b.lines = append(b.lines, line)
		size += len(text) + 24
		if len(b.rels) >= opts.BatchSize || size >= importBatchBytes {
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
// import validates each shape once; relationships with a caveat context are
// checked each (their context is).
type importValidator struct {
	prog *schema.Program
	ok   map[relShape]struct{}
}

type relShape struct {
	resType, rel, subjType, subjRel, caveat string
	wildcard, expiring                      bool
}

func (v *importValidator) check(p *schema.Program, r *tuples.Relationship) error {
	if p != v.prog {
		v.prog, v.ok = p, map[relShape]struct{}{}
	}
	if r.Caveat != nil && len(r.Caveat.Context) > 0 {
		return tuples.ValidateAgainst(p, *r)
	}
	sh := relShape{resType: r.ResourceType, rel: r.Relation, subjType: r.SubjectType, subjRel: r.SubjectRelation,
		wildcard: r.IsWildcard(), expiring: r.Expiration != nil}
	if r.Caveat != nil {
		sh.caveat = r.Caveat.Name
	}
	if _, ok := v.ok[sh]; ok {
		return nil // Parse checked the ids' syntax
	}
	if err := tuples.ValidateAgainst(p, *r); err != nil {
		return err
	}
	v.ok[sh] = struct{}{}
	return nil
}

// prepareBatch checks b against prog, dropping (SkipInvalid) or refusing
// the relationships it does not allow, and renders the valid ones as COPY
// text (the last of equal relationships wins, as in a batch of TOUCHes)
// and as a change set.
func prepareBatch(b *importBatch, prog *schema.Program, opts tuples.ImportOptions, val *importValidator, skip func(error)) error {
	n := 0
	for i := range b.rels {
		if err := val.check(prog, &b.rels[i]); err != nil {
			le := &tuples.LineError{File: opts.Name, Line: b.lines[i], Err: err}
			if !opts.SkipInvalid {
				return le
			}
			skip(le)
			continue
		}
		b.rels[n], b.lines[n] = b.rels[i], b.lines[i]
		n++
	}
	b.rels, b.lines = b.rels[:n], b.lines[:n]
	b.prog, b.n = prog, n
	last := make(map[string]int, n)
	for i := range b.rels {
		last[relKey(&b.rels[i])] = i
	}
	b.copy = b.copy[:0]
	b.changes = b.changes[:0]
	for i := range b.rels {
		r := &b.rels[i]
		b.changes = appendChange(b.changes, tuples.Touch, r)
		if last[relKey(r)] == i {
			b.copy = appendCopyRow(b.copy, r)
		}
	}
	return nil
}

// appendCopyRow renders r as one line of COPY's text format.
func appendCopyRow(buf []byte, r *tuples.Relationship) []byte {
	for _, f := range []string{r.ResourceType, r.Relation, r.ResourceID, r.SubjectType, r.SubjectRelation, r.SubjectID} {
		buf = appendCopyText(buf, f)
		buf = append(buf, '\t')
	}
	if r.Caveat != nil {
		buf = appendCopyText(buf, r.Caveat.Name)
		buf = append(buf, '\t')
		if len(r.Caveat.Context) > 0 {
			buf = appendCopyText(buf, string(marshalContext(r.Caveat.Context)))
		} else {
			buf = append(buf, `\N`...)
		}
	} else {
		buf = append(buf, "\t\\N"...)
	}
	buf = append(buf, '\t')
	if r.Expiration != nil {
		t, ns := splitTime(*r.Expiration)
		buf = appendCopyTime(buf, t)
		buf = append(buf, '\t')
		buf = strconv.AppendInt(buf, int64(ns), 10)
	} else {
		buf = append(buf, "\\N\t0"...)
	}
	return append(buf, '\n')
}

// appendCopyText escapes s for COPY's text format.
func appendCopyText(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			buf = append(buf, `\\`...)
		case '\t':
			buf = append(buf, `\t`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\r':
			buf = append(buf, `\r`...)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

// appendCopyTime writes a UTC time to the microsecond in PostgreSQL's ISO
// form; year 0 (which RFC 3339 allows) is 1 BC.
func appendCopyTime(buf []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y <= 0 {
		return fmt.Appendf(buf, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00 BC", 1-y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)
	}
	return t.AppendFormat(buf, "2006-01-02 15:04:05.000000+00")
}

// writeImportBatch writes b as one transaction at the next revision.
func (s *Store) writeImportBatch(ctx context.Context, conn *pgxpool.Conn, b *importBatch, opts tuples.ImportOptions, val *importValidator, skip func(error), replacing *bool) (int64, int, error) {
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if b.n == 0 {
			var head int64
			err := conn.QueryRow(ctx, `SELECT rev FROM reach_head`).Scan(&head)
			return head, 0, classify(err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return 0, 0, classify(err)
		}
		rev, n, retry, err := s.writeImportTx(ctx, conn, b, opts, val, skip, replacing)
		if err != nil || retry {
			tx.Rollback(context.Background())
			if err != nil {
				return 0, 0, err
			}
			continue
		}
		if err := s.commit(ctx, tx, rev, b.changes); err != nil {
			tx.Rollback(context.Background())
			return 0, 0, err
		}
		return rev, n, nil
	}
}

// writeImportTx runs a batch's statements in the open transaction of
// conn. retry: the schema changed since the batch was prepared; it was
// prepared again and must be written in a new transaction.
func (s *Store) writeImportTx(ctx context.Context, conn *pgxpool.Conn, b *importBatch, opts tuples.ImportOptions, val *importValidator, skip func(error), replacing *bool) (int64, int, bool, error) {
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(b.copy), copyStaging); err != nil {
		return 0, 0, false, classify(err)
	}
	var rev int64
	if err := conn.QueryRow(ctx, `UPDATE reach_head SET rev = rev + 1 RETURNING rev`).Scan(&rev); err != nil {
		return 0, 0, false, classify(err)
	}
	if err := s.learnSchemas(ctx, conn, rev-1); err != nil {
		return 0, 0, false, err
	}
	prog, _, err := s.programAt(ctx, conn, rev-1)
	if err != nil {
		return 0, 0, false, err
	}
	if prog == nil {
		return 0, 0, false, fmt.Errorf("import %s: %w", opts.Name, tuples.ErrNoSchema)
	}
	if prog != b.prog {
		// A schema write came in between: check the batch again.
		if err := prepareBatch(b, prog, opts, val, skip); err != nil {
			return 0, 0, false, err
		}
		return 0, 0, true, nil
	}
	// Most imports load relationships that are not there yet: a plain
	// INSERT does that with one descent of the unique index per row. When
	// it finds a live version (a unique violation), it is undone (a
	// savepoint) and the batch goes the replacing way, as do the import's
	// later batches.
	if !*replacing {
		if _, err := conn.Exec(ctx, `SAVEPOINT reach_import`); err != nil {
			return 0, 0, false, classify(err)
		}
		_, err := conn.Exec(ctx, insertStagedRows, rev)
		if err == nil {
			return rev, b.n, false, nil
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" { // unique_violation
			return 0, 0, false, classify(err)
		}
		if _, err := conn.Exec(ctx, `ROLLBACK TO SAVEPOINT reach_import`); err != nil {
			return 0, 0, false, classify(err)
		}
		*replacing = true
	}
	// Replacing: end the live versions of the staged relationships and
	// insert the staged rows, through the unique index (whatever the
	// planner's statistics say; a table being bulk-loaded has none). The
	// first pass inserts the rows without a live version and ends the live
	// version of the others in place; the second, only when there were
	// such, inserts those (the rows the first inserted now conflict and are
	// skipped).
	var replaced int64
	if err := conn.QueryRow(ctx, `WITH w AS (`+insertStagedRows+onLiveConflict+`
		DO UPDATE SET deleted_rev = $1 RETURNING xmax <> 0 AS replaced)
		SELECT count(*) FILTER (WHERE replaced) FROM w`, rev).Scan(&replaced); err != nil {
		return 0, 0, false, classify(err)
	}
	if replaced > 0 {
		if _, err := conn.Exec(ctx, insertStagedRows+onLiveConflict+` DO NOTHING`, rev); err != nil {
			return 0, 0, false, classify(err)
		}
	}
	return rev, b.n, false, nil
}
