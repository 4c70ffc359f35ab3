package engine

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

// verify checks a shard's invariants: the ring, walked from tail to head,
// holds live entries that the index finds, as many as live; the index
// holds nothing else; used counts the bytes walked.
func (s *cacheShard) verify(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	pos, walked, live := s.tail, 0, 0
	for walked < s.used {
		r := len(s.ring) - pos
		if r < entryHeader || binary.LittleEndian.Uint32(s.ring[pos:]) == 0 {
			walked += r
			pos = 0
			continue
		}
		size := int(binary.LittleEndian.Uint32(s.ring[pos:]))
		if size < entryHeader || size > r {
			t.Fatalf("entry at %d: size %d, %d bytes to the end", pos, size, r)
		}
		if s.ring[pos+4]&flagLive != 0 {
			live++
			slot := s.slotOf(pos)
			if uint32(s.table[slot]) != uint32(pos+1) {
				t.Fatalf("entry at %d: slot %d holds %x", pos, slot, s.table[slot])
			}
		}
		walked += size
		pos += size
		if pos == len(s.ring) {
			pos = 0
		}
	}
	if walked != s.used || pos != s.head {
		t.Fatalf("walked %d bytes to %d; used %d, head %d", walked, pos, s.used, s.head)
	}
	if live != s.live || live > s.maxLive {
		t.Fatalf("%d live entries in the ring, live %d, max %d", live, s.live, s.maxLive)
	}
	n := 0
	for _, e := range s.table {
		if e != 0 {
			n++
		}
	}
	if n != s.live {
		t.Fatalf("%d index slots used, %d live entries", n, s.live)
	}
}

func (c *checkCache) verify(t *testing.T) {
	t.Helper()
	for i := range c.shards {
		c.shards[i].verify(t)
	}
}

func randomKey(r *rand.Rand, n int) cacheKey {
	id := func(prefix string, i int) string {
		s := fmt.Sprintf("%s%d", prefix, i)
		if i%17 == 0 { // some long ids
			s += strings.Repeat("x", r.IntN(300))
		}
		return s
	}
	i := r.IntN(n)
	k := cacheKey{rev: tuples.Revision(1 + i%3), rt: "doc", rid: id("d", i), rel: "view", st: "user", sid: id("u", i/7)}
	if i%5 == 0 {
		k.srel = "member"
	}
	return k
}

func valueOf(k cacheKey, round int) cacheValue {
	v := cacheValue{perm: Permissionship(len(k.rid) % 3), need: int32(len(k.sid) + round%2)}
	if v.perm == Conditional {
		v.missing = []string{"a" + k.rid, "b"}
	}
	return v
}

// The cache against a map: every hit answers the value last added for its
// key, the invariants hold after every step, and the bounds hold.
func TestCacheRingModel(t *testing.T) {
	for _, tc := range []struct {
		bytes   int64
		entries int
		shards  int
	}{
		{4 << 10, 0, 1}, {16 << 10, 0, 1}, {64 << 10, 0, 4}, {1 << 20, 0, 64}, {1 << 20, 100, 8}, {200, 3, 1},
	} {
		t.Run(fmt.Sprintf("bytes=%d,entries=%d,shards=%d", tc.bytes, tc.entries, tc.shards), func(t *testing.T) {
			c := newCheckCache(tc.bytes, tc.entries, tc.shards)
			model := map[cacheKey]cacheValue{}
			r := rand.New(rand.NewPCG(1, uint64(tc.bytes)))
			hits := 0
			for step := range 20000 {
				k := randomKey(r, 3000)
				if r.IntN(3) == 0 {
					v := valueOf(k, step)
					c.add(k, v)
					model[k] = v
				} else if v, ok := c.get(k); ok {
					hits++
					want, added := model[k]
					if !added || fmt.Sprint(v) != fmt.Sprint(want) {
						t.Fatalf("step %d: get(%v) = %v, last added %v (%v)", step, k, v, want, added)
					}
				}
				if step%997 == 0 {
					c.verify(t)
				}
			}
			c.verify(t)
			st := c.stats()
			if st.Bytes > st.MaxBytes || (tc.entries > 0 && st.Entries > tc.entries) || st.Entries == 0 || hits == 0 {
				t.Errorf("stats %+v after %d hits", st, hits)
			}
		})
	}
}

// A hot set survives a scan of entries read once (second chance), where a
// FIFO would lose it.
func TestCacheRingSecondChance(t *testing.T) {
	c := newCheckCache(64<<10, 0, 1)
	key := func(p string, i int) cacheKey {
		return cacheKey{rev: 1, rt: "doc", rid: fmt.Sprint(p, i), rel: "view", st: "user", sid: "ana"}
	}
	for i := range 50 {
		c.add(key("hot", i), cacheValue{perm: Allowed})
	}
	for i := range 20000 {
		c.add(key("cold", i), cacheValue{perm: Denied})
		if i%100 == 0 {
			for j := range 50 {
				if _, ok := c.get(key("hot", j)); !ok {
					t.Fatalf("after %d cold entries, hot %d is gone", i, j)
				}
			}
		}
	}
	c.verify(t)
}

// An entry larger than a shard's ring is not cached; one with a key longer
// than the stack buffer is.
func TestCacheRingLargeEntries(t *testing.T) {
	c := newCheckCache(4<<10, 0, 1)
	huge := cacheKey{rev: 1, rt: "doc", rid: strings.Repeat("d", 5000), rel: "view", st: "user", sid: "ana"}
	c.add(huge, cacheValue{perm: Allowed})
	if _, ok := c.get(huge); ok {
		t.Error("an entry larger than the ring was cached")
	}
	long := cacheKey{rev: 1, rt: "doc", rid: strings.Repeat("d", 600), rel: "view", st: "user", sid: "ana"}
	v := cacheValue{perm: Conditional, missing: []string{"x", "y"}, need: 3}
	c.add(long, v)
	if got, ok := c.get(long); !ok || fmt.Sprint(got) != fmt.Sprint(v) {
		t.Errorf("get(long key) = %v, %v; want %v", got, ok, v)
	}
	c.verify(t)
}

func TestCacheRingConcurrent(t *testing.T) {
	c := newCheckCache(256<<10, 0, 8)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for step := range 20000 {
				k := randomKey(r, 5000)
				if r.IntN(2) == 0 {
					c.add(k, valueOf(k, 0))
				} else if v, ok := c.get(k); ok && fmt.Sprint(v) != fmt.Sprint(valueOf(k, 0)) {
					t.Errorf("step %d: get(%v) = %v", step, k, v)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.verify(t)
}

// The engine's options: bytes, entries, off.
func TestCacheOptions(t *testing.T) {
	st := newTestStore(t, docSchema)
	for _, tc := range []struct {
		opts     Options
		maxBytes int64 // 0: off
	}{
		{Options{}, DefaultCacheMaxBytes},
		{Options{CacheMaxBytes: 1 << 20}, 1 << 20},
		{Options{CacheSize: 1000}, 1000 * cacheEntryBytes},
		{Options{CacheMaxBytes: -1}, 0},
		{Options{CacheSize: -1}, 0},
	} {
		s := New(st, tc.opts).CacheStats()
		if tc.maxBytes == 0 && s.MaxBytes != 0 || tc.maxBytes != 0 && (s.MaxBytes < tc.maxBytes*9/10 || s.MaxBytes > tc.maxBytes) {
			t.Errorf("%+v: MaxBytes %d, want about %d", tc.opts, s.MaxBytes, tc.maxBytes)
		}
	}
}

// BenchmarkCacheRing: a hit, a miss and an insert (evicting, once full).
func BenchmarkCacheRing(b *testing.B) {
	c := newCheckCache(4<<20, 0, defaultCacheShards)
	keys := make([]cacheKey, 1<<16)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range keys {
		keys[i] = cacheKey{rev: 7, rt: "send", rid: fmt.Sprintf("s%08d", r.IntN(1<<30)), rel: "view", st: "user", sid: fmt.Sprintf("u%07d", r.IntN(1<<20))}
	}
	for _, k := range keys[:1<<12] {
		c.add(k, cacheValue{perm: Allowed, need: 3})
	}
	b.Run("hit", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok := c.get(keys[i&(1<<12-1)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("add", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			c.add(keys[i&(1<<16-1)], cacheValue{perm: Denied, need: int32(i & 7)})
			i++
		}
	})
}
