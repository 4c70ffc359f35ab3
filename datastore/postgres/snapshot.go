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
// rev (per page of results), bound to the context Snapshot was given. Its
// reads go to the pool that Snapshot chose, the replica's or the
// primary's, until a read on the replica fails: that one and every later
// one go to the primary.
type snapshot struct {
	s    *Store
	q    atomic.Pointer[pgxpool.Pool]
	ctx  context.Context
	rev  int64
	prog *schema.Program
	now  time.Time
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
	var after []string
	limit := firstPage
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
	return sn.scan(func(b *sqlb) {
		b.WriteString(` AND resource_type = ` + b.arg(resourceType) + ` AND relation = ` + b.arg(relation) + ` AND resource_id = ` + b.arg(resourceID))
		if subjectType != "" {
			b.WriteString(` AND subject_type = ` + b.arg(subjectType) + ` AND subject_relation = ` + b.arg(subjectRelation))
		}
	}, order, fn)
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
