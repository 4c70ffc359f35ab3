package tuples

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/reach-authz/reach/schema"
)

// Snapshot opens a consistent read-only view at rev. Expiration is judged
// against the time the snapshot is opened. Close it when done.
func (s *Store) Snapshot(rev Revision) (Snapshot, error) {
	return s.snapshot(rev)
}

func (s *Store) snapshot(rev Revision) (*snapshot, error) {
	if err := s.checkReadable(rev); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	prog, err := s.programAt(rev)
	if err != nil {
		return nil, err
	}
	return &snapshot{
		txn:   s.db.NewTransactionAt(uint64(rev), false),
		rev:   rev,
		prog:  prog,
		names: s.names.load(),
		now:   time.Now(),
	}, nil
}

// snapshot implements Snapshot over one read-only Badger transaction.
type snapshot struct {
	txn   *badger.Txn
	rev   Revision
	prog  *schema.Program
	names *names
	now   time.Time
	buf   []byte // key buffer, reused (a snapshot serves one request at a time)
}

func (sn *snapshot) Revision() Revision      { return sn.rev }
func (sn *snapshot) Schema() *schema.Program { return sn.prog }
func (sn *snapshot) Close()                  { sn.txn.Discard() }

// ids looks up four names; false if any was never written.
func (sn *snapshot) ids(resType, rel, subjType, subjRel string) (relIDs, bool) {
	var ids relIDs
	var ok bool
	if ids.resType, ok = sn.names.id(resType); !ok {
		return ids, false
	}
	if ids.rel, ok = sn.names.id(rel); !ok {
		return ids, false
	}
	if ids.subjType, ok = sn.names.id(subjType); !ok {
		return ids, false
	}
	if ids.subjRel, ok = sn.names.id(subjRel); !ok {
		return ids, false
	}
	return ids, true
}

// withValue fills r's caveat and expiration from item; false if expired.
func (sn *snapshot) withValue(item *badger.Item, r *Relationship) (bool, error) {
	if item.UserMeta()&metaHasValue == 0 {
		return true, nil
	}
	live := true
	err := item.Value(func(v []byte) error {
		if expiredAt(v, sn.now) {
			live = false
			return nil
		}
		return decodeValue(v, r)
	})
	return live, err
}

func (sn *snapshot) Get(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation string) (Relationship, bool, error) {
	ids, ok := sn.ids(resourceType, relation, subjectType, subjectRelation)
	if !ok {
		return Relationship{}, false, nil
	}
	sn.buf = forwardKey(sn.buf[:0], ids, resourceID, subjectID)
	item, err := sn.txn.Get(sn.buf)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Relationship{}, false, nil
	}
	if err != nil {
		return Relationship{}, false, err
	}
	r := Relationship{
		ResourceType: resourceType, ResourceID: resourceID, Relation: relation,
		SubjectType: subjectType, SubjectID: subjectID, SubjectRelation: subjectRelation,
	}
	live, err := sn.withValue(item, &r)
	if err != nil || !live {
		return Relationship{}, false, err
	}
	return r, true, nil
}

func (sn *snapshot) Subjects(resourceType, resourceID, relation, subjectType, subjectRelation string, fn func(Relationship) bool) error {
	var ids relIDs
	var ok bool
	if ids.resType, ok = sn.names.id(resourceType); !ok {
		return nil
	}
	if ids.rel, ok = sn.names.id(relation); !ok {
		return nil
	}
	p := []byte{spaceForward}
	p = binary.AppendUvarint(p, ids.resType)
	p = binary.AppendUvarint(p, ids.rel)
	p = append(append(p, resourceID...), 0)
	if subjectType != "" {
		if ids.subjType, ok = sn.names.id(subjectType); !ok {
			return nil
		}
		if ids.subjRel, ok = sn.names.id(subjectRelation); !ok {
			return nil
		}
		p = binary.AppendUvarint(p, ids.subjType)
		p = binary.AppendUvarint(p, ids.subjRel)
	}
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		r := Relationship{ResourceType: resourceType, ResourceID: resourceID, Relation: relation}
		rest := item.Key()[len(p):]
		if subjectType != "" {
			r.SubjectType, r.SubjectRelation = subjectType, subjectRelation
		} else {
			st, k := binary.Uvarint(rest)
			if k <= 0 {
				return fmt.Errorf("corrupt forward key")
			}
			rest = rest[k:]
			sr, k := binary.Uvarint(rest)
			if k <= 0 {
				return fmt.Errorf("corrupt forward key")
			}
			rest = rest[k:]
			var ok1, ok2 bool
			r.SubjectType, ok1 = sn.names.name(st)
			r.SubjectRelation, ok2 = sn.names.name(sr)
			if !ok1 || !ok2 {
				return fmt.Errorf("corrupt forward key: unknown name id")
			}
		}
		r.SubjectID = string(rest)
		live, err := sn.withValue(item, &r)
		if err != nil {
			return err
		}
		if live && !fn(r) {
			return nil
		}
	}
	return nil
}

func (sn *snapshot) Resources(subjectType, subjectID, subjectRelation, resourceType, relation string, fn func(Relationship) bool) error {
	ids, ok := sn.ids(resourceType, relation, subjectType, subjectRelation)
	if !ok {
		return nil
	}
	p := reversePrefix(ids)
	p = append(append(p, subjectID...), 0)
	it := sn.txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		r := Relationship{
			ResourceType: resourceType, ResourceID: string(item.Key()[len(p):]), Relation: relation,
			SubjectType: subjectType, SubjectID: subjectID, SubjectRelation: subjectRelation,
		}
		live, err := sn.withValue(item, &r)
		if err != nil {
			return err
		}
		if live && !fn(r) {
			return nil
		}
	}
	return nil
}
