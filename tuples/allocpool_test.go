package tuples

import "testing"

// TestAllocPoolFound fails when the Badger in go.mod no longer keeps its
// table-builder allocator pool where allocPoolOf looks (see allocpool.go):
// the store would then keep the pool's buffers again, silently.
func TestAllocPoolFound(t *testing.T) {
	s := newTestStore(t, Options{})
	pool := allocPoolOf(s.db)
	if pool == nil {
		t.Fatal("Badger's DB.allocPool was not found: see allocpool.go")
	}
	// A table builder returns a grown allocator to the pool...
	a := pool.Get(4<<20, "test")
	a.Allocate(8 << 20)
	grown := a.Allocated()
	pool.Return(a)
	// ...which drainAllocPool releases: the next Get makes a new one.
	drainAllocPool(pool)
	b := pool.Get(0, "test")
	defer b.Release()
	if n := b.Allocated(); n >= grown {
		t.Errorf("after drainAllocPool the pool gave an allocator of %d bytes (the one returned had %d)", n, grown)
	}
}
