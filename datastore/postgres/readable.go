package postgres

import (
	"sync"
	"time"
)

// Revisions known readable. Opening a snapshot checks its revision
// readable (not collected, not in the future) in a query of its own; a
// cold check on an object or two makes only one or two more, so that check
// is a good part of its round trips. But most snapshots are opened at a
// revision opened moments before (minimize_latency shares one for the
// quantization window; at_least_as_fresh and fully_consistent read the
// head, which moves only with writes), and a revision that was readable
// stays readable for a while that the check itself can bound: garbage
// collection makes R too old only once some later revision was committed
// at least GCWindow before the collector's clock (gc.go), and later
// revisions commit later than R (under the head lock, by the database's
// clock). So R is readable at least until R's commit time plus the window,
// by the database's clock. The check reads how long ago, by that clock,
// R was committed; at most that long minus the window after the check was
// sent (the database read its clock after that), by this process's
// monotonic clock, R is still readable. A revision with more than
// readableMargin of that left is taken as readable without a query for at
// most readableFor after its check.
//
// What it assumes: the nodes of one database share one GCWindow (as the
// Options say they should), and the database's clock does not step back
// by more than readableMargin. Otherwise a snapshot opened within
// readableFor of a check of its revision could read a revision collected
// meanwhile, as a snapshot that stays open for readableFor after its own
// check already may. Not with a read replica: whether the replica has
// replayed a revision is checked at every opening, as before.
const (
	readableFor    = time.Second
	readableMargin = time.Minute
)

// readableRevs are the last revisions found readable, with until when
// they are known to stay so.
type readableRevs struct {
	mu   sync.Mutex
	revs [8]readableRev
	next int
}

type readableRev struct {
	rev   int64
	until time.Time // zero: an empty slot
}

// holds reports whether rev is known readable now.
func (c *readableRevs) holds(rev int64) bool {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.revs {
		if e.rev == rev && now.Before(e.until) {
			return true
		}
	}
	return false
}

// found notes that a check sent at asked found rev readable, and that the
// database's clock had left it at least left before it could be collected.
func (c *readableRevs) found(rev int64, asked time.Time, left time.Duration) {
	if left <= readableMargin {
		return
	}
	until := asked.Add(min(left-readableMargin, readableFor))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.revs {
		if e.rev == rev {
			if until.After(e.until) {
				c.revs[i].until = until
			}
			return
		}
	}
	c.revs[c.next] = readableRev{rev, until}
	c.next = (c.next + 1) % len(c.revs)
}
