package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Pages of a snapshot's scans: the first is small (the engine often stops
// at the first relationship), later ones larger. A page is read whole and
// its connection given back before the callback runs, so that callbacks
// may read through the snapshot again without holding one connection per
// level of a walk.
const (
	firstPage = 256
	laterPage = 4096
)

// snapshot implements tuples.Snapshot: every read is one indexed query at
// rev (per page of results), bound to the context Snapshot was given, or
// is answered from what an earlier read of the same object read along
// with it (objects.go). Its reads go to the pool that Snapshot chose, the
// replica's or the primary's, until a read on the replica fails: that one
// and every later one go to the primary.
type snapshot struct {
	s    *Store
	q    atomic.Pointer[pgxpool.Pool]
	ctx  context.Context
	rev  int64
	prog *schema.Program
	now  time.Time

	// plan says which relations of an object to read together (nil: read
	// one at a time), at most prefetch rows of each; objs keeps what was
	// read (see objects.go).
	plan     readPlan
	prefetch int32
	objs     objCache
}

func (sn *snapshot) Revision() tuples.Revision { return tuples.Revision(sn.rev) }
func (sn *snapshot) Schema() *schema.Program   { return sn.prog }
func (sn *snapshot) Close()                    {}

// read runs a read through the snapshot's pool (see Store.read).
func (sn *snapshot) read(run func(*pgxpool.Pool) error) error {
	q, err := sn.s.read(sn.ctx, sn.q.Load(), sn.rev, run)
	sn.q.Store(q)
	return err
}

func (sn *snapshot) Get(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation string) (tuples.Relationship, bool, error) {
	if sn.plan != nil {
		if rr := sn.objs.lookup(resourceType, resourceID, relation); rr != nil {
			if r, found, known := rr.get(subjectType, subjectID, subjectRelation); known {
				rr.answered()
				return r, found, nil
			}
		} else if g := sn.plan[typeRel{resourceType, relation}]; g != nil {
			if rels, stats := sn.objs.toRead(sn.plan, resourceType, resourceID, relation, g.again); len(rels) > 0 {
				return sn.getWith(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation, rels, stats)
			}
		}
	}
	var b sqlb
	b.WriteString(`SELECT caveat_name, coalesce(caveat_context::text, ''), expiration, expiration_ns FROM reach_relationships WHERE resource_type = `)
	b.WriteString(b.arg(resourceType) + ` AND relation = ` + b.arg(relation) + ` AND resource_id = ` + b.arg(resourceID) +
		` AND subject_type = ` + b.arg(subjectType) + ` AND subject_relation = ` + b.arg(subjectRelation) + ` AND subject_id = ` + b.arg(subjectID))
	b.visibleAt(sn.rev, sn.now)
	var cav, ctx string
	var exp pgtype.Timestamptz
	var ns int16
	err := sn.read(func(q *pgxpool.Pool) error {
		return sn.s.queryRow(sn.ctx, q, b.String(), b.args, &cav, &ctx, &exp, &ns)
	})
	if err == pgx.ErrNoRows {
		return tuples.Relationship{}, false, nil
	}
	if err != nil {
		return tuples.Relationship{}, false, err
	}
	r := tuples.Relationship{
		ResourceType: resourceType, ResourceID: resourceID, Relation: relation,
		SubjectType: subjectType, SubjectID: subjectID, SubjectRelation: subjectRelation,
	}
	if err := setTraits(&r, cav, ctx, exp, ns); err != nil {
		return tuples.Relationship{}, false, err
	}
	return r, true, nil
}

// getWith is Get, reading in the same query the relations rels of the
// object (see objects.go).
func (sn *snapshot) getWith(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation string, rels []string, stats []*prefetchStat) (tuples.Relationship, bool, error) {
	limits := make([]int32, len(rels))
	for i := range limits {
		limits[i] = sn.prefetch
	}
	rows, err := sn.readObject(resourceType, resourceID, rels, limits, stats, func(b *sqlb) {
		b.WriteString(`SELECT 0, ` + objColumns + ` FROM reach_relationships WHERE resource_type = ` + b.arg(resourceType) +
			` AND relation = ` + b.arg(relation) + ` AND resource_id = ` + b.arg(resourceID) +
			` AND subject_type = ` + b.arg(subjectType) + ` AND subject_relation = ` + b.arg(subjectRelation) + ` AND subject_id = ` + b.arg(subjectID))
		b.visibleAt(sn.rev, sn.now)
	})
	if err != nil || len(rows) == 0 {
		return tuples.Relationship{}, false, err
	}
	return rows[0], true, nil
}

// page runs one page of a scan: base (the SELECT with its conditions,
// built by where), continued after the key `after` of the columns order
// (nil: from the start), at most limit rows.
func (sn *snapshot) page(where func(*sqlb), order []string, after []string, limit int) ([]tuples.Relationship, error) {
	var b sqlb
	b.WriteString(`SELECT ` + relColumns + ` FROM reach_relationships WHERE true`)
	where(&b)
	b.visibleAt(sn.rev, sn.now)
	afterKey(&b, order, after)
	orderBy(&b, order)
	b.WriteString(` LIMIT ` + b.arg(limit))
	var rels []tuples.Relationship
	err := sn.read(func(q *pgxpool.Pool) error {
		return sn.s.query(sn.ctx, q, b.String(), b.args, func() { rels = rels[:0] }, func(rows pgx.Rows) error {
			r, err := scanRel(rows)
			rels = append(rels, r)
			return err
		})
	})
	return rels, err
}

// scan pages through a query, calling fn for each relationship until it
// returns false.
func (sn *snapshot) scan(where func(*sqlb), order []string, fn func(tuples.Relationship) bool) error {
	return sn.scanAfter(where, order, nil, firstPage, fn)
}

// scanAfter is scan from after the key `after` (nil: from the start),
// limit rows in its first page.
func (sn *snapshot) scanAfter(where func(*sqlb), order []string, after []string, limit int, fn func(tuples.Relationship) bool) error {
	for {
		rels, err := sn.page(where, order, after, limit)
		if err != nil {
			return err
		}
		for _, r := range rels {
			if !fn(r) {
				return nil
			}
		}
		if len(rels) < limit {
			return nil
		}
		after = keyOf(&rels[len(rels)-1], order)
		limit = laterPage
	}
}

var (
	subjectsOrder   = []string{"subject_type", "subject_relation", "subject_id"}
	subjectIDOrder  = []string{"subject_id"}
	resourceIDOrder = []string{"resource_id"}
)

// Subjects visits the relationships of resourceType:resourceID#relation in
// the order of (subject type, subject relation, subject id), bytewise.
func (sn *snapshot) Subjects(resourceType, resourceID, relation, subjectType, subjectRelation string, fn func(tuples.Relationship) bool) error {
	order := subjectsOrder
	if subjectType != "" {
		order = subjectIDOrder
	}
	where := func(b *sqlb) {
		b.WriteString(` AND resource_type = ` + b.arg(resourceType) + ` AND relation = ` + b.arg(relation) + ` AND resource_id = ` + b.arg(resourceID))
		if subjectType != "" {
			b.WriteString(` AND subject_type = ` + b.arg(subjectType) + ` AND subject_relation = ` + b.arg(subjectRelation))
		}
	}
	if sn.plan == nil {
		return sn.scan(where, order, fn)
	}
	rr := sn.objs.lookup(resourceType, resourceID, relation)
	if rr == nil {
		rels, stats := sn.objs.toRead(sn.plan, resourceType, resourceID, relation, true)
		if len(rels) == 0 {
			return sn.scan(where, order, fn)
		}
		limits := make([]int32, len(rels))
		for i := range limits {
			limits[i] = sn.prefetch
		}
		if rels[0] == relation {
			limits[0] = firstPage // the page scan would read
		}
		if _, err := sn.readObject(resourceType, resourceID, rels, limits, stats, nil); err != nil {
			return err
		}
		if rr = sn.objs.lookup(resourceType, resourceID, relation); rr == nil {
			return sn.scan(where, order, fn)
		}
	}
	// The rows kept, then, if there may be more, the rest from the server.
	rr.answered()
	rows, all := rr.subjects(subjectType, subjectRelation)
	for i := range rows {
		if !fn(rows[i]) {
			return nil
		}
	}
	if all {
		return nil
	}
	if len(rows) == 0 {
		return sn.scan(where, order, fn)
	}
	return sn.scanAfter(where, order, keyOf(&rows[len(rows)-1], order), laterPage, fn)
}

// Resources visits the relationships of the subject
// subjectType:subjectID#subjectRelation on resourceType#relation, in
// resource id order.
func (sn *snapshot) Resources(subjectType, subjectID, subjectRelation, resourceType, relation string, fn func(tuples.Relationship) bool) error {
	return sn.scan(func(b *sqlb) {
		b.WriteString(` AND subject_type = ` + b.arg(subjectType) + ` AND subject_relation = ` + b.arg(subjectRelation) +
			` AND resource_type = ` + b.arg(resourceType) + ` AND relation = ` + b.arg(relation) + ` AND subject_id = ` + b.arg(subjectID))
	}, resourceIDOrder, fn)
}
