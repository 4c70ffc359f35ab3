package engine

import (
	"hash/maphash"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/reach-authz/reach/tuples"
)

// defaultCacheShards is the number of independent LRUs: golang-lru takes a
// write lock even on Get (it moves the entry to the front), so one LRU
// serialises every reader (see BenchmarkCheckParallel).
const defaultCacheShards = 16

// cacheKey names one sub-problem at one revision. Revisions never change, so
// entries never need invalidating; old revisions simply age out.
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

// checkCache is a sharded, bounded LRU of definite sub-problem results.
type checkCache struct {
	seed   maphash.Seed
	shards []*lru.Cache[cacheKey, cacheValue]
	hits   atomic.Uint64
	misses atomic.Uint64
}

// CacheStats are the check cache's counters.
type CacheStats struct {
	Hits, Misses uint64
	Entries      int
}

// newCheckCache returns a cache of at most size entries (size > 0) split
// over at most shards LRUs.
func newCheckCache(size, shards int) *checkCache {
	shards = max(1, min(shards, size))
	c := &checkCache{seed: maphash.MakeSeed(), shards: make([]*lru.Cache[cacheKey, cacheValue], shards)}
	for i := range c.shards {
		per := size / shards
		if i < size%shards {
			per++
		}
		l, err := lru.New[cacheKey, cacheValue](per)
		if err != nil { // only for a size <= 0, excluded above
			panic(err)
		}
		c.shards[i] = l
	}
	return c
}

func (c *checkCache) shard(k *cacheKey) *lru.Cache[cacheKey, cacheValue] {
	if len(c.shards) == 1 {
		return c.shards[0]
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.WriteString(k.rid)
	h.WriteString(k.rel)
	h.WriteString(k.sid)
	return c.shards[h.Sum64()%uint64(len(c.shards))]
}

func (c *checkCache) get(k cacheKey) (cacheValue, bool) {
	v, ok := c.shard(&k).Get(k)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

func (c *checkCache) add(k cacheKey, v cacheValue) {
	c.shard(&k).Add(k, v)
}

func (c *checkCache) stats() CacheStats {
	s := CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
	for _, l := range c.shards {
		s.Entries += l.Len()
	}
	return s
}
