package tuples

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/skl"
)

// Bulk writes (imports) go to Badger through its KVLoader rather than a
// transaction, for speed: a transaction hands its writes to the memtable in
// the random order of a Go map, and inserting 20,000 keys at random places of
// a 64 MiB skiplist costs twice as much as inserting them in key order (1M
// relationships: 6.1 s against 2.9 s measured here). The loader sends
// entries in the order given, so a bulk batch sorts its keys first.
//
// The batch must stay atomic. Badger makes a transaction atomic in its
// write-ahead log with two marker bits in each entry's internal meta byte:
// every entry of the transaction carries bitTxn, and a last entry, key
// `!badger!txn` at the commit version with the version in decimal as its
// value, carries bitFinTxn; on replay after a crash, entries of a transaction
// whose finishing entry is missing are dropped (badger v4 memtable.go,
// logFile.iterate; txn.go, commitAndSend). A bulk batch writes exactly those
// markers, in one write request (the loader sends at most maxBatchCount
// entries or maxBatchSize bytes per request, so the batch is kept under both),
// so a crash leaves it wholly present or wholly absent like a transaction.
// TestBulkBatchTornWrite checks this by cutting the log inside a batch, and
// the crash test by killing importing processes.
const (
	badgerBitTxn    byte = 1 << 6 // badger v4 value.go: bitTxn
	badgerBitFinTxn byte = 1 << 7 // badger v4 value.go: bitFinTxn
)

// badgerTxnKey is badger v4's txnKey (db.go).
var badgerTxnKey = []byte("!badger!txn")

// bulkLimits are the most entries and estimated bytes one Badger write
// request may hold (badger computes them from the memtable size: 15% of it,
// and that divided by the largest skiplist node), with a margin.
func (s *Store) bulkLimits() (count, size int64) {
	maxSize := 15 * s.db.Opts().MemTableSize / 100
	maxCount := maxSize / int64(skl.MaxNodeSize)
	return maxCount * 9 / 10, maxSize * 8 / 10
}

// bulkEntry is one key of a bulk batch.
type bulkEntry struct {
	key, val  []byte
	pfx       uint64 // the key's first 8 bytes, big-endian: compared first
	userMeta  byte
	expiresAt uint64
	idx       int32 // position in the batch, so the last of equal keys wins
}

// keyPrefix is the first 8 bytes of k (zero-padded) as a big-endian number,
// so that comparing prefixes orders keys as bytes.Compare does on them.
func keyPrefix(k []byte) uint64 {
	if len(k) >= 8 {
		return binary.BigEndian.Uint64(k)
	}
	var b [8]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:])
}

func compareBulk(a, b bulkEntry) int {
	if a.pfx != b.pfx {
		return cmp.Compare(a.pfx, b.pfx)
	}
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// sortUnique sorts es by key and keeps, of equal keys, the last written.
func sortUnique(es []bulkEntry) []bulkEntry {
	slices.SortFunc(es, compareBulk)
	out := es[:0]
	for i := range es {
		if i+1 < len(es) && bytes.Equal(es[i].key, es[i+1].key) {
			continue
		}
		out = append(out, es[i])
	}
	return out
}

// buildBulk builds the sorted forward and reverse entries of rels (as
// TOUCHes, keyed with the ids of na) and their change record. size is the
// rough byte size of the batch's input.
func buildBulk(na *nameAssigner, rels []Relationship, size int) (fwd, rvs []bulkEntry, changes []byte) {
	fwd = make([]bulkEntry, len(rels))
	rvs = make([]bulkEntry, len(rels))
	arena := make([]byte, 0, 2*size+32*len(rels))
	changes = make([]byte, 0, size+16*len(rels))
	for i := range rels {
		r := &rels[i]
		ids := relIDs{na.id(r.ResourceType), na.id(r.Relation), na.id(r.SubjectType), na.id(r.SubjectRelation)}
		start := len(arena)
		arena = forwardKey(arena, ids, r.ResourceID, r.SubjectID)
		fk := arena[start:len(arena):len(arena)]
		start = len(arena)
		arena = reverseKey(arena, ids, r.ResourceID, r.SubjectID)
		rk := arena[start:len(arena):len(arena)]
		val := encodeValue(r)
		meta := metaPlain
		if len(val) > 0 {
			meta = metaHasValue
		}
		fwd[i] = bulkEntry{key: fk, val: val, pfx: keyPrefix(fk), userMeta: meta, idx: int32(i)}
		rvs[i] = bulkEntry{key: rk, val: val, pfx: keyPrefix(rk), userMeta: meta, idx: int32(i)}
		changes = appendChange(changes, Touch, fk, val)
	}
	var wg sync.WaitGroup
	wg.Go(func() { fwd = sortUnique(fwd) })
	rvs = sortUnique(rvs)
	wg.Wait()
	return fwd, rvs, changes
}

// loadBatch writes a prepared batch in one atomic Badger write at rev, with
// its change record and revision records. The caller holds wmu, rev is
// head+1, and p's keys were built with the names in force.
func (s *Store) loadBatch(p *preparedBatch, rev Revision) error {
	now := time.Now()
	na, fwd, rvs, changes := p.na, p.fwd, p.rvs, p.changes
	expires := uint64(now.Add(s.opts.GCWindow + timeTTLMargin).Unix())
	names := make([]bulkEntry, 0, len(na.added))
	for name, id := range na.added {
		names = append(names, bulkEntry{key: nameKey(name), val: binary.AppendUvarint(nil, id)})
	}
	slices.SortFunc(names, compareBulk)
	var headVal, timeVal [8]byte
	binary.BigEndian.PutUint64(headVal[:], uint64(rev))
	binary.BigEndian.PutUint64(timeVal[:], uint64(now.UnixNano()))

	// The key spaces sort c < f < h < n < r < t, so this is key order.
	var changeRun []bulkEntry
	keys, vals := changeEntries(rev, changes)
	for i, k := range keys {
		changeRun = append(changeRun, bulkEntry{key: k, val: vals[i], expiresAt: expires})
	}
	runs := [][]bulkEntry{
		changeRun,
		fwd,
		{{key: []byte{spaceHead}, val: headVal[:]}},
		names,
		rvs,
		{{key: revKey(spaceTime, rev), val: timeVal[:], expiresAt: expires}},
	}
	maxCount, maxSize := s.bulkLimits()
	count, est := int64(1), int64(0) // the finishing entry
	for _, run := range runs {
		for _, e := range run {
			if s.opts.InMemory && len(e.val) >= 1<<20 {
				// An in-memory Badger holds values only up to its threshold.
				return fmt.Errorf("write revision %d: a value of %d bytes is too large for an in-memory store", rev, len(e.val))
			}
			count++
			est += int64(len(e.key)) + 8 + 2 + min(int64(len(e.val)), 12)
			if int64(len(e.val)) < 1<<10 {
				est += int64(len(e.val))
			}
		}
	}
	if count >= maxCount || est >= maxSize {
		return fmt.Errorf("import batch of %d relationships is too large for one write (%d entries, ~%d bytes); use a smaller batch size", len(p.rels), count, est)
	}

	ld := s.db.NewKVLoader(1)
	txnMeta := []byte{badgerBitTxn}
	kv := &pb.KV{Version: uint64(rev), Meta: txnMeta}
	um := [2][]byte{{metaPlain}, {metaHasValue}}
	for _, run := range runs {
		for _, e := range run {
			kv.Key, kv.Value, kv.ExpiresAt = e.key, e.val, e.expiresAt
			kv.UserMeta = um[e.userMeta&metaHasValue]
			if err := ld.Set(kv); err != nil {
				return fmt.Errorf("write revision %d: %w", rev, err)
			}
		}
	}
	fin := &pb.KV{Key: badgerTxnKey, Version: uint64(rev), Value: strconv.AppendUint(nil, uint64(rev), 10), Meta: []byte{badgerBitFinTxn}}
	if err := ld.Set(fin); err != nil {
		return fmt.Errorf("write revision %d: %w", rev, err)
	}
	if err := ld.Finish(); err != nil {
		return fmt.Errorf("write revision %d: %w", rev, err)
	}
	// With SyncWrites, Badger syncs the log and the value log before the
	// write request completes, as for a transaction.
	s.names.publish(na)
	s.committed(rev, now)
	return nil
}
