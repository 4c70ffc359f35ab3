package tuples

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"runtime/debug"

	"github.com/dgraph-io/badger/v4"
)

// Every batch that changes relationships also writes a change record under
// 'c'+revision+part (with a TTL a little longer than the GC window): the
// list of its changes in order, each
//
//	op byte (Touch or Delete), uvarint len(forward key), forward key, uvarint len(value), value
//
// cut into parts of at most changePartSize bytes (at change boundaries; an
// in-memory Badger refuses values over 1 MiB), part a 2-byte big-endian
// number from 0. Watch reads these records in revision order. As in SpiceDB,
// a CREATE is reported as a TOUCH.

// changePartSize is the most bytes of changes one part holds (unless one
// change alone is larger).
const changePartSize = 256 << 10

// changeEntries cuts a batch's change record into its keys and values.
func changeEntries(rev Revision, changes []byte) (keys, vals [][]byte) {
	for part := 0; len(changes) > 0; part++ {
		n := 0
		for n < len(changes) && (n == 0 || n < changePartSize) {
			m, ok := changeLen(changes[n:])
			if !ok {
				m = len(changes) - n // cannot happen: we wrote it
			}
			if n > 0 && n+m > changePartSize {
				break
			}
			n += m
		}
		k := revKey(spaceChanges, rev)
		k = append(k, byte(part>>8), byte(part))
		keys = append(keys, k)
		vals = append(vals, changes[:n])
		changes = changes[n:]
	}
	return keys, vals
}

// changeLen is the length of the first change in b.
func changeLen(b []byte) (int, bool) {
	n := 1
	for range 2 {
		l, k := binary.Uvarint(b[min(n, len(b)):])
		if k <= 0 || uint64(len(b)-n-k) < l {
			return 0, false
		}
		n += k + int(l)
	}
	return n, true
}

func appendChange(b []byte, op UpdateOp, fkey, val []byte) []byte {
	b = append(b, byte(op))
	b = binary.AppendUvarint(b, uint64(len(fkey)))
	b = append(b, fkey...)
	b = binary.AppendUvarint(b, uint64(len(val)))
	return append(b, val...)
}

// Change is one relationship change reported by Watch.
type Change struct {
	Op           UpdateOp // Touch or Delete
	Relationship Relationship
}

// ChangeSet is every change of one revision, in the order written.
type ChangeSet struct {
	Revision Revision
	Changes  []Change
}

func decodeChanges(n *names, v []byte) ([]Change, error) {
	var out []Change
	for len(v) > 0 {
		op := UpdateOp(v[0])
		v = v[1:]
		kl, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < kl {
			return nil, corruptf("", "bad change record")
		}
		fkey := v[k : k+int(kl)]
		v = v[k+int(kl):]
		vl, k := binary.Uvarint(v)
		if k <= 0 || uint64(len(v)-k) < vl {
			return nil, corruptf("", "bad change record")
		}
		val := v[k : k+int(vl)]
		v = v[k+int(vl):]
		d, err := decodeForward(fkey)
		if err != nil {
			return nil, err
		}
		r, err := n.relationship(d)
		if err != nil {
			return nil, err
		}
		if err := decodeValue(val, &r); err != nil {
			return nil, err
		}
		out = append(out, Change{Op: op, Relationship: r})
	}
	return out, nil
}

// Changes returns the change sets of the revisions after `after` up to the
// head, in commit order, at most limit of them (0: no limit). Revisions that
// changed no relationship (schema writes, empty deletes) are not listed.
// A revision older than the GC window gives ErrRevisionTooOld.
func (s *Store) Changes(ctx context.Context, after Revision, limit int) (_ []ChangeSet, _ Revision, err error) {
	if !s.enter(&s.rg) {
		return nil, 0, fmt.Errorf("changes after %d: %w", after, ErrClosed)
	}
	defer s.leave(&s.rg)
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if err := s.checkReadable(after); err != nil {
		return nil, 0, fmt.Errorf("changes after %d: %w", after, err)
	}
	head, err := s.headRev()
	if err != nil {
		return nil, 0, err
	}
	db, done, err := s.acquire()
	if err != nil {
		return nil, 0, err
	}
	defer done()
	txn := db.NewTransactionAt(uint64(head), false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceChanges}, PrefetchValues: false})
	defer it.Close()
	names := s.names.load()
	var out []ChangeSet
	last := after
	if after == math.MaxUint64 {
		return nil, head, nil
	}
	for it.Seek(revKey(spaceChanges, after+1)); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return out, last, err
		}
		if s.rg.shut.Load() {
			return out, last, ErrClosed // the store is closing: it waits for this read
		}
		item := it.Item()
		if len(item.Key()) != 11 {
			return out, last, corruptf("", "bad change record key %q", item.Key())
		}
		rev := Revision(binary.BigEndian.Uint64(item.Key()[1:]))
		if len(out) == 0 || rev != last {
			if limit > 0 && len(out) == limit {
				return out, last, nil
			}
			out = append(out, ChangeSet{Revision: rev})
			last = rev
		}
		cs := &out[len(out)-1]
		err := itemValue(item, func(v []byte) error {
			changes, err := decodeChanges(names, v)
			cs.Changes = append(cs.Changes, changes...)
			return err
		})
		if err != nil {
			return out, last, fmt.Errorf("changes of revision %d: %w", rev, readErr(err))
		}
	}
	return out, head, nil
}

// Watch calls fn with every change set after revision `after`, in commit
// order, waiting for new commits, until ctx ends (it then returns ctx's
// error), fn returns an error (returned), or the store closes (ErrClosed).
func (s *Store) Watch(ctx context.Context, after Revision, fn func(ChangeSet) error) error {
	return Follow(ctx, s, after, fn)
}
