package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Import. The front end every driver shares (tuples.RunImport) decodes the
// input, parses and validates each batch, and renders it here as COPY text
// (on its reading goroutine), while the caller's goroutine writes the batch
// before it. A batch is one transaction on one connection kept for the
// import:
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

// importBatch is a batch of relationships validated against prog, readied
// for writing: as COPY text and as a change set.
type importBatch struct {
	*tuples.ImportBatch
	prog    *schema.Program
	copy    []byte
	changes []byte
}

// Import reads relationships from r and writes them as TOUCHes in large
// batches, each one atomic at its own revision, exactly as
// tuples.Store.Import does (the same front end: formats, ImportOptions,
// FILE:N: errors, SkipInvalid, progress and result), through COPY.
func (s *Store) Import(ctx context.Context, r io.Reader, opts tuples.ImportOptions) (tuples.ImportResult, error) {
	var res tuples.ImportResult
	if err := s.checkOpen(); err != nil {
		return res, err
	}
	src, err := tuples.NewImportLines(r, opts)
	if err != nil {
		return res, err
	}
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
	w := &importWriter{s: s, conn: conn, name: src.Name, free: make(chan *importBatch, 4)}
	w.current.Store(first)
	return tuples.RunImport(ctx, src, opts, tuples.ImportLimits{MaxBytes: importBatchBytes}, w)
}

// importWriter writes an import's batches (tuples.ImportWriter).
type importWriter struct {
	s    *Store
	conn *pgxpool.Conn
	name string
	// current is the schema the writer last saw at the head.
	current   atomic.Pointer[schema.Program]
	replacing bool // a batch met live versions: later ones replace at once
	free      chan *importBatch
}

func (w *importWriter) Schema(ctx context.Context) (*schema.Program, error) {
	if prog := w.current.Load(); prog != nil {
		return prog, nil
	}
	prog, _, _, err := w.s.headSchema(ctx) // maybe written since the import began
	return prog, err
}

func (w *importWriter) Prepare(_ context.Context, b *tuples.ImportBatch, prog *schema.Program) (*importBatch, error) {
	var p *importBatch
	select {
	case p = <-w.free:
	default:
		p = &importBatch{}
	}
	p.render(b, prog)
	return p, nil
}

func (w *importWriter) Commit(ctx context.Context, p *importBatch, v *tuples.ImportValidator) (tuples.Revision, int, error) {
	rev, n, err := w.writeBatch(ctx, p, v)
	if err != nil {
		return 0, 0, err
	}
	w.current.Store(p.prog)
	return tuples.Revision(rev), n, nil
}

func (w *importWriter) Release(p *importBatch) {
	p.ImportBatch, p.prog = nil, nil
	select {
	case w.free <- p:
	default:
	}
}

// render sets p to b, validated against prog, as COPY text (the last of
// equal relationships wins, as in a batch of TOUCHes) and as a change set.
func (p *importBatch) render(b *tuples.ImportBatch, prog *schema.Program) {
	p.ImportBatch, p.prog = b, prog
	last := make(map[string]int, len(b.Rels))
	for i := range b.Rels {
		last[relKey(&b.Rels[i])] = i
	}
	p.copy = p.copy[:0]
	p.changes = p.changes[:0]
	for i := range b.Rels {
		r := &b.Rels[i]
		p.changes = appendChange(p.changes, tuples.Touch, r)
		if last[relKey(r)] == i {
			p.copy = appendCopyRow(p.copy, r)
		}
	}
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

// writeBatch writes p as one transaction at the next revision.
func (w *importWriter) writeBatch(ctx context.Context, p *importBatch, v *tuples.ImportValidator) (int64, int, error) {
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		if len(p.Rels) == 0 {
			var head int64
			err := w.conn.QueryRow(ctx, `SELECT rev FROM reach_head`).Scan(&head)
			return head, 0, classify(err)
		}
		tx, err := w.conn.Begin(ctx)
		if err != nil {
			return 0, 0, classify(err)
		}
		rev, n, retry, err := w.writeTx(ctx, p, v)
		if err != nil || retry {
			tx.Rollback(context.Background())
			if err != nil {
				return 0, 0, err
			}
			continue
		}
		if err := w.s.commit(ctx, tx, rev, p.changes); err != nil {
			tx.Rollback(context.Background())
			return 0, 0, err
		}
		return rev, n, nil
	}
}

// writeTx runs a batch's statements in the open transaction of w.conn.
// retry: the schema changed since the batch was prepared; it was validated
// and rendered again and must be written in a new transaction.
func (w *importWriter) writeTx(ctx context.Context, p *importBatch, v *tuples.ImportValidator) (int64, int, bool, error) {
	conn := w.conn
	if _, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(p.copy), copyStaging); err != nil {
		return 0, 0, false, classify(err)
	}
	var rev int64
	if err := conn.QueryRow(ctx, `UPDATE reach_head SET rev = rev + 1 RETURNING rev`).Scan(&rev); err != nil {
		return 0, 0, false, classify(err)
	}
	if err := w.s.learnSchemas(ctx, conn, rev-1); err != nil {
		return 0, 0, false, err
	}
	prog, _, err := w.s.programAt(ctx, conn, rev-1)
	if err != nil {
		return 0, 0, false, err
	}
	if prog == nil {
		return 0, 0, false, fmt.Errorf("import %s: %w", w.name, tuples.ErrNoSchema)
	}
	if prog != p.prog {
		// A schema write came in between: check the batch again.
		if err := v.Validate(p.ImportBatch, prog); err != nil {
			return 0, 0, false, err
		}
		p.render(p.ImportBatch, prog)
		return 0, 0, true, nil
	}
	n := len(p.Rels)
	// Most imports load relationships that are not there yet: a plain
	// INSERT does that with one descent of the unique index per row. When
	// it finds a live version (a unique violation), it is undone (a
	// savepoint) and the batch goes the replacing way, as do the import's
	// later batches.
	if !w.replacing {
		if _, err := conn.Exec(ctx, `SAVEPOINT reach_import`); err != nil {
			return 0, 0, false, classify(err)
		}
		_, err := conn.Exec(ctx, insertStagedRows, rev)
		if err == nil {
			return rev, n, false, nil
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" { // unique_violation
			return 0, 0, false, classify(err)
		}
		if _, err := conn.Exec(ctx, `ROLLBACK TO SAVEPOINT reach_import`); err != nil {
			return 0, 0, false, classify(err)
		}
		w.replacing = true
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
	return rev, n, false, nil
}
