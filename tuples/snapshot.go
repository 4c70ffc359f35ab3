package tuples

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/reach-authz/reach/schema"
)

// Snapshot opens a consistent read-only view at rev. Expiration is judged
// against the time the snapshot is opened. Close it when done.
func (s *Store) Snapshot(_ context.Context, rev Revision) (Snapshot, error) {
	return s.snapshot(rev)
}

func (s *Store) snapshot(rev Revision) (*snapshot, error) {
	if !s.enter(&s.rg) {
		return nil, fmt.Errorf("snapshot: %w", ErrClosed)
	}
	defer s.leave(&s.rg)
	if err := s.checkReadable(rev); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	prog, err := s.programAt(rev)
	if err != nil {
		return nil, err
	}
	db, done, err := s.acquire()
	if err != nil {
		return nil, err
	}
	sn := &snapshot{
		s:     s,
		txn:   db.NewTransactionAt(uint64(rev), false),
		done:  done,
		rev:   rev,
		prog:  prog,
		names: s.names.load(),
		now:   time.Now(),
	}
	s.register(sn)
	return sn, nil
}

// snapshot implements Snapshot over one read-only Badger transaction.
type snapshot struct {
	txn   *badger.Txn
	done  func() // ends the read (Store.acquire)
	rev   Revision
	prog  *schema.Program
	names *names
	now   time.Time
	buf   []byte // key buffer, reused (a snapshot serves one request at a time)

	// Its store, its reads in flight (readgate.go), and its place in the
	// store's list of open snapshots (under gateMu).
	s          *Store
	rg         readGate
	prev, next *snapshot
	listed     bool

	// Idle iterators over the forward and reverse index, reused by later
	// scans: creating a Badger iterator (merging every memtable and level)
	// costs more than the Seek that a scan needs. A scan takes one from its
	// list and gives it back when done, so scans nested in a callback get
	// their own.
	fwdIters, revIters []*badger.Iterator
	pbuf               []byte // prefix buffer, lent to one scan at a time (takePrefix)
}

func (sn *snapshot) Revision() Revision      { return sn.rev }
func (sn *snapshot) Schema() *schema.Program { return sn.prog }

// Close closes the snapshot's iterators and discards its transaction;
// nothing once the store is closed (Close released it).
func (sn *snapshot) Close() {
	s := sn.s
	if !s.enter(&s.rg) {
		return
	}
	defer s.leave(&s.rg)
	if s.unregister(sn) {
		sn.release()
	}
}

// release closes the snapshot's iterators and discards its transaction,
// once: by Close, or by the store's Close (stopReads).
func (sn *snapshot) release() {
	for _, it := range sn.fwdIters {
		it.Close()
	}
	for _, it := range sn.revIters {
		it.Close()
	}
	sn.fwdIters, sn.revIters = nil, nil
	sn.txn.Discard()
	if sn.done != nil {
		sn.done()
		sn.done = nil
	}
}

// iterator takes an idle iterator over one index space (spaceForward or
// spaceReverse), or opens one; give it back with putIterator.
func (sn *snapshot) iterator(space byte) *badger.Iterator {
	list := &sn.fwdIters
	if space == spaceReverse {
		list = &sn.revIters
	}
	if n := len(*list); n > 0 {
		it := (*list)[n-1]
		*list = (*list)[:n-1]
		return it
	}
	// Prefix narrows the tables merged to those holding keys of the space;
	// keys only: values (caveats, expirations) are read for the few keys
	// that have one.
	return sn.txn.NewIterator(badger.IteratorOptions{Prefix: []byte{space}, PrefetchValues: false})
}

func (sn *snapshot) putIterator(space byte, it *badger.Iterator) {
	if space == spaceReverse {
		sn.revIters = append(sn.revIters, it)
	} else {
		sn.fwdIters = append(sn.fwdIters, it)
	}
}

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
	err := itemValue(item, func(v []byte) error {
		if expiredAt(v, sn.now) {
			live = false
			return nil
		}
		return decodeValue(v, r)
	})
	return live, err
}

func (sn *snapshot) Get(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation string) (_ Relationship, _ bool, err error) {
	if !sn.s.enter(&sn.rg) {
		return Relationship{}, false, ErrClosed
	}
	defer sn.s.leave(&sn.rg)
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
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
		return Relationship{}, false, readErr(err)
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

// scan calls fn with the item of every key of one index space that starts
// with p, in key order, until fn returns false. p must not be sn.pbuf's
// array unless scan was given it by takePrefix (it stays untouched while fn
// runs: a scan nested in fn builds its prefix in a buffer of its own).
func (sn *snapshot) scan(space byte, p []byte, fn func(*badger.Item) (bool, error)) error {
	it := sn.iterator(space)
	defer sn.putIterator(space, it)
	for it.Seek(p); it.ValidForPrefix(p); it.Next() {
		if sn.rg.shut.Load() {
			return ErrClosed // the store is closing: it waits for this scan
		}
		more, err := fn(it.Item())
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// takePrefix lends the snapshot's prefix buffer (nil while lent, so a scan
// nested in a callback allocates its own); givePrefix returns it.
func (sn *snapshot) takePrefix() []byte {
	p := sn.pbuf[:0]
	sn.pbuf = nil
	return p
}

func (sn *snapshot) givePrefix(p []byte) { sn.pbuf = p[:0] }

func (sn *snapshot) Subjects(resourceType, resourceID, relation, subjectType, subjectRelation string, fn func(Relationship) bool) (err error) {
	if !sn.s.enter(&sn.rg) {
		return ErrClosed
	}
	defer sn.s.leave(&sn.rg)
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var ids relIDs
	var ok bool
	if ids.resType, ok = sn.names.id(resourceType); !ok {
		return nil
	}
	if ids.rel, ok = sn.names.id(relation); !ok {
		return nil
	}
	if subjectType != "" {
		if ids.subjType, ok = sn.names.id(subjectType); !ok {
			return nil
		}
		if ids.subjRel, ok = sn.names.id(subjectRelation); !ok {
			return nil
		}
	}
	p := append(sn.takePrefix(), spaceForward)
	p = binary.AppendUvarint(p, ids.resType)
	p = binary.AppendUvarint(p, ids.rel)
	p = append(append(p, resourceID...), 0)
	if subjectType != "" {
		p = binary.AppendUvarint(p, ids.subjType)
		p = binary.AppendUvarint(p, ids.subjRel)
	}
	defer sn.givePrefix(p)
	return sn.scan(spaceForward, p, func(item *badger.Item) (bool, error) {
		r := Relationship{ResourceType: resourceType, ResourceID: resourceID, Relation: relation}
		rest := item.Key()[len(p):]
		if subjectType != "" {
			r.SubjectType, r.SubjectRelation = subjectType, subjectRelation
		} else {
			st, k := binary.Uvarint(rest)
			if k <= 0 {
				return false, corruptf("", "bad forward key")
			}
			rest = rest[k:]
			sr, k := binary.Uvarint(rest)
			if k <= 0 {
				return false, corruptf("", "bad forward key")
			}
			rest = rest[k:]
			var ok1, ok2 bool
			r.SubjectType, ok1 = sn.names.name(st)
			r.SubjectRelation, ok2 = sn.names.name(sr)
			if !ok1 || !ok2 {
				return false, corruptf("", "bad forward key: unknown name id")
			}
		}
		r.SubjectID = string(rest)
		live, err := sn.withValue(item, &r)
		if err != nil || !live {
			return true, err
		}
		g.inCallback = true
		more := fn(r)
		g.inCallback = false
		return more, nil
	})
}

func (sn *snapshot) Resources(subjectType, subjectID, subjectRelation, resourceType, relation string, fn func(Relationship) bool) (err error) {
	if !sn.s.enter(&sn.rg) {
		return ErrClosed
	}
	defer sn.s.leave(&sn.rg)
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	ids, ok := sn.ids(resourceType, relation, subjectType, subjectRelation)
	if !ok {
		return nil
	}
	p := appendReversePrefix(sn.takePrefix(), ids)
	p = append(append(p, subjectID...), 0)
	defer sn.givePrefix(p)
	return sn.scan(spaceReverse, p, func(item *badger.Item) (bool, error) {
		r := Relationship{
			ResourceType: resourceType, ResourceID: string(item.Key()[len(p):]), Relation: relation,
			SubjectType: subjectType, SubjectID: subjectID, SubjectRelation: subjectRelation,
		}
		live, err := sn.withValue(item, &r)
		if err != nil || !live {
			return true, err
		}
		g.inCallback = true
		more := fn(r)
		g.inCallback = false
		return more, nil
	})
}

// appendReversePrefix appends the reverse index prefix of ids (up to the
// subject id) to b.
func appendReversePrefix(b []byte, ids relIDs) []byte {
	b = append(b, spaceReverse)
	b = binary.AppendUvarint(b, ids.subjType)
	b = binary.AppendUvarint(b, ids.subjRel)
	b = binary.AppendUvarint(b, ids.resType)
	return binary.AppendUvarint(b, ids.rel)
}
