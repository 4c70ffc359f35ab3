package postgres

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reach-authz/reach/tuples"
)

// Reads by filter walk one of the two indexes in its order: the forward
// one when the filter names a resource type (or names no type at all), the
// reverse one when it names only a subject type. Results come in that
// order, bytewise, and a cursor is the key of the last one returned.
var (
	forwardOrder = []string{"resource_type", "relation", "resource_id", "subject_type", "subject_relation", "subject_id"}
	reverseOrder = []string{"subject_type", "subject_relation", "resource_type", "relation", "subject_id", "resource_id"}
)

func orderOf(f tuples.Filter) []string {
	if f.ResourceType == "" && f.Subject != nil && f.Subject.Type != "" {
		return reverseOrder
	}
	return forwardOrder
}

// keyOf is r's values of the columns order.
func keyOf(r *tuples.Relationship, order []string) []string {
	k := make([]string, len(order))
	for i, c := range order {
		switch c {
		case "resource_type":
			k[i] = r.ResourceType
		case "resource_id":
			k[i] = r.ResourceID
		case "relation":
			k[i] = r.Relation
		case "subject_type":
			k[i] = r.SubjectType
		case "subject_id":
			k[i] = r.SubjectID
		case "subject_relation":
			k[i] = r.SubjectRelation
		}
	}
	return k
}

// afterKey adds the condition that a row comes after the key `after` in the
// columns order.
func afterKey(b *sqlb, order, after []string) {
	if after == nil {
		return
	}
	ps := make([]string, len(after))
	for i, v := range after {
		ps[i] = b.arg(v)
	}
	b.WriteString(` AND (` + strings.Join(order, ", ") + `) > (` + strings.Join(ps, ", ") + `)`)
}

func orderBy(b *sqlb, order []string) {
	b.WriteString(` ORDER BY ` + strings.Join(order, ", "))
}

// filterSQL adds f's conditions.
func filterSQL(b *sqlb, f tuples.Filter) {
	if f.ResourceType != "" {
		b.WriteString(` AND resource_type = ` + b.arg(f.ResourceType))
	}
	if f.ResourceID != "" {
		b.WriteString(` AND resource_id = ` + b.arg(f.ResourceID))
	}
	if p := f.ResourceIDPrefix; p != "" {
		// Ids compare bytewise (COLLATE "C"), so a prefix is a range.
		b.WriteString(` AND resource_id >= ` + b.arg(p))
		if hi, ok := prefixEnd(p); ok {
			b.WriteString(` AND resource_id < ` + b.arg(hi))
		}
	}
	if f.Relation != "" {
		b.WriteString(` AND relation = ` + b.arg(f.Relation))
	}
	if sf := f.Subject; sf != nil {
		if sf.Type != "" {
			b.WriteString(` AND subject_type = ` + b.arg(sf.Type))
		}
		if sf.ID != "" {
			b.WriteString(` AND subject_id = ` + b.arg(sf.ID))
		}
		switch sf.Relation {
		case "":
		case tuples.Ellipsis:
			b.WriteString(` AND subject_relation = ''`)
		default:
			b.WriteString(` AND subject_relation = ` + b.arg(sf.Relation))
		}
	}
}

// byRelation reports whether f is read relation by relation: it names a
// resource type and a resource id (or id prefix) but no relation
// ("everything of document:x"). The forward index orders (resource type,
// relation, resource id, ...), so the rows wanted are a range of it per
// relation, but no one range: PostgreSQL 15 has no skip scan, and a plain
// query reads every index entry of the type (or the table).
func byRelation(f tuples.Filter) bool {
	return f.ResourceType != "" && f.Relation == "" && (f.ResourceID != "" || f.ResourceIDPrefix != "")
}

// selectMatching writes a query of cols of the rows that match f and the
// conditions cond writes (each starting with AND): with order, at most
// limit of them in that order, after the key `after` (nil: from the
// start); with order nil, all of them in any order (for EXISTS).
//
// A filter read byRelation is one query still: a recursive one lists the
// relations stored for the type (a loose index scan: one descent of the
// forward index per relation, each to the least relation after the last),
// and a lateral subquery per relation reads its range of the index, so the
// query reads a few index pages per relation whatever the number of other
// resources of the type. The relations are those of the rows (of any
// version, live or not), not the schema's, so no row is missed however
// the rows and the schema came to differ. Ordered, the rows come in the
// plain query's order, so cursors do not change: the relations are
// numbered in their order, each lateral subquery is ordered and limited
// too, and the outer order, that number then the rest of the key, is
// sorted one relation at a time (an incremental sort); so order must be
// the forward order, and cols must name its columns (x.* is what the
// query returns). After a cursor, the relations listed start at the
// cursor's: the whole-key comparison, checked first on every index entry
// and failing on each of an earlier relation, would not let that scan stop
// before the cursor's relation. In the cursor's relation the scan starts
// at the id (the btree starts at the equalities, not at the comparison)
// and steps to the cursor, as it does with a relation named.
func selectMatching(b *sqlb, cols string, f tuples.Filter, cond func(*sqlb), order, after []string, limit int) {
	if !byRelation(f) {
		b.WriteString(`SELECT ` + cols + ` FROM reach_relationships WHERE true`)
		filterSQL(b, f)
		cond(b)
		if order != nil {
			afterKey(b, order, after)
			orderBy(b, order)
			b.WriteString(` LIMIT ` + b.arg(limit))
		}
		return
	}
	rt := b.arg(f.ResourceType)
	from := ""
	if order != nil && after != nil {
		from = ` AND relation >= ` + b.arg(after[1])
	}
	b.WriteString(`WITH RECURSIVE rels(rel) AS (
		SELECT min(relation) FROM reach_relationships WHERE resource_type = ` + rt + from + `
		UNION ALL
		SELECT (SELECT min(relation) FROM reach_relationships WHERE resource_type = ` + rt + ` AND relation > rels.rel)
		FROM rels WHERE rels.rel IS NOT NULL) `)
	if order == nil {
		b.WriteString(`SELECT x.* FROM rels CROSS JOIN LATERAL (SELECT ` + cols + ` FROM reach_relationships WHERE relation = rels.rel`)
		filterSQL(b, f)
		cond(b)
		b.WriteString(`) x WHERE rels.rel IS NOT NULL`)
		return
	}
	b.WriteString(`SELECT x.* FROM unnest(ARRAY(SELECT rel FROM rels WHERE rel IS NOT NULL ORDER BY rel)) WITH ORDINALITY AS r(rel, ord)
		CROSS JOIN LATERAL (SELECT ` + cols + ` FROM reach_relationships WHERE relation = r.rel`)
	filterSQL(b, f)
	cond(b)
	afterKey(b, order, after)
	orderBy(b, order)
	lim := b.arg(limit)
	b.WriteString(` LIMIT ` + lim + `) x ORDER BY r.ord`)
	for _, c := range order {
		if c != "resource_type" && c != "relation" {
			b.WriteString(`, x.` + c)
		}
	}
	b.WriteString(` LIMIT ` + lim)
}

// prefixEnd is the least string greater than every string starting with p.
func prefixEnd(p string) (string, bool) {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// readSQL is the query of a page of scanFilter: at most limit rows
// matching f visible at rev (not expired at now), in order, after the key
// `after` (nil: from the start).
func readSQL(f tuples.Filter, rev int64, now time.Time, order, after []string, limit int) *sqlb {
	b := &sqlb{}
	selectMatching(b, relColumns, f, func(b *sqlb) { b.visibleAt(rev, now) }, order, after, limit)
	return b
}

// scanFilter calls fn for every live relationship matching f at rev (not
// expired at now), in the filter's order, after the key `after` (nil: from
// the start), a page of pageSize rows per query, until fn returns false.
// The pages are read through q, the pool that readable chose, or the
// primary from the page on which the replica fails.
func (s *Store) scanFilter(ctx context.Context, q *pgxpool.Pool, rev int64, now time.Time, f tuples.Filter, after []string, pageSize int, fn func(tuples.Relationship) (bool, error)) error {
	order := orderOf(f)
	for {
		b := readSQL(f, rev, now, order, after, pageSize)
		var rels []tuples.Relationship
		var err error
		q, err = s.read(ctx, q, rev, func(q *pgxpool.Pool) error {
			return s.query(ctx, q, b.String(), b.args, func() { rels = rels[:0] }, func(rows pgx.Rows) error {
				r, err := scanRel(rows)
				rels = append(rels, r)
				return err
			})
		})
		if err != nil {
			return err
		}
		for i := range rels {
			more, err := fn(rels[i])
			if err != nil || !more {
				return err
			}
		}
		if len(rels) < pageSize {
			return nil
		}
		after = keyOf(&rels[len(rels)-1], order)
	}
}

// Cursors: a version byte (distinct from the Badger driver's, so that
// neither mistakes the other's), the revision (uvarint), which index (0
// forward, 1 reverse), and the six columns of the last key in that index's
// order, each a uvarint length and the bytes.
const cursorVersion = 0x50

func encodeCursor(rev int64, order []string, key []string) string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, uint64(rev))
	if &order[0] == &reverseOrder[0] {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, k := range key {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string) (int64, []string, []string, error) {
	bad := fmt.Errorf("%w %q", tuples.ErrBadCursor, c)
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 3 || b[0] != cursorVersion {
		return 0, nil, nil, bad
	}
	rev, n := binary.Uvarint(b[1:])
	if n <= 0 || rev > 1<<63-1 || len(b) < 2+n {
		return 0, nil, nil, bad
	}
	b = b[1+n:]
	order := forwardOrder
	switch b[0] {
	case 0:
	case 1:
		order = reverseOrder
	default:
		return 0, nil, nil, bad
	}
	b = b[1:]
	key := make([]string, 6)
	for i := range key {
		l, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < l {
			return 0, nil, nil, bad
		}
		key[i] = string(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return 0, nil, nil, bad
	}
	return int64(rev), order, key, nil
}

// relOfKey is the relationship a key of order names.
func relOfKey(order, key []string) tuples.Relationship {
	var r tuples.Relationship
	for i, c := range order {
		switch c {
		case "resource_type":
			r.ResourceType = key[i]
		case "resource_id":
			r.ResourceID = key[i]
		case "relation":
			r.Relation = key[i]
		case "subject_type":
			r.SubjectType = key[i]
		case "subject_id":
			r.SubjectID = key[i]
		case "subject_relation":
			r.SubjectRelation = key[i]
		}
	}
	return r
}

// readPage is how many relationships one query of an unlimited read
// returns.
const readPage = 5000

// ReadRelationships returns the live relationships matching f at one
// revision, a page at a time: pass the returned Cursor back in opts to
// continue (at the same revision).
func (s *Store) ReadRelationships(ctx context.Context, f tuples.Filter, opts tuples.ReadOptions) (tuples.ReadResult, error) {
	if err := s.checkOpen(); err != nil {
		return tuples.ReadResult{}, err
	}
	rev := opts.Revision
	var after []string
	order := orderOf(f)
	if opts.Cursor != "" {
		crev, corder, key, err := decodeCursor(opts.Cursor)
		if err != nil {
			return tuples.ReadResult{}, err
		}
		if &corder[0] != &order[0] || !f.Matches(relOfKey(corder, key)) {
			return tuples.ReadResult{}, fmt.Errorf("%w: it continues a read of another filter", tuples.ErrBadCursor)
		}
		rev, after = tuples.Revision(crev), key
	} else if rev == 0 {
		head, err := s.HeadRevision(ctx)
		if err != nil {
			return tuples.ReadResult{}, err
		}
		rev = head
	}
	q, err := s.readable(ctx, rev)
	if err != nil {
		return tuples.ReadResult{}, fmt.Errorf("snapshot: %w", err)
	}
	res := tuples.ReadResult{Revision: rev}
	pageSize := readPage
	if opts.Limit > 0 {
		pageSize = opts.Limit + 1
	}
	err = s.scanFilter(ctx, q, int64(rev), time.Now(), f, after, pageSize, func(r tuples.Relationship) (bool, error) {
		if opts.Limit > 0 && len(res.Relationships) == opts.Limit {
			last := &res.Relationships[len(res.Relationships)-1]
			res.Cursor = encodeCursor(int64(rev), order, keyOf(last, order))
			return false, nil
		}
		res.Relationships = append(res.Relationships, r)
		return true, nil
	})
	if err != nil {
		return tuples.ReadResult{}, err
	}
	return res, nil
}

// ForEach calls fn with every live relationship matching f at rev (0: the
// head), in the filter's index order, until fn returns false or an error.
// It returns the revision read. fn may call the store.
func (s *Store) ForEach(ctx context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	rev, err := s.headOr(ctx, rev)
	if err != nil {
		return 0, err
	}
	q, err := s.readable(ctx, rev)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	return rev, s.scanFilter(ctx, q, int64(rev), time.Now(), f, nil, readPage, func(r tuples.Relationship) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		return fn(r)
	})
}

// Export writes the live relationships matching opts.Filter at one
// revision to w, one per line in the form Import reads. It returns the
// revision read and how many relationships it wrote.
func (s *Store) Export(ctx context.Context, w io.Writer, opts tuples.ExportOptions) (tuples.Revision, int64, error) {
	return tuples.WriteExport(ctx, s, w, opts)
}
