package tuples

import (
	"reflect"
	"time"
	"unsafe"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/ristretto/v2/z"
)

// Badger builds every table (a memtable's flush, each table a compaction
// writes) in a z.Allocator taken from a pool of eight that it keeps for the
// life of the DB. An allocator keeps the buffers it grew to, and the pool
// gives it back only after two seconds without a table being built, which
// never happens while the store is written. So a flush of a 128 MiB
// memtable grows an allocator to 60-124 MiB, compactions then take it from
// the pool to build 2-8 MiB tables, and soon the pool holds eight of them:
// 480 MiB of the 700 MiB live heap of a 10M-relationship import were such
// buffers. gcLoop empties the pool every allocPoolInterval instead, so that
// each table is built in an allocator no larger than it needs (a new one
// costs little next to building a table).
//
// The pool is Badger's unexported DB.allocPool; badger v4 offers no way to
// size it. allocPoolOf finds it by reflection, and TestAllocPoolFound fails
// if a new version of Badger moves it.

// allocPoolInterval is how often gcLoop empties Badger's allocator pool.
const allocPoolInterval = 250 * time.Millisecond

// allocPoolOf returns db's table-builder allocator pool, or nil if this
// version of Badger has none where allocPoolOf looks.
func allocPoolOf(db *badger.DB) *z.AllocatorPool {
	f := reflect.ValueOf(db).Elem().FieldByName("allocPool")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*z.AllocatorPool]() {
		return nil
	}
	// Reading the field is safe: Badger sets it before Open returns and
	// never again.
	return *(**z.AllocatorPool)(unsafe.Pointer(f.UnsafeAddr()))
}

// drainAllocPool releases the allocators pool holds, leaving their buffers
// to the garbage collector. The caller keeps the DB open meanwhile (after
// Badger's Close, the pool's Get would fault).
func drainAllocPool(pool *z.AllocatorPool) {
	// Get returns a pooled allocator if there is one, else a new one of
	// the least size (512 bytes); the pool holds at most eight.
	for range 16 {
		a := pool.Get(0, "reach-drain")
		pooled := a.Allocated() > 512
		a.Release()
		if !pooled {
			return
		}
	}
}

// trimAllocPool empties the allocator pool of the store's DB (gcLoop's
// goroutine).
func (s *Store) trimAllocPool() {
	db, done, err := s.acquire()
	if err != nil {
		return
	}
	defer done()
	if pool := allocPoolOf(db); pool != nil {
		drainAllocPool(pool)
	}
}
