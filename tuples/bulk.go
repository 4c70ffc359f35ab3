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
	maxSize := 15 * s.bo.MemTableSize / 100
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
	var recs []sortRec
	return sortUniqueInto(nil, es, &recs)
}

// sortRec is what sorting a bulk entry moves: the first 16 bytes of its key
// (big-endian, zero-padded, so comparing them orders keys as bytes.Compare
// does on the bytes they hold) and its position. Sorting these 24-byte
// records rather than the entries themselves moves a third of the bytes, and
// the two prefixes decide nearly every comparison without reading the keys.
type sortRec struct {
	p0, p1 uint64
	i      int32
}

func keyPrefix16(k []byte) (uint64, uint64) {
	if len(k) >= 16 {
		return binary.BigEndian.Uint64(k), binary.BigEndian.Uint64(k[8:])
	}
	var b [16]byte
	copy(b[:], k)
	return binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint64(b[8:])
}

// sortUniqueInto appends to dst[:0] the entries of es sorted by key, keeping
// of equal keys the one with the highest idx (the last written). *recs is
// scratch space, kept for the next call.
func sortUniqueInto(dst, es []bulkEntry, recs *[]sortRec) []bulkEntry {
	rs := (*recs)[:0]
	for i := range es {
		p0, p1 := keyPrefix16(es[i].key)
		rs = append(rs, sortRec{p0: p0, p1: p1, i: int32(i)})
	}
	*recs = rs
	slices.SortFunc(rs, func(a, b sortRec) int {
		if a.p0 != b.p0 {
			return cmp.Compare(a.p0, b.p0)
		}
		if a.p1 != b.p1 {
			return cmp.Compare(a.p1, b.p1)
		}
		ea, eb := &es[a.i], &es[b.i]
		if c := bytes.Compare(ea.key, eb.key); c != 0 {
			return c
		}
		return cmp.Compare(ea.idx, eb.idx)
	})
	dst = dst[:0]
	for j := range rs {
		r := &rs[j]
		if j+1 < len(rs) {
			n := &rs[j+1]
			if n.p0 == r.p0 && n.p1 == r.p1 && bytes.Equal(es[r.i].key, es[n.i].key) {
				continue
			}
		}
		dst = append(dst, es[r.i])
	}
	return dst
}

// bulkBuf holds the buffers that building a batch's keys fills, reused from
// batch to batch of an import once the batch that used them is written.
type bulkBuf struct {
	fwd, rvs         []bulkEntry // sorted, unique
	fwdRaw, rvsRaw   []bulkEntry // in batch order
	fwdRecs, rvsRecs []sortRec
	arena, changes   []byte
}

// idCache remembers the ids of the last relationship's four names: the
// lines of an import mostly repeat a few shapes.
type idCache struct {
	resType, rel, subjType, subjRel string
	ids                             relIDs
	ok                              bool
}

func (c *idCache) lookup(na *nameAssigner, r *Relationship) relIDs {
	if c.ok && c.resType == r.ResourceType && c.rel == r.Relation && c.subjType == r.SubjectType && c.subjRel == r.SubjectRelation {
		return c.ids
	}
	ids := relIDs{na.id(r.ResourceType), na.id(r.Relation), na.id(r.SubjectType), na.id(r.SubjectRelation)}
	*c = idCache{resType: r.ResourceType, rel: r.Relation, subjType: r.SubjectType, subjRel: r.SubjectRelation, ids: ids, ok: true}
	return ids
}

// buildBulk builds the sorted forward and reverse entries of rels (as
// TOUCHes, keyed with the ids of na) and their change record, in the buffers
// of buf (nil: new ones). size is the rough byte size of the batch's input.
func buildBulk(na *nameAssigner, rels []Relationship, size int, buf *bulkBuf) (fwd, rvs []bulkEntry, changes []byte) {
	if buf == nil {
		buf = &bulkBuf{}
	}
	fwdRaw := slices.Grow(buf.fwdRaw[:0], len(rels))[:len(rels)]
	rvsRaw := slices.Grow(buf.rvsRaw[:0], len(rels))[:len(rels)]
	arena := slices.Grow(buf.arena[:0], 2*size+32*len(rels))
	changes = slices.Grow(buf.changes[:0], size+16*len(rels))
	var cache idCache
	for i := range rels {
		r := &rels[i]
		ids := cache.lookup(na, r)
		start := len(arena)
		arena = forwardKey(arena, ids, r.ResourceID, r.SubjectID)
		fk := arena[start:len(arena):len(arena)]
		start = len(arena)
		arena = reverseKey(arena, ids, r.ResourceID, r.SubjectID)
		rk := arena[start:len(arena):len(arena)]
		var val []byte
		meta := metaPlain
		if r.Caveat != nil || r.Expiration != nil {
			val = encodeValue(r)
			meta = metaHasValue
		}
		fwdRaw[i] = bulkEntry{key: fk, val: val, userMeta: meta, idx: int32(i)}
		rvsRaw[i] = bulkEntry{key: rk, val: val, userMeta: meta, idx: int32(i)}
		changes = appendChange(changes, Touch, fk, val)
	}
	// The arena may have grown past its estimate (appends reallocate), but
	// the keys already cut from it stay valid: they point into whichever
	// array they were written in, and nothing writes those bytes again
	// until the batch is written.
	var wg sync.WaitGroup
	wg.Go(func() { fwd = sortUniqueInto(buf.fwd, fwdRaw, &buf.fwdRecs) })
	rvs = sortUniqueInto(buf.rvs, rvsRaw, &buf.rvsRecs)
	wg.Wait()
	buf.fwd, buf.rvs, buf.fwdRaw, buf.rvsRaw, buf.arena, buf.changes = fwd, rvs, fwdRaw, rvsRaw, arena, changes
	return fwd, rvs, changes
}

// stageBatch builds, in a Badger loader not yet sent, the one atomic write
// of a prepared batch at rev committed at now: its keys, its change record
// and revision records, and the transaction markers. The write is sent by
// finishBatch, under the write lock, once rev is known to be head+1; a staged
// write found stale there (another write came in between) is dropped unsent
// and staged again. Staging ahead lets the reader build the loader's
// entries while the previous batch is written.
func (s *Store) stageBatch(p *preparedBatch, rev Revision, now time.Time) error {
	p.ld = nil
	na, fwd, rvs, changes := p.na, p.fwd, p.rvs, p.changes
	expires := uint64(now.Add(s.opts.GCWindow + timeTTLMargin).Unix())
	names := make([]bulkEntry, 0, len(na.added))
	for name, id := range na.added {
		k := nameKey(name)
		names = append(names, bulkEntry{key: k, val: binary.AppendUvarint(nil, id), pfx: keyPrefix(k)})
	}
	slices.SortFunc(names, compareBulk)
	fixed := make([]byte, 16)
	headVal, timeVal := fixed[:8:8], fixed[8:]
	binary.BigEndian.PutUint64(headVal, uint64(rev))
	binary.BigEndian.PutUint64(timeVal, uint64(now.UnixNano()))

	// The key spaces sort c < f < h < n < r < t, so this is key order.
	var changeRun []bulkEntry
	keys, vals := changeEntries(rev, changes)
	for i, k := range keys {
		changeRun = append(changeRun, bulkEntry{key: k, val: vals[i], expiresAt: expires})
	}
	runs := [][]bulkEntry{
		changeRun,
		fwd,
		{{key: []byte{spaceHead}, val: headVal}},
		names,
		rvs,
		{{key: revKey(spaceTime, rev), val: timeVal, expiresAt: expires}},
	}
	maxCount, maxSize := s.bulkLimits()
	count, est := int64(1), int64(0) // the finishing entry
	for _, run := range runs {
		for i := range run {
			e := &run[i]
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
		return fmt.Errorf("import batch of %d relationships is too large for one write (%d entries, ~%d bytes); use a smaller batch size", len(p.Rels), count, est)
	}

	// Set only collects entries while they stay under the limits checked
	// above: the loader sends nothing before Finish.
	ld := s.db.NewKVLoader(1)
	txnMeta := []byte{badgerBitTxn}
	kv := &pb.KV{Version: uint64(rev), Meta: txnMeta}
	um := [2][]byte{{metaPlain}, {metaHasValue}}
	for _, run := range runs {
		for i := range run {
			e := &run[i]
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
	p.ld, p.rev, p.now = ld, rev, now
	return nil
}

// finishBatch sends the write staged by stageBatch and publishes it. The
// caller holds wmu, p.rev is head+1, and p's keys were built with the names
// in force.
func (s *Store) finishBatch(p *preparedBatch) error {
	ld := p.ld
	p.ld = nil
	if err := ld.Finish(); err != nil {
		return fmt.Errorf("write revision %d: %w", p.rev, err)
	}
	// With SyncWrites, Badger syncs the log and the value log before the
	// write request completes, as for a transaction.
	s.names.publish(p.na)
	s.committed(p.rev, p.now)
	return nil
}

// lastCommitTime is the commit time of the head, if known.
func (s *Store) lastCommitTime() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.times) == 0 {
		return time.Time{}, false
	}
	return s.times[len(s.times)-1].at, true
}
