package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Write applies updates as one transaction, all or nothing, at the next
// revision, after checking every relationship against the schema in force
// and every precondition at the head, with the Badger driver's errors
// (tuples.ErrBatchTooLarge, ErrNoSchema, *ValidationError,
// ErrPreconditionFailed, ErrDuplicateUpdate, ErrAlreadyExists). At most
// Options.MaxBatch updates.
func (s *Store) Write(ctx context.Context, updates []tuples.Update, preconditions ...tuples.Precondition) (tuples.Revision, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if len(updates) > s.opts.MaxBatch {
		return 0, fmt.Errorf("%w: %d updates, the limit is %d", tuples.ErrBatchTooLarge, len(updates), s.opts.MaxBatch)
	}
	if len(updates) == 0 && len(preconditions) == 0 {
		return s.HeadRevision(ctx)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	// Checked before the transaction, against the newest schema this node
	// knows, so that the head lock is held no longer than the statements
	// take; checked again under the lock only if the schema in force there
	// is another.
	dup := firstDuplicate(updates)
	pre := s.schemas.newest()
	preChecked := pre != nil && validateUpdates(pre, updates) == nil
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	rev, prog, err := s.lockHead(ctx, tx)
	if err != nil {
		return 0, err
	}
	if prog == nil && len(updates) > 0 {
		return 0, fmt.Errorf("write relationships: %w", tuples.ErrNoSchema)
	}
	if !preChecked || prog != pre {
		if err := validateUpdates(prog, updates); err != nil {
			return 0, err
		}
	}
	now := time.Now()
	if err := checkPreconditions(ctx, tx, preconditions, now, false); err != nil {
		return 0, err
	}
	a := newUpdateArrays(updates)
	exists := -1
	if a.creates > 0 {
		var b sqlb
		b.WriteString(`SELECT coalesce(min(u.ord), -1) FROM ` + a.unnest(&b) + ` CROSS JOIN LATERAL (` + liveProbe("x.ctid", "u"))
		b.notExpired("x.", now)
		b.WriteString(` LIMIT 1) l WHERE u.op = ` + b.arg(int16(tuples.Create)))
		if err := tx.QueryRow(ctx, b.String(), b.args...).Scan(&exists); err != nil {
			return 0, classify(err)
		}
	}
	switch {
	case dup >= 0 && (exists < 0 || dup <= exists):
		return 0, fmt.Errorf("%w: %s", tuples.ErrDuplicateUpdate, updates[dup].Relationship.WithoutTraits())
	case exists >= 0:
		return 0, fmt.Errorf("create %s: %w", updates[exists].Relationship.WithoutTraits(), tuples.ErrAlreadyExists)
	}

	// Every live version of a relationship written or deleted ends at rev;
	// the deleted ones' values go to the change log.
	var b sqlb
	revArg := b.arg(rev)
	b.WriteString(`UPDATE reach_relationships SET deleted_rev = ` + revArg + ` WHERE ctid = ANY(ARRAY(SELECT l.tid FROM ` + a.unnest(&b) +
		` CROSS JOIN LATERAL (` + liveProbe("x.ctid AS tid", "u") + ` LIMIT 1) l)) RETURNING ` + relColumns)
	var ended []tuples.Relationship
	if err := scanRows(ctx, tx, b.String(), b.args, &ended); err != nil {
		return 0, err
	}
	old := make(map[string]tuples.Relationship, len(ended))
	for _, r := range ended {
		old[relKey(&r)] = r
	}
	if a.writes > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO reach_relationships (resource_type, relation, resource_id, subject_type, subject_relation, subject_id,
				caveat_name, caveat_context, expiration, expiration_ns, created_rev)
			SELECT rt, rel, rid, st, srel, sid, cav, ctx::json, exp, ns, $1
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::int2[])
				AS u(rt, rel, rid, st, srel, sid, cav, ctx, exp, ns)`,
			rev, a.wrt, a.wrel, a.wrid, a.wst, a.wsrel, a.wsid, a.wcav, a.wctx, a.wexp, a.wns); err != nil {
			return 0, classify(err)
		}
	}
	changes := make([]byte, 0, 48*len(updates))
	for i := range updates {
		u := &updates[i]
		switch u.Op {
		case tuples.Create, tuples.Touch:
			changes = appendChange(changes, tuples.Touch, &u.Relationship)
		case tuples.Delete:
			if r, ok := old[relKey(&u.Relationship)]; ok {
				changes = appendChange(changes, tuples.Delete, &r)
			}
		}
	}
	if err := s.commit(ctx, tx, rev, changes); err != nil {
		return 0, err
	}
	return tuples.Revision(rev), nil
}

// validateUpdates checks every update against prog, as the Badger driver
// does (naming the update's position in a batch of several).
func validateUpdates(prog *schema.Program, updates []tuples.Update) error {
	for i := range updates {
		if err := validateUpdate(prog, &updates[i]); err != nil {
			if len(updates) > 1 {
				return fmt.Errorf("update %d of %d: %w", i+1, len(updates), err)
			}
			return err
		}
	}
	return nil
}

// validateUpdate is the Badger driver's check of one update.
func validateUpdate(prog *schema.Program, u *tuples.Update) error {
	r := &u.Relationship
	switch u.Op {
	case tuples.Create, tuples.Touch:
		return tuples.ValidateAgainst(prog, *r)
	case tuples.Delete:
		// A delete needs only a well-formed relationship of a real
		// relation; its caveat and expiration do not matter.
		if err := r.Validate(); err != nil {
			return err
		}
		if rel := prog.Lookup(r.ResourceType, r.Relation); rel == nil || rel.Kind != schema.KindRelation {
			return &tuples.ValidationError{Relationship: *r, Msg: fmt.Sprintf("relation `%s#%s` not found", r.ResourceType, r.Relation)}
		}
		return nil
	}
	return fmt.Errorf("relationship %s: unknown operation %v", r, u.Op)
}

// relKey identifies a relationship (ids never contain NUL).
func relKey(r *tuples.Relationship) string {
	return r.ResourceType + "\x00" + r.ResourceID + "\x00" + r.Relation + "\x00" + r.SubjectType + "\x00" + r.SubjectID + "\x00" + r.SubjectRelation
}

// firstDuplicate is the index of the first update whose relationship an
// earlier update names too, or -1.
func firstDuplicate(updates []tuples.Update) int {
	seen := make(map[string]struct{}, len(updates))
	for i := range updates {
		k := relKey(&updates[i].Relationship)
		if _, dup := seen[k]; dup {
			return i
		}
		seen[k] = struct{}{}
	}
	return -1
}

// updateArrays are a batch's columns as arrays for unnest: the keys of
// every update (with its op and position), and the full rows of the
// creates and touches.
type updateArrays struct {
	rt, rel, rid, st, srel, sid []string
	op                          []int16
	ord                         []int32
	creates, writes             int

	wrt, wrel, wrid, wst, wsrel, wsid, wcav []string
	wctx                                    []pgtype.Text
	wexp                                    []pgtype.Timestamptz
	wns                                     []int16
}

func newUpdateArrays(updates []tuples.Update) *updateArrays {
	a := &updateArrays{}
	for i := range updates {
		u := &updates[i]
		r := &u.Relationship
		a.rt = append(a.rt, r.ResourceType)
		a.rel = append(a.rel, r.Relation)
		a.rid = append(a.rid, r.ResourceID)
		a.st = append(a.st, r.SubjectType)
		a.srel = append(a.srel, r.SubjectRelation)
		a.sid = append(a.sid, r.SubjectID)
		a.op = append(a.op, int16(u.Op))
		a.ord = append(a.ord, int32(i))
		if u.Op == tuples.Create {
			a.creates++
		}
		if u.Op == tuples.Create || u.Op == tuples.Touch {
			a.writes++
			a.wrt = append(a.wrt, r.ResourceType)
			a.wrel = append(a.wrel, r.Relation)
			a.wrid = append(a.wrid, r.ResourceID)
			a.wst = append(a.wst, r.SubjectType)
			a.wsrel = append(a.wsrel, r.SubjectRelation)
			a.wsid = append(a.wsid, r.SubjectID)
			cav, ctx := contextArg(r)
			exp, ns := expirationArg(r)
			a.wcav = append(a.wcav, cav)
			a.wctx = append(a.wctx, ctx)
			a.wexp = append(a.wexp, exp)
			a.wns = append(a.wns, ns)
		}
	}
	return a
}

// unnest adds the key arrays as parameters and returns the FROM item
// `unnest(...) AS u(rt, rel, rid, st, srel, sid, op, ord)`.
func (a *updateArrays) unnest(b *sqlb) string {
	return `unnest(` + b.arg(a.rt) + `::text[], ` + b.arg(a.rel) + `::text[], ` + b.arg(a.rid) + `::text[], ` +
		b.arg(a.st) + `::text[], ` + b.arg(a.srel) + `::text[], ` + b.arg(a.sid) + `::text[], ` +
		b.arg(a.op) + `::int2[], ` + b.arg(a.ord) + `::int4[]) AS u(rt, rel, rid, st, srel, sid, op, ord)`
}

// liveProbe selects cols of the live version (alias x) of the relationship
// of key u. Used as a LATERAL subquery with LIMIT (which keeps the planner
// from flattening it into a join), it is one probe of the unique index of
// live versions per key, whatever the table's statistics say: a join would
// let the planner, misled by the default selectivity of deleted_rev = max
// on a table not yet analysed, scan every live version per key.
func liveProbe(cols, u string) string {
	return strings.ReplaceAll(`SELECT `+cols+` FROM reach_relationships x WHERE x.resource_type = u.rt AND x.relation = u.rel
		AND x.resource_id = u.rid AND x.subject_type = u.st AND x.subject_relation = u.srel AND x.subject_id = u.sid
		AND x.deleted_rev = 9223372036854775807`, "u.", u+".")
}

// checkPreconditions checks, at the head, that each precondition holds,
// all in one round trip. forDelete picks DeleteWhere's message.
func checkPreconditions(ctx context.Context, tx pgx.Tx, ps []tuples.Precondition, now time.Time, forDelete bool) error {
	if len(ps) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, p := range ps {
		b := existsSQL(p.Filter, now)
		batch.Queue(b.String(), b.args...)
	}
	br := tx.SendBatch(ctx, batch)
	defer br.Close()
	for _, p := range ps {
		var found bool
		if err := br.QueryRow().Scan(&found); err != nil {
			return classify(err)
		}
		if found != p.MustMatch {
			if forDelete {
				return fmt.Errorf("%w: filter %s", tuples.ErrPreconditionFailed, p.Filter)
			}
			want := "some relationship to match"
			if !p.MustMatch {
				want = "no relationship to match"
			}
			return fmt.Errorf("%w: expected %s %s", tuples.ErrPreconditionFailed, want, p.Filter)
		}
	}
	return br.Close()
}

// deleteChunk is how many relationships one transaction of an unlimited
// DeleteWhere removes (the Badger driver's bound).
const deleteChunk = 20000

// DeleteWhere deletes the relationships matching f (expired ones too: they
// are stored) once every precondition holds at the head. With limit > 0 it
// deletes at most limit of them in one transaction and reports whether
// that was all. Without a limit, up to 20,000 go in one atomic transaction;
// more are deleted in successive transactions (revisions), so that a reader
// may see a state between two of them. Nothing deleted: no new revision,
// and the result's Revision is the head.
func (s *Store) DeleteWhere(ctx context.Context, f tuples.Filter, limit int, preconditions ...tuples.Precondition) (tuples.DeleteResult, error) {
	if err := s.checkOpen(); err != nil {
		return tuples.DeleteResult{}, err
	}
	if f.IsEmpty() {
		return tuples.DeleteResult{}, fmt.Errorf("delete: the filter must name a resource type or a subject type")
	}
	var res tuples.DeleteResult
	for {
		chunk := deleteChunk
		if limit > 0 {
			chunk = limit
		}
		rev, n, more, err := s.deleteBatch(ctx, f, chunk, preconditions)
		if err != nil {
			return res, err
		}
		res.Revision = tuples.Revision(rev)
		res.Deleted += n
		preconditions = nil // checked with the first batch
		if !more {
			res.Complete = true
			return res, nil
		}
		if limit > 0 {
			return res, nil
		}
	}
}

// deleteBatch deletes up to max matches of f in one transaction; more
// reports whether matches remain.
func (s *Store) deleteBatch(ctx context.Context, f tuples.Filter, max int, preconditions []tuples.Precondition) (int64, int, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, 0, false, err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	defer tx.Rollback(context.Background())
	rev, _, err := s.lockHead(ctx, tx)
	if err != nil {
		return 0, 0, false, err
	}
	if err := checkPreconditions(ctx, tx, preconditions, time.Now(), true); err != nil {
		return 0, 0, false, err
	}
	order := orderOf(f)
	b := deleteSQL(f, rev, max)
	var dels []tuples.Relationship
	if err := scanRows(ctx, tx, b.String(), b.args, &dels); err != nil {
		return 0, 0, false, err
	}
	if len(dels) == 0 {
		// Give the revision back: nothing changed.
		tx.Rollback(context.Background())
		return rev - 1, 0, false, nil
	}
	more := false
	if len(dels) == max {
		mb := existsSQL(f, time.Time{})
		if err := tx.QueryRow(ctx, mb.String(), mb.args...).Scan(&more); err != nil {
			return 0, 0, false, classify(err)
		}
	}
	// The change log lists them in the filter's order, as read.
	slices.SortFunc(dels, func(x, y tuples.Relationship) int {
		return slices.Compare(keyOf(&x, order), keyOf(&y, order))
	})
	changes := make([]byte, 0, 48*len(dels))
	for i := range dels {
		changes = appendChange(changes, tuples.Delete, &dels[i])
	}
	if err := s.commit(ctx, tx, rev, changes); err != nil {
		return 0, 0, false, err
	}
	return rev, len(dels), more, nil
}

// existsSQL asks whether a live relationship matches f, not expired at now
// (zero: expired ones too).
func existsSQL(f tuples.Filter, now time.Time) *sqlb {
	b := &sqlb{}
	b.WriteString(`SELECT EXISTS (`)
	selectMatching(b, `1`, f, func(b *sqlb) {
		b.WriteString(` AND deleted_rev = 9223372036854775807`)
		if !now.IsZero() {
			b.notExpired("", now)
		}
	}, nil, nil, 0)
	b.WriteString(`)`)
	return b
}

// deleteSQL ends at rev the first max live relationships matching f (expired
// ones too) in the filter's order, returning them.
func deleteSQL(f tuples.Filter, rev int64, max int) *sqlb {
	b := &sqlb{}
	revArg := b.arg(rev)
	order := orderOf(f)
	b.WriteString(`UPDATE reach_relationships SET deleted_rev = ` + revArg + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM (`)
	selectMatching(b, `ctid, `+strings.Join(order, ", "), f, func(b *sqlb) {
		b.WriteString(` AND deleted_rev = 9223372036854775807`)
	}, order, nil, max)
	b.WriteString(`) d)) RETURNING ` + relColumns)
	return b
}
