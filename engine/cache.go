package engine

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/reach-authz/reach/tuples"
)

// The check cache remembers definite sub-problem results across requests,
// keyed on (revision, resource, relation, subject). Revisions never change,
// so entries never need invalidating; old revisions simply age out.
//
// It is bounded in bytes, not entries, and its memory is taken once, when
// it is made, outside Go's heap where the system allows (cachemem_*.go):
// the collector neither scans it nor counts it towards its next goal, and
// an insert allocates nothing. Pages the cache has not written yet cost no
// resident memory, so a cache fills its bound only as it is used.
//
// It is split into shards, each under a mutex of its own, and each shard is
// a ring of bytes and an index:
//
//   - The ring holds the entries one after the other, each encoded in
//     place: a header (its size, flags, the length of its key), the key
//     (the revision and the six strings, length-prefixed) and the value
//     (the answer, the depth it needed, the missing caveat parameters). A
//     new entry is written at the head; the oldest is evicted at the tail.
//     An entry that does not fit before the end of the ring starts again
//     at its beginning, and the bytes left over are padding.
//   - The index is an open-addressing table (linear probing, deletion by
//     backward shift) of 64-bit slots: the high half of the key's hash and
//     the entry's offset in the ring. It is never more than three quarters
//     full.
//
// Eviction is CLOCK's second chance: a hit marks its entry; an entry that
// reaches the tail marked is moved to the head (and unmarked) instead of
// dropped (at most maxReinserts of them per insert), so that hot entries stay
// while entries read once leave in insertion order.

// defaultCacheShards is the number of independent shards: a shard is
// locked on every get (a hit marks its entry), so one would serialise
// every reader (see BenchmarkCheckParallel).
const defaultCacheShards = 64

const (
	// entryHeader: the entry's size (uint32), its flags (a byte) and its
	// key's length (uint16).
	entryHeader = 7
	flagLive    = 1 // the entry is in the index (else it was replaced)
	flagRef     = 2 // the entry was hit since it was written or moved
	// maxReinserts bounds the entries one insert moves to the head (each
	// move spends a hit, so they cost O(1) a hit; the bound caps one
	// insert's latency at some microseconds).
	maxReinserts = 256
	// cacheEntryBytes is the budget per entry of a cache bounded by entries
	// alone (Options.CacheSize without CacheMaxBytes): a typical entry
	// takes 50 to 100 bytes of ring, and 8 to 11 of index.
	cacheEntryBytes = 128
	// minShardBytes is the least a shard is given (one page), and
	// minShardsBytes the least per shard before the cache uses more than
	// one.
	minShardBytes  = 4 << 10
	minShardsBytes = 64 << 10
)

// cacheKey names one sub-problem at one revision.
type cacheKey struct {
	rev           tuples.Revision
	rt, rid, rel  string
	st, sid, srel string
}

// cacheValue is a cached result: the answer, for Conditional the caveat
// parameters that would decide it, and the depth its evaluation needed
// (see outcome.need): like SpiceDB's DepthRequired, an entry answers only a
// question asked with at least that much depth left, so that a warm cache
// never answers what a cold walk would refuse with ErrMaxDepth.
type cacheValue struct {
	perm    Permissionship
	missing []string
	need    int32
}

// checkCache is the sharded, byte-bounded cache of definite sub-problem
// results.
type checkCache struct {
	seed   maphash.Seed
	mask   uint64 // len(shards)-1, a power of two less one
	shards []cacheShard
	bytes  int64 // the memory it took
}

// cacheShard is one ring and its index. Every field is guarded by mu.
type cacheShard struct {
	mu    sync.Mutex
	seed  maphash.Seed
	ring  []byte
	table []uint64 // 0: empty; else hash>>32 << 32 | offset+1
	tmask uint64
	// head is where the next entry goes, tail the oldest entry; used counts
	// the bytes from tail to head (padding and replaced entries included).
	head, tail, used int
	live, maxLive    int
	hits, misses     uint64
	// mem keeps the memory of the ring and the index mapped while a shard
	// uses it (see newCacheMemory).
	mem *cacheMemory
	_   [64]byte // a cache line between neighbouring shards' locks
}

// CacheStats are the check cache's counters.
type CacheStats struct {
	Hits, Misses uint64
	// Entries is the number of results cached.
	Entries int
	// Bytes is the memory the cache holds (its index, and the bytes of
	// its rings written so far); MaxBytes its bound.
	Bytes, MaxBytes int64
}

// newCheckCache returns a cache of at most maxBytes bytes (> 0) and, when
// maxEntries > 0, at most maxEntries entries, split over at most shards
// shards.
func newCheckCache(maxBytes int64, maxEntries, shards int) *checkCache {
	n := 1
	for n*2 <= shards && maxBytes/int64(n*2) >= minShardsBytes && (maxEntries <= 0 || n*2 <= maxEntries) {
		n *= 2
	}
	type plan struct{ slots, ring, maxLive int }
	plans := make([]plan, n)
	slotsTotal, ringsTotal := 0, 0
	for i := range plans {
		per := max(maxBytes/int64(n), minShardBytes)
		// The index takes an eighth of the budget (8 bytes a slot, a slot
		// per 64 bytes): about as many entries as the ring holds of
		// typical ones, 50 to 60 bytes. With a bound on entries, it takes
		// what that many need (but at most half the budget).
		slots := pow2Floor(per / 64)
		live := slots / 4 * 3
		if maxEntries > 0 {
			want := maxEntries / n
			if i < maxEntries%n {
				want++
			}
			slots = min(pow2Ceil(int64(want)*4/3+1), pow2Floor(per/16))
			live = min(want, slots/4*3)
		}
		slots = max(slots, 8)
		live = max(live, 1)
		ring := int(min(per-int64(slots)*8, math.MaxUint32-1))
		if maxEntries > 0 {
			// A ring much larger than its entries need would still be
			// written through, page after page, before it wraps.
			ring = min(ring, live*2*cacheEntryBytes)
		}
		ring = max(ring, minShardBytes/2)
		plans[i] = plan{slots, ring, live}
		slotsTotal += slots
		ringsTotal += ring
	}
	total := slotsTotal*8 + ringsTotal
	mem := newCacheMemory(slotsTotal, ringsTotal)
	c := &checkCache{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]cacheShard, n), bytes: int64(total)}
	// The indexes first, 8-byte aligned as the memory is, then the rings.
	words, b := mem.words, mem.b[len(mem.words)*8:]
	for i, p := range plans {
		s := &c.shards[i]
		s.seed, s.mem = c.seed, mem
		s.table, words = words[:p.slots:p.slots], words[p.slots:]
		s.tmask = uint64(p.slots - 1)
		s.ring, b = b[:p.ring:p.ring], b[p.ring:]
		s.maxLive = p.maxLive
	}
	return c
}

// pow2Floor is the largest power of two at most n (1 for n < 1).
func pow2Floor(n int64) int {
	p := 1
	for int64(p)*2 <= n && p < 1<<40 {
		p *= 2
	}
	return p
}

// pow2Ceil is the least power of two at least n.
func pow2Ceil(n int64) int {
	p := 1
	for int64(p) < n && p < 1<<40 {
		p *= 2
	}
	return p
}

// keyBuf is the room a key is encoded into on the stack; longer keys are
// encoded on the heap.
const keyBuf = 256

// encode appends the key's bytes to b: the revision, then each string
// after its length.
func (k *cacheKey) encode(b []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(k.rev))
	for _, s := range [...]string{k.rt, k.rid, k.rel, k.st, k.sid, k.srel} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func (c *checkCache) get(k cacheKey) (cacheValue, bool) {
	var buf [keyBuf]byte
	key := k.encode(buf[:0])
	h := maphash.Bytes(c.seed, key)
	s := &c.shards[h&c.mask]
	s.mu.Lock()
	off, slot := s.find(key, h)
	if slot < 0 {
		s.misses++
		s.mu.Unlock()
		return cacheValue{}, false
	}
	s.hits++
	s.ring[off+4] |= flagRef
	size := int(binary.LittleEndian.Uint32(s.ring[off:]))
	v := decodeValue(s.ring[off+entryHeader+len(key) : off+size])
	s.mu.Unlock()
	return v, true
}

func (c *checkCache) add(k cacheKey, v cacheValue) {
	var buf [keyBuf + 32]byte
	e := k.encode(buf[:entryHeader])
	kl := len(e) - entryHeader
	if kl > math.MaxUint16 {
		return
	}
	e = appendValue(e, v)
	key := e[entryHeader : entryHeader+kl]
	binary.LittleEndian.PutUint32(e, uint32(len(e)))
	e[4] = flagLive
	binary.LittleEndian.PutUint16(e[5:], uint16(kl))
	h := maphash.Bytes(c.seed, key)
	s := &c.shards[h&c.mask]
	s.mu.Lock()
	s.insert(e, key, h)
	s.mu.Unlock()
}

// appendValue appends the encoding of v: the answer, the depth it needed
// and the missing parameters, each after its length.
func appendValue(b []byte, v cacheValue) []byte {
	b = append(b, byte(v.perm))
	b = binary.AppendUvarint(b, uint64(max(v.need, 0)))
	b = binary.AppendUvarint(b, uint64(len(v.missing)))
	for _, m := range v.missing {
		b = binary.AppendUvarint(b, uint64(len(m)))
		b = append(b, m...)
	}
	return b
}

func decodeValue(b []byte) cacheValue {
	v := cacheValue{perm: Permissionship(b[0])}
	b = b[1:]
	need, n := binary.Uvarint(b)
	b = b[n:]
	v.need = int32(need)
	count, n := binary.Uvarint(b)
	b = b[n:]
	if count > 0 {
		v.missing = make([]string, count)
		for i := range v.missing {
			l, n := binary.Uvarint(b)
			b = b[n:]
			v.missing[i] = string(b[:l])
			b = b[l:]
		}
	}
	return v
}

// find returns the offset and index slot of the entry whose key is key
// (hashed to h); slot is -1 when there is none.
func (s *cacheShard) find(key []byte, h uint64) (off, slot int) {
	hi := uint32(h >> 32)
	for i := uint64(hi) & s.tmask; ; i = (i + 1) & s.tmask {
		e := s.table[i]
		if e == 0 {
			return 0, -1
		}
		if uint32(e>>32) != hi {
			continue
		}
		off := int(uint32(e)) - 1
		kl := int(binary.LittleEndian.Uint16(s.ring[off+5:]))
		if kl == len(key) && string(s.ring[off+entryHeader:off+entryHeader+kl]) == string(key) {
			return off, int(i)
		}
	}
}

// slotOf returns the index slot of the live entry at off.
func (s *cacheShard) slotOf(off int) uint64 {
	kl := int(binary.LittleEndian.Uint16(s.ring[off+5:]))
	hi := uint32(maphash.Bytes(s.seed, s.ring[off+entryHeader:off+entryHeader+kl]) >> 32)
	want := uint32(off + 1)
	for i := uint64(hi) & s.tmask; ; i = (i + 1) & s.tmask {
		if e := s.table[i]; uint32(e) == want && uint32(e>>32) == hi {
			return i
		}
		// (Never an empty slot before it: the entry is live.)
	}
}

// insert adds the encoded entry e (its key key, hashed to h), replacing
// the entry of the same key.
func (s *cacheShard) insert(e, key []byte, h uint64) {
	size := len(e)
	if size > len(s.ring) {
		return
	}
	if off, slot := s.find(key, h); slot >= 0 {
		old := s.ring[off : off+int(binary.LittleEndian.Uint32(s.ring[off:]))]
		if string(old[entryHeader:]) == string(e[entryHeader:]) {
			return // the same result, added twice by checks racing
		}
		old[4] = 0 // replaced: the tail skips it
		s.deleteSlot(uint64(slot))
		s.live--
	}
	if !s.makeRoom(size) {
		return
	}
	at, _ := s.reserve(size)
	copy(s.ring[at:], e)
	hi := uint32(h >> 32)
	i := uint64(hi) & s.tmask
	for s.table[i] != 0 {
		i = (i + 1) & s.tmask
	}
	s.table[i] = uint64(hi)<<32 | uint64(at+1)
	s.live++
}

// makeRoom evicts from the tail until an entry of size bytes fits at the
// head and the index has room for one more. It fails only for an entry
// larger than the ring.
func (s *cacheShard) makeRoom(size int) bool {
	chances := maxReinserts
	for {
		need := size
		if r := len(s.ring) - s.head; r < size {
			need = r + size
		}
		if len(s.ring)-s.used >= need && s.live < s.maxLive {
			return true
		}
		if s.used == 0 {
			if size > len(s.ring) {
				return false
			}
			s.head, s.tail = 0, 0
			continue
		}
		s.evict(&chances)
	}
}

// reserve claims size bytes at the head, after padding the end of the ring
// when they do not fit before it, and returns their offset; false when
// there is not enough room.
func (s *cacheShard) reserve(size int) (int, bool) {
	r := len(s.ring) - s.head
	need := size
	if r < size {
		need = r + size
	}
	if len(s.ring)-s.used < need {
		return 0, false
	}
	if r < size {
		if r >= 4 {
			binary.LittleEndian.PutUint32(s.ring[s.head:], 0) // padding to the end
		}
		s.used += r
		s.head = 0
	}
	at := s.head
	s.head += size
	s.used += size
	if s.head == len(s.ring) {
		s.head = 0
	}
	return at, true
}

// evict removes the entry at the tail (or skips the padding there). An
// entry hit since it was written is moved to the head instead, while
// chances last.
func (s *cacheShard) evict(chances *int) {
	r := len(s.ring) - s.tail
	if r < entryHeader || binary.LittleEndian.Uint32(s.ring[s.tail:]) == 0 {
		s.used -= r
		s.tail = 0
		return
	}
	off := s.tail
	size := int(binary.LittleEndian.Uint32(s.ring[off:]))
	flags := s.ring[off+4]
	s.tail += size
	s.used -= size
	if s.tail == len(s.ring) {
		s.tail = 0
	}
	if flags&flagLive == 0 {
		return
	}
	if flags&flagRef != 0 && *chances > 0 {
		*chances--
		slot := s.slotOf(off) // (before the move may overwrite it)
		if at, ok := s.reserve(size); ok {
			copy(s.ring[at:at+size], s.ring[off:off+size]) // may overlap: copy moves
			s.ring[at+4] = flagLive
			s.table[slot] = s.table[slot]&^math.MaxUint32 | uint64(at+1)
			return
		}
		s.deleteSlot(slot)
		s.live--
		return
	}
	s.deleteSlot(s.slotOf(off))
	s.live--
}

// deleteSlot empties slot i of the index, shifting back the entries after
// it that would no longer be found.
func (s *cacheShard) deleteSlot(i uint64) {
	for {
		s.table[i] = 0
		j := i
		for {
			j = (j + 1) & s.tmask
			e := s.table[j]
			if e == 0 {
				return
			}
			home := (e >> 32) & s.tmask
			// The entry at j stays when its home lies cyclically in (i, j].
			if i <= j {
				if i < home && home <= j {
					continue
				}
			} else if i < home || home <= j {
				continue
			}
			s.table[i] = e
			i = j
			break
		}
	}
}

func (c *checkCache) stats() CacheStats {
	st := CacheStats{MaxBytes: c.bytes}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Hits += s.hits
		st.Misses += s.misses
		st.Entries += s.live
		st.Bytes += int64(len(s.table))*8 + int64(s.used)
		s.mu.Unlock()
	}
	return st
}

// cacheMemory is the memory of a cache's indexes (words) and rings (b,
// after the words), released when no shard refers to it any more.
type cacheMemory struct {
	words []uint64
	b     []byte
}

func newCacheMemory(words, bytes int) *cacheMemory {
	n := words*8 + bytes
	b, release := allocCacheMemory(n)
	m := &cacheMemory{b: b, words: unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(b))), words)}
	if release != nil {
		runtime.AddCleanup(m, func(b []byte) { release(b) }, b)
	}
	return m
}
