package postgres

import "time"

// PoolAcquires counts the connections taken from the primary's pool and
// from the replica's (one per query), for tests that tell which server
// answered.
func PoolAcquires(s *Store) (primary, replica int64) {
	primary = s.pool.Stat().AcquireCount()
	if s.replica != nil {
		replica = s.replica.Stat().AcquireCount()
	}
	return primary, replica
}

// SetReplicaRetry sets how long reads leave an unreachable replica alone,
// until the returned function restores it.
func SetReplicaRetry(d time.Duration) (restore func()) {
	old := replicaRetry
	replicaRetry = d
	return func() { replicaRetry = old }
}
