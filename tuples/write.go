package tuples

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/reach-authz/reach/schema"
)

// UpdateOp is what an Update does.
type UpdateOp uint8

const (
	// Create writes a relationship that must not exist yet (a live one);
	// otherwise the whole write fails with ErrAlreadyExists.
	Create UpdateOp = iota + 1
	// Touch writes a relationship whether or not it exists (replacing its
	// caveat and expiration).
	Touch
	// Delete removes a relationship; deleting an absent one is not an error.
	Delete
)

func (o UpdateOp) String() string {
	switch o {
	case Create:
		return "CREATE"
	case Touch:
		return "TOUCH"
	case Delete:
		return "DELETE"
	}
	return fmt.Sprintf("UpdateOp(%d)", uint8(o))
}

// Update is one change of a write batch.
type Update struct {
	Op           UpdateOp
	Relationship Relationship
}

// Precondition must hold at the head for a write to happen: with MustMatch,
// some live relationship matches Filter; without, none does.
type Precondition struct {
	MustMatch bool
	Filter    Filter
}

// Write applies updates as one batch, all or nothing, at the next revision,
// after checking every relationship against the schema in force and every
// precondition. Writes are serialised. At most Options.MaxBatch updates.
func (s *Store) Write(ctx context.Context, updates []Update, preconditions ...Precondition) (Revision, error) {
	if len(updates) > s.opts.MaxBatch {
		return 0, fmt.Errorf("%w: %d updates, the limit is %d", ErrBatchTooLarge, len(updates), s.opts.MaxBatch)
	}
	if len(updates) == 0 && len(preconditions) == 0 {
		return s.headRev()
	}
	return s.write(ctx, updates, preconditions, false)
}

// write is Write without the batch limit. bulk skips the duplicate check and
// the existence reads of deletes (imports only touch).
func (s *Store) write(ctx context.Context, updates []Update, preconditions []Precondition, bulk bool) (_ Revision, err error) {
	var g readGuard
	defer g.recover(&err)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(writeSize(updates)); err != nil {
		return 0, err
	}
	head, err := s.headRev()
	if err != nil {
		return 0, err
	}
	prog, err := s.programAt(head)
	if err != nil {
		return 0, err
	}
	if prog == nil && len(updates) > 0 {
		return 0, fmt.Errorf("write relationships: %w", ErrNoSchema)
	}
	for i := range updates {
		u := &updates[i]
		if err := validateUpdate(prog, u); err != nil {
			if len(updates) > 1 {
				return 0, fmt.Errorf("update %d of %d: %w", i+1, len(updates), err)
			}
			return 0, err
		}
	}
	now := time.Now()
	txn := s.db.NewTransactionAt(uint64(head), true)
	defer txn.Discard()
	names := s.names.load()
	for _, p := range preconditions {
		found := false
		err := scanFilter(txn, names, p.Filter, now, nil, func([]byte, Relationship) (bool, error) {
			found = true
			return false, nil
		})
		if err != nil {
			return 0, err
		}
		if found != p.MustMatch {
			want := "some relationship to match"
			if !p.MustMatch {
				want = "no relationship to match"
			}
			return 0, fmt.Errorf("%w: expected %s %s", ErrPreconditionFailed, want, p.Filter)
		}
	}
	rev := head + 1
	na := s.names.assigner()
	var seen map[string]struct{}
	if !bulk {
		seen = make(map[string]struct{}, len(updates))
	}
	changes := make([]byte, 0, 32*len(updates))
	fbuf := make([]byte, 0, 64)
	for i := range updates {
		u := &updates[i]
		r := &u.Relationship
		ids := relIDs{na.id(r.ResourceType), na.id(r.Relation), na.id(r.SubjectType), na.id(r.SubjectRelation)}
		fkey := forwardKey(fbuf[:0], ids, r.ResourceID, r.SubjectID)
		if seen != nil {
			if _, dup := seen[string(fkey)]; dup {
				return 0, fmt.Errorf("%w: %s", ErrDuplicateUpdate, r.WithoutTraits())
			}
			seen[string(fkey)] = struct{}{}
		}
		switch u.Op {
		case Create, Touch:
			if u.Op == Create {
				live, err := liveKey(txn, fkey, now)
				if err != nil {
					return 0, err
				}
				if live {
					return 0, fmt.Errorf("create %s: %w", r.WithoutTraits(), ErrAlreadyExists)
				}
			}
			val := encodeValue(r)
			meta := metaPlain
			if len(val) > 0 {
				meta = metaHasValue
			}
			fk := append([]byte(nil), fkey...)
			if err := txn.SetEntry(badger.NewEntry(fk, val).WithMeta(meta)); err != nil {
				return 0, batchErr(err)
			}
			if err := txn.SetEntry(badger.NewEntry(reverseKey(nil, ids, r.ResourceID, r.SubjectID), val).WithMeta(meta)); err != nil {
				return 0, batchErr(err)
			}
			changes = appendChange(changes, Touch, fk, val)
		case Delete:
			if !bulk {
				exists, val, err := existingKey(txn, fkey)
				if err != nil {
					return 0, err
				}
				if !exists {
					continue
				}
				changes = appendChange(changes, Delete, fkey, val)
			} else {
				changes = appendChange(changes, Delete, fkey, nil)
			}
			fk := append([]byte(nil), fkey...)
			if err := txn.Delete(fk); err != nil {
				return 0, batchErr(err)
			}
			if err := txn.Delete(reverseKey(nil, ids, r.ResourceID, r.SubjectID)); err != nil {
				return 0, batchErr(err)
			}
		}
	}
	if err := s.commit(txn, na, rev, now, changes); err != nil {
		return 0, err
	}
	return rev, nil
}

// commit writes the batch's names, change record and revision records, and
// commits it at rev. The caller holds wmu.
func (s *Store) commit(txn *badger.Txn, na *nameAssigner, rev Revision, now time.Time, changes []byte) error {
	for name, id := range na.added {
		if err := txn.Set(nameKey(name), binary.AppendUvarint(nil, id)); err != nil {
			return batchErr(err)
		}
	}
	keys, vals := changeEntries(rev, changes)
	for i, k := range keys {
		e := badger.NewEntry(k, vals[i]).WithTTL(s.opts.GCWindow + timeTTLMargin)
		if err := txn.SetEntry(e); err != nil {
			return batchErr(err)
		}
	}
	if err := s.setRevisionRecords(txn, rev, now); err != nil {
		return batchErr(err)
	}
	if err := txn.CommitAt(uint64(rev), nil); err != nil {
		return fmt.Errorf("commit revision %d: %w", rev, err)
	}
	s.names.publish(na)
	s.committed(rev, now)
	return nil
}

func batchErr(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("the batch is too large for one transaction; use smaller batches: %w", err)
	}
	return err
}

func validateUpdate(prog *schema.Program, u *Update) error {
	r := &u.Relationship
	switch u.Op {
	case Create, Touch:
		return ValidateAgainst(prog, *r)
	case Delete:
		// A delete needs only a well-formed relationship of a real relation;
		// its caveat and expiration do not matter.
		if err := r.Validate(); err != nil {
			return err
		}
		if rel := prog.Lookup(r.ResourceType, r.Relation); rel == nil || rel.Kind != schema.KindRelation {
			return &ValidationError{Relationship: *r, Msg: fmt.Sprintf("relation `%s#%s` not found", r.ResourceType, r.Relation)}
		}
		return nil
	}
	return fmt.Errorf("relationship %s: unknown operation %v", r, u.Op)
}

// liveKey reports whether key is present and not expired.
func liveKey(txn *badger.Txn, key []byte, now time.Time) (bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, readErr(err)
	}
	if item.UserMeta()&metaHasValue == 0 {
		return true, nil
	}
	live := true
	err = itemValue(item, func(v []byte) error {
		live = !expiredAt(v, now)
		return nil
	})
	return live, err
}

// existingKey reports whether key is present, with a copy of its value.
func existingKey(txn *badger.Txn, key []byte) (bool, []byte, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, readErr(err)
	}
	if item.UserMeta()&metaHasValue == 0 {
		return true, nil, nil
	}
	v, err := itemValueCopy(item)
	return true, v, err
}

// WithoutTraits is r without its caveat and expiration (for messages).
func (r Relationship) WithoutTraits() Relationship {
	r.Caveat, r.Expiration = nil, nil
	return r
}

// DeleteResult is what DeleteWhere did.
type DeleteResult struct {
	Revision Revision // the revision of the (last) deleting batch; the head if nothing was deleted
	Deleted  int
	Complete bool // false when limit stopped it before every match was deleted
}

// deleteChunk is how many relationships one batch of an unlimited
// DeleteWhere removes.
const deleteChunk = 20000

// DeleteWhere deletes the relationships matching f (which must name at
// least a resource type or a subject type) once every precondition holds.
// With limit > 0 it deletes at most limit of them, in one batch, and reports
// whether that was all (fewer go when limit is beyond what one Badger
// transaction holds). Without a limit, up to 20,000 go in one atomic batch
// (fewer with long ids); more are deleted in successive batches (revisions),
// so that a reader may see a state between two of them.
func (s *Store) DeleteWhere(ctx context.Context, f Filter, limit int, preconditions ...Precondition) (DeleteResult, error) {
	if f.IsEmpty() {
		return DeleteResult{}, fmt.Errorf("delete: the filter must name a resource type or a subject type")
	}
	var res DeleteResult
	for {
		chunk := deleteChunk
		if limit > 0 {
			chunk = limit
		}
		rev, n, more, err := s.deleteBatch(ctx, f, chunk, preconditions)
		if err != nil {
			return res, err
		}
		res.Revision = rev
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

// deleteBatch deletes up to max matches of f in one batch; more reports
// whether matches remain.
func (s *Store) deleteBatch(ctx context.Context, f Filter, max int, preconditions []Precondition) (_ Revision, _ int, _ bool, err error) {
	var g readGuard
	defer g.recover(&err)
	if err := ctx.Err(); err != nil {
		return 0, 0, false, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(int64(max) * 64); err != nil {
		return 0, 0, false, err
	}
	head, err := s.headRev()
	if err != nil {
		return 0, 0, false, err
	}
	now := time.Now()
	txn := s.db.NewTransactionAt(uint64(head), true)
	defer txn.Discard()
	names := s.names.load()
	for _, p := range preconditions {
		found := false
		if err := scanFilter(txn, names, p.Filter, now, nil, func([]byte, Relationship) (bool, error) {
			found = true
			return false, nil
		}); err != nil {
			return 0, 0, false, err
		}
		if found != p.MustMatch {
			return 0, 0, false, fmt.Errorf("%w: filter %s", ErrPreconditionFailed, p.Filter)
		}
	}
	var dels []Relationship
	more := false
	// Keep the batch within one Badger transaction: two deletions and a
	// change per relationship.
	maxCount, maxSize := s.bulkLimits()
	max = min(max, int(maxCount/3))
	size := int64(0)
	// Expired relationships are deleted too: they are invisible but stored.
	err = scanFilter(txn, names, f, time.Time{}, nil, func(key []byte, r Relationship) (bool, error) {
		if len(dels) == max || size >= maxSize/2 {
			more = true
			return false, nil
		}
		dels = append(dels, r)
		size += 3 * int64(len(key)+24)
		return true, nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	if len(dels) == 0 {
		return head, 0, false, nil
	}
	changes := make([]byte, 0, 32*len(dels))
	na := s.names.assigner()
	for i := range dels {
		r := &dels[i]
		ids := relIDs{na.id(r.ResourceType), na.id(r.Relation), na.id(r.SubjectType), na.id(r.SubjectRelation)}
		fk := forwardKey(nil, ids, r.ResourceID, r.SubjectID)
		if err := txn.Delete(fk); err != nil {
			return 0, 0, false, batchErr(err)
		}
		if err := txn.Delete(reverseKey(nil, ids, r.ResourceID, r.SubjectID)); err != nil {
			return 0, 0, false, batchErr(err)
		}
		changes = appendChange(changes, Delete, fk, encodeValue(r))
	}
	rev := head + 1
	if err := s.commit(txn, na, rev, now, changes); err != nil {
		return 0, 0, false, err
	}
	return rev, len(dels), more, nil
}
