package tuples

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"os"
	"runtime/debug"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/table"
)

// Report is what Check found in a store.
type Report struct {
	Dir string `json:"dir"`
	// Problems found, each naming the file or the key at fault; none when
	// the store is healthy.
	Problems []string `json:"problems"`
	// Tables is how many table files were verified, of TableBytes bytes.
	Tables     int   `json:"tables"`
	TableBytes int64 `json:"table_bytes"`
	// What the store holds at its head revision (when it could be opened).
	Head           Revision `json:"head"`
	Relationships  int      `json:"relationships"`
	ChangeRecords  int      `json:"change_records"`
	SchemaVersions int      `json:"schema_versions"`
	Names          int      `json:"names"`
}

// Healthy reports whether Check found no problem.
func (r Report) Healthy() bool { return len(r.Problems) == 0 }

// maxReported is how many problems of one kind a report lists.
const maxReported = 20

// Check verifies the store in dir offline (no process may have it open for
// writing; it opens it read-only and changes nothing):
//
//   - the directory: the MANIFEST is whole and lists exactly the tables
//     there (a table it does not list is reported: a read-write open checks
//     and removes those a crash left), and every table's checksums (its
//     index and every block) verify;
//   - the indexes agree: every forward entry has its reverse entry, with
//     the same value (caveat, expiration), and the other way round;
//   - every batch is whole: no key is written at a revision above the head
//     (a torn batch), every key, value, name and change record decodes, every
//     name id is used once, every stored schema version decodes and compiles.
//
// The error is for a check that could not run (no store in dir, or one in
// use); what is wrong with the store is in the report.
func Check(dir string) (Report, error) {
	rep := Report{Dir: dir}
	problem := func(format string, args ...any) {
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
	}
	if _, err := os.Stat(dir); err != nil {
		return rep, err
	}
	unlock, err := lockDir(dir, true)
	if err != nil {
		return rep, err
	}
	c, err := checkDir(dir, true)
	unlock()
	if err != nil {
		return rep, err
	}
	if !c.files.manifest && !c.files.hasData() {
		return rep, fmt.Errorf("no store in %s", dir)
	}
	for _, p := range c.problems {
		problem("%v", p)
	}
	if c.manifest != nil {
		for id := range c.manifest.tables {
			if fi, err := os.Stat(table.NewFilename(id, dir)); err == nil {
				rep.Tables++
				rep.TableBytes += fi.Size()
			}
		}
	}
	if !rep.Healthy() {
		return rep, nil // the store's contents cannot be read safely
	}
	// Tables the MANIFEST does not list must be leftovers of a crash, their
	// data found elsewhere (Badger deletes them at the next writable open).
	if len(c.orphans) > 0 {
		unlock, err := lockDir(dir, true)
		if err != nil {
			return rep, err
		}
		err = checkOrphans(dir, c, badgerOptions(dir, Options{ReadOnly: true}.withDefaults()))
		unlock()
		if err != nil {
			problem("%v", err)
			return rep, nil
		}
	}
	s, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			problem("%v", err)
			return rep, nil
		}
		return rep, err
	}
	defer s.Close()
	s.checkContents(&rep, problem)
	return rep, nil
}

// checkContents checks what the store holds (see Check).
func (s *Store) checkContents(rep *Report, problem func(string, ...any)) {
	defer func() {
		if r := recover(); r != nil {
			problem("reading the store failed (%s)", panicText(r))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	head, _ := s.HeadRevision(context.Background())
	rep.Head = head
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()

	// Every version of every key: none above the head; names, schemas,
	// change records and relationship values decode.
	names := s.names.load()
	byID := map[uint64]string{}
	torn := map[uint64]int{}
	counts := map[byte]int{}
	it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		key, ver := item.Key(), Revision(item.Version())
		if len(key) == 0 {
			problem("an empty key at revision %d", ver)
			continue
		}
		if ver > head {
			torn[uint64(ver)]++
		}
		if item.IsDeletedOrExpired() {
			continue
		}
		counts[key[0]]++
		var err error
		switch key[0] {
		case spaceName:
			var v []byte
			if v, err = itemValueCopy(item); err == nil {
				id, k := binary.Uvarint(v)
				if k <= 0 {
					err = corruptf("", "bad name entry")
				} else if other, dup := byID[id]; dup && other != string(key[1:]) {
					err = corruptf("", "name id %d is both %q and %q", id, other, key[1:])
				} else {
					byID[id] = string(key[1:])
				}
			}
		case spaceSchema:
			err = itemValue(item, func(v []byte) error {
				_, _, err := decodeSchema(v)
				return err
			})
			if err == nil {
				rep.SchemaVersions++
				_, err = s.programAt(ver)
			}
		case spaceChanges:
			err = itemValue(item, func(v []byte) error {
				_, err := decodeChanges(names, v)
				return err
			})
			if len(key) != 11 {
				err = corruptf("", "bad change record key")
			}
		case spaceForward, spaceReverse:
			var d decodedKey
			if key[0] == spaceForward {
				d, err = decodeForward(key)
			} else {
				d, err = decodeReverse(key)
			}
			if err == nil {
				var r Relationship
				if r, err = names.relationship(d); err == nil && item.UserMeta()&metaHasValue != 0 {
					err = itemValue(item, func(v []byte) error { return decodeValue(v, &r) })
				}
			}
		case spaceHead, spaceTime:
			var v []byte
			if v, err = itemValueCopy(item); err == nil && len(v) != 8 {
				err = corruptf("", "a value of %d bytes, want 8", len(v))
			}
		default:
			err = corruptf("", "a key of no known kind")
		}
		if err != nil && len(rep.Problems) < maxReported {
			problem("key %q at revision %d: %v", key, ver, err)
		}
	}
	it.Close()
	for rev, n := range torn {
		problem("%d keys written at revision %d, above the head %d: a batch not wholly written", n, rev, head)
	}
	rep.Names = len(byID)
	rep.ChangeRecords = counts[spaceChanges]

	// The indexes agree at the head.
	n, probs, err := indexesAgree(s.db, head, maxReported)
	rep.Relationships = n
	for _, p := range probs {
		problem("%s", p)
	}
	if err != nil {
		problem("comparing the indexes: %v", err)
	}
}

// indexesAgree compares the forward and reverse indexes at rev: the same
// relationships, with the same values. It returns the number of forward
// entries and up to limit descriptions of disagreements. A first pass
// compares sums of hashes (one scan of each index); only if they differ are
// entries looked up one by one to name them.
func indexesAgree(db *badger.DB, rev Revision, limit int) (int, []string, error) {
	txn := db.NewTransactionAt(uint64(rev), false)
	defer txn.Discard()
	seed := maphash.MakeSeed()
	entryHash := func(fkey []byte, item *badger.Item) (uint64, error) {
		var h maphash.Hash
		h.SetSeed(seed)
		h.Write(fkey)
		h.WriteByte(item.UserMeta())
		err := item.Value(func(v []byte) error { h.Write(v); return nil })
		return h.Sum64(), err
	}
	var fsum, rsum uint64
	var fn, rn int
	var buf []byte
	scan := func(space byte, fn func(key []byte, item *badger.Item) error) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{space}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := fn(it.Item().Key(), it.Item()); err != nil {
				return err
			}
		}
		return nil
	}
	err := scan(spaceForward, func(key []byte, item *badger.Item) error {
		h, err := entryHash(key, item)
		fsum += h
		fn++
		return err
	})
	if err == nil {
		err = scan(spaceReverse, func(key []byte, item *badger.Item) error {
			d, err := decodeReverse(key)
			if err != nil {
				return err
			}
			buf = forwardKey(buf[:0], d.ids, d.resID, d.subjID)
			h, err := entryHash(buf, item)
			rsum += h
			rn++
			return err
		})
	}
	if err != nil || (fn == rn && fsum == rsum) {
		return fn, nil, err
	}
	// They differ: name the entries.
	var probs []string
	counterpart := func(space byte, key []byte, item *badger.Item) error {
		if len(probs) >= limit {
			return nil
		}
		var other []byte
		if space == spaceForward {
			d, err := decodeForward(key)
			if err != nil {
				return err
			}
			other = reverseKey(nil, d.ids, d.resID, d.subjID)
		} else {
			d, err := decodeReverse(key)
			if err != nil {
				return err
			}
			other = forwardKey(nil, d.ids, d.resID, d.subjID)
		}
		index, otherIndex := "forward", "reverse"
		if space == spaceReverse {
			index, otherIndex = otherIndex, index
		}
		oi, err := txn.Get(other)
		if errors.Is(err, badger.ErrKeyNotFound) {
			probs = append(probs, fmt.Sprintf("%s entry %q has no %s entry", index, key, otherIndex))
			return nil
		}
		if err != nil {
			return err
		}
		v1, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v2, err := oi.ValueCopy(nil)
		if err != nil {
			return err
		}
		if item.UserMeta() != oi.UserMeta() || !bytes.Equal(v1, v2) {
			probs = append(probs, fmt.Sprintf("%s entry %q and its %s entry have different values", index, key, otherIndex))
		}
		return nil
	}
	err = scan(spaceForward, func(key []byte, item *badger.Item) error { return counterpart(spaceForward, key, item) })
	if err == nil {
		err = scan(spaceReverse, func(key []byte, item *badger.Item) error { return counterpart(spaceReverse, key, item) })
	}
	if len(probs) == 0 && err == nil {
		probs = append(probs, fmt.Sprintf("%d forward entries, %d reverse entries", fn, rn))
	}
	return fn, probs, err
}
