package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/internal/pgtest"
	. "github.com/reach-authz/reach/tuples"
)

// replicaRetry is how long the tests' stores leave an unreachable replica
// alone.
const replicaRetry = 200 * time.Millisecond

func init() { postgres.SetReplicaRetry(replicaRetry) }

// withReplica is a private cluster with a migrated database, a streaming
// replica of it, and a store reading from the replica, with testSchema
// written and replayed.
func withReplica(t *testing.T, opts postgres.Options) (primary, replica *pgtest.Cluster, uri string, s *postgres.Store) {
	t.Helper()
	primary = pgtest.NewCluster(t)
	uri = primary.NewDatabase(t)
	if _, _, err := postgres.Migrate(context.Background(), uri); err != nil {
		t.Fatal(err)
	}
	replica = primary.NewReplica(t)
	opts.ReadReplicaURI = replica.URIOf(uri)
	if opts.GCInterval == 0 {
		opts.GCInterval = -1
	}
	s = open(t, uri, opts)
	if _, _, err := s.WriteSchema(context.Background(), "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	return primary, replica, uri, s
}

// served tells which servers answered the queries fn made: how many
// connections it took from the primary's pool and from the replica's.
func served(s *postgres.Store, fn func()) (primary, replica int64) {
	p0, r0 := postgres.PoolAcquires(s)
	fn()
	p1, r1 := postgres.PoolAcquires(s)
	return p1 - p0, r1 - r0
}

// viewers reads the viewers of document:id at rev in every way a read
// can go: a snapshot's Get (of user:probe), Subjects and Resources (of
// user:probe), ReadRelationships and ForEach. It fails t on an error or
// when the ways disagree, and returns the viewers' ids, sorted.
func viewers(t *testing.T, s *postgres.Store, rev Revision, id string) []string {
	t.Helper()
	ctx := context.Background()
	sn, err := s.Snapshot(ctx, rev)
	if err != nil {
		t.Fatalf("snapshot at %d: %v", rev, err)
	}
	defer sn.Close()
	var subj []string
	if err := sn.Subjects("document", id, "viewer", "", "", func(r Relationship) bool {
		subj = append(subj, r.SubjectID)
		return true
	}); err != nil {
		t.Fatalf("Subjects at %d: %v", rev, err)
	}
	_, probe, err := sn.Get("document", id, "viewer", "user", "probe", "")
	if err != nil {
		t.Fatalf("Get at %d: %v", rev, err)
	}
	var res []string
	if err := sn.Resources("user", "probe", "", "document", "viewer", func(r Relationship) bool {
		res = append(res, r.ResourceID)
		return true
	}); err != nil {
		t.Fatalf("Resources at %d: %v", rev, err)
	}
	f := Filter{ResourceType: "document", ResourceID: id, Relation: "viewer"}
	rr, err := s.ReadRelationships(ctx, f, ReadOptions{Revision: rev})
	if err != nil {
		t.Fatalf("ReadRelationships at %d: %v", rev, err)
	}
	var read []string
	for _, r := range rr.Relationships {
		read = append(read, r.SubjectID)
	}
	var each []string
	if _, err := s.ForEach(ctx, rev, f, func(r Relationship) (bool, error) {
		each = append(each, r.SubjectID)
		return true, nil
	}); err != nil {
		t.Fatalf("ForEach at %d: %v", rev, err)
	}
	slices.Sort(subj)
	slices.Sort(read)
	slices.Sort(each)
	if !slices.Equal(subj, read) || !slices.Equal(subj, each) || probe != slices.Contains(subj, "probe") ||
		probe != slices.Contains(res, id) {
		t.Fatalf("at %d the reads disagree: Subjects %v, ReadRelationships %v, ForEach %v, Get(probe) %v, Resources(probe) %v",
			rev, subj, read, each, probe, res)
	}
	return subj
}

// onReplica counts the relationships of document:id at rev in the
// replica's database directly, and reads its head.
func onReplica(t *testing.T, replica *pgtest.Cluster, uri, id string) (rels int, head int64) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, replica.URIOf(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM reach_relationships WHERE resource_id = $1), (SELECT rev FROM reach_head)`, id).
		Scan(&rels, &head); err != nil {
		t.Fatal(err)
	}
	return rels, head
}

// (a) A replica that has replayed a revision serves the reads at it: they
// take no connection of the primary, and they are answered with the
// primary stopped.
func TestReplicaServesReads(t *testing.T) {
	ctx := context.Background()
	primary, replica, _, s := withReplica(t, postgres.Options{})
	rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", "document:a#viewer@user:probe"))
	if err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	want := []string{"ana", "probe"}
	p, r := served(s, func() {
		if got := viewers(t, s, rev, "a"); !slices.Equal(got, want) {
			t.Errorf("at %d through the replica: %v, want %v", rev, got, want)
		}
	})
	if p != 0 || r == 0 {
		t.Errorf("reads at a replayed revision took %d connections of the primary and %d of the replica; want the replica's only", p, r)
	}

	if err := primary.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := viewers(t, s, rev, "a"); !slices.Equal(got, want) {
		t.Errorf("at %d with the primary stopped: %v, want %v", rev, got, want)
	}
	// What needs the primary fails, as without a replica.
	if _, err := s.HeadRevision(ctx); !errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("HeadRevision with the primary stopped: %v", err)
	}
	if _, err := s.Snapshot(ctx, rev+1); !errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("snapshot at a revision the replica lacks, with the primary stopped: %v", err)
	}
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:bo")); !errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("write with the primary stopped: %v", err)
	}
	if err := primary.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:bo")); err != nil {
		t.Errorf("write once the primary is back: %v", err)
	}
}

// (b) A write that the replica has not replayed is read, at its revision,
// from the primary: never a stale answer. (c) Once the replica has
// replayed it, it serves it again.
func TestReplicaLagging(t *testing.T) {
	ctx := context.Background()
	primary, replica, uri, s := withReplica(t, postgres.Options{})
	r1, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", "document:a#viewer@user:probe"))
	if err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	replica.PauseReplay(t)

	// A relationship added and one removed while the replica is paused.
	r2, err := s.Write(ctx, append(updates(t, Touch, "document:a#viewer@user:bo"), updates(t, Delete, "document:a#viewer@user:probe")...))
	if err != nil {
		t.Fatal(err)
	}
	if n, head := onReplica(t, replica, uri, "a"); n != 2 || head >= int64(r2) {
		t.Fatalf("the paused replica has %d versions of document:a and head %d; want the 2 of revision %d", n, head, r1)
	}
	p, r := served(s, func() {
		if got := viewers(t, s, r2, "a"); !slices.Equal(got, []string{"ana", "bo"}) {
			t.Errorf("at %d, which the replica lacks: %v, want [ana bo]", r2, got)
		}
	})
	if p == 0 {
		t.Errorf("the primary answered no read at %d, which the replica lacks", r2)
	}
	// Reads at a revision the replica has still go there.
	p, r = served(s, func() {
		if got := viewers(t, s, r1, "a"); !slices.Equal(got, []string{"ana", "probe"}) {
			t.Errorf("at %d through the paused replica: %v, want [ana probe]", r1, got)
		}
	})
	if p != 0 || r == 0 {
		t.Errorf("reads at %d, which the paused replica has, took %d connections of the primary, %d of the replica", r1, p, r)
	}
	// Many writes, each read back at once at its revision, each answered
	// in full.
	want := []string{"ana", "bo"}
	for i := range 20 {
		id := fmt.Sprintf("u%02d", i)
		rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:"+id))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
		if got := viewers(t, s, rev, "a"); !slices.Equal(got, want) {
			t.Fatalf("at %d, written just now: %v, want %v", rev, got, want)
		}
	}

	// (c) Resumed and caught up, the replica serves the reads at r2.
	replica.ResumeReplay(t)
	replica.CatchUp(t)
	p, r = served(s, func() {
		if got := viewers(t, s, r2, "a"); !slices.Equal(got, []string{"ana", "bo"}) {
			t.Errorf("at %d through the resumed replica: %v, want [ana bo]", r2, got)
		}
	})
	if p != 0 || r == 0 {
		t.Errorf("reads at %d after the replica caught up took %d connections of the primary, %d of the replica", r2, p, r)
	}
	if err := primary.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := viewers(t, s, r2, "a"); !slices.Equal(got, []string{"ana", "bo"}) {
		t.Errorf("at %d through the resumed replica, the primary stopped: %v, want [ana bo]", r2, got)
	}
	if err := primary.Start(); err != nil {
		t.Fatal(err)
	}
}

// (d) With the replica down, reads go to the primary without an error,
// snapshots opened on the replica before included; when it is back, reads
// go to it again.
func TestReplicaDown(t *testing.T) {
	ctx := context.Background()
	_, replica, _, s := withReplica(t, postgres.Options{})
	rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", "document:a#viewer@user:probe"))
	if err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	var sn Snapshot
	if p, _ := served(s, func() {
		if sn, err = s.Snapshot(ctx, rev); err != nil {
			t.Fatal(err)
		}
	}); p != 0 {
		t.Fatalf("the snapshot at %d was not opened on the replica", rev)
	}
	defer sn.Close()
	if err := replica.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := sn.Get("document", "a", "viewer", "user", "ana", ""); err != nil || !ok {
		t.Errorf("Get through a snapshot of the replica, stopped since: %v %v", ok, err)
	}
	var subj []string
	if err := sn.Subjects("document", "a", "viewer", "", "", func(r Relationship) bool {
		subj = append(subj, r.SubjectID)
		return true
	}); err != nil || !slices.Equal(subj, []string{"ana", "probe"}) {
		t.Errorf("Subjects through a snapshot of the replica, stopped since: %v %v", subj, err)
	}
	want := []string{"ana", "probe"}
	p, _ := served(s, func() {
		for range 3 {
			if got := viewers(t, s, rev, "a"); !slices.Equal(got, want) {
				t.Errorf("at %d with the replica stopped: %v, want %v", rev, got, want)
			}
		}
	})
	if p == 0 {
		t.Errorf("with the replica stopped, the primary answered nothing")
	}
	rev2, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:bo"))
	if err != nil {
		t.Fatal(err)
	}
	if got := viewers(t, s, rev2, "a"); !slices.Equal(got, []string{"ana", "bo", "probe"}) {
		t.Errorf("at %d with the replica stopped: %v", rev2, got)
	}

	// Back up and caught up, the replica serves reads again once the
	// store tries it again.
	if err := replica.Start(); err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	time.Sleep(replicaRetry)
	p, r := served(s, func() {
		if got := viewers(t, s, rev2, "a"); !slices.Equal(got, []string{"ana", "bo", "probe"}) {
			t.Errorf("at %d with the replica back: %v", rev2, got)
		}
	})
	if p != 0 || r == 0 {
		t.Errorf("with the replica back, reads took %d connections of the primary, %d of the replica", p, r)
	}
}

// A store opens while its replica is down, reading from the primary, and
// reads from the replica once it is up.
func TestReplicaDownAtOpen(t *testing.T) {
	ctx := context.Background()
	_, replica, uri, s := withReplica(t, postgres.Options{})
	rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	if err := replica.Stop(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, uri, postgres.Options{ReadReplicaURI: replica.URIOf(uri), GCInterval: -1})
	p, _ := served(s2, func() {
		if got := viewers(t, s2, rev, "a"); !slices.Equal(got, []string{"ana"}) {
			t.Errorf("at %d, the replica down since before Open: %v", rev, got)
		}
	})
	if p == 0 {
		t.Errorf("the primary answered nothing")
	}
	if err := replica.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(replicaRetry)
	p, r := served(s2, func() {
		if got := viewers(t, s2, rev, "a"); !slices.Equal(got, []string{"ana"}) {
			t.Errorf("at %d, the replica back: %v", rev, got)
		}
	})
	if p != 0 || r == 0 {
		t.Errorf("with the replica back, reads took %d connections of the primary, %d of the replica", p, r)
	}
}

// A replica that answers but is not at the binary's schema version (here
// not migrated at all) is refused by Open.
func TestReplicaWrongVersion(t *testing.T) {
	uri := migrated(t)
	other := pgtest.NewDatabase(t)
	if _, err := postgres.Open(context.Background(), uri, postgres.Options{ReadReplicaURI: other}); !errors.Is(err, postgres.ErrSchemaVersion) {
		t.Errorf("Open with an unmigrated database as the replica: %v, want ErrSchemaVersion", err)
	}
}

// Changes lists the change sets of the primary, so it asks the primary
// whether `after` is still readable: a lagging replica may not have
// replayed the collection that made it too old, and the change sets after
// it are gone.
func TestReplicaChangesAfterGC(t *testing.T) {
	ctx := context.Background()
	_, replica, _, s := withReplica(t, postgres.Options{GCWindow: 500 * time.Millisecond})
	r1, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Write(ctx, updates(t, Touch, "document:b#viewer@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	replica.PauseReplay(t)
	time.Sleep(700 * time.Millisecond)
	r3, err := s.Write(ctx, updates(t, Touch, "document:c#viewer@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Oldest != int64(r2) {
		t.Fatalf("GC round %+v, want oldest %d", st, r2)
	}
	if sets, _, err := s.Changes(ctx, r1, 0); !errors.Is(err, ErrRevisionTooOld) {
		t.Errorf("changes after %d, collected on the primary but not on the paused replica: %v %v, want ErrRevisionTooOld", r1, sets, err)
	}
	sets, _, err := s.Changes(ctx, r2, 0)
	if err != nil || len(sets) != 1 || sets[0].Revision != r3 {
		t.Errorf("changes after %d: %v %v, want the change set of %d", r2, sets, err, r3)
	}
}

// A query that the replica refuses, though up (here: it waits for a lock
// that its paused replay holds, past the replica's lock_timeout), is made
// on the primary: the read succeeds, and the snapshot reads from the
// primary from then on.
func TestReplicaQueryFails(t *testing.T) {
	ctx := context.Background()
	primary, replica, uri, s := withReplica(t, postgres.Options{})
	rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", "document:b#viewer@user:probe"))
	if err != nil {
		t.Fatal(err)
	}
	rconn, err := pgx.Connect(ctx, replica.URI("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer rconn.Close(ctx)
	for _, q := range []string{`ALTER SYSTEM SET lock_timeout = '200ms'`, `SELECT pg_reload_conf()`} {
		if _, err := rconn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// The replica replays an ACCESS EXCLUSIVE lock of reach_relationships
	// and pauses before the commit that releases it.
	pconn, err := pgx.Connect(ctx, primary.URIOf(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer pconn.Close(ctx)
	tx, err := pconn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE reach_relationships IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	replica.CatchUp(t)
	replica.PauseReplay(t)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	var sn Snapshot
	p, _ := served(s, func() {
		if sn, err = s.Snapshot(ctx, rev); err != nil {
			t.Fatal(err)
		}
	})
	if p != 0 {
		t.Fatalf("the snapshot at %d was not opened on the replica", rev)
	}
	defer sn.Close()
	p, _ = served(s, func() {
		if _, ok, err := sn.Get("document", "a", "viewer", "user", "ana", ""); err != nil || !ok {
			t.Errorf("Get through a snapshot of the replica, which refuses the query: %v %v", ok, err)
		}
	})
	if p == 0 {
		t.Errorf("the primary did not answer the Get the replica refused")
	}
	// (Of another object: the snapshot keeps what it read of a.)
	p, r := served(s, func() {
		if _, ok, err := sn.Get("document", "b", "viewer", "user", "probe", ""); err != nil || !ok {
			t.Errorf("the next Get: %v %v", ok, err)
		}
	})
	if p == 0 || r != 0 {
		t.Errorf("the snapshot's next Get took %d connections of the primary and %d of the replica; want the primary's only", p, r)
	}
	if got := viewers(t, s, rev, "a"); !slices.Equal(got, []string{"ana"}) {
		t.Errorf("at %d: %v", rev, got)
	}
	replica.ResumeReplay(t)
}

// Writes read back at once and at random earlier revisions, by the test
// and by concurrent readers, while the replica's replay is paused and
// resumed under them: every read answers exactly its revision's state,
// whichever server serves it.
func TestReplicaNeverStale(t *testing.T) {
	ctx := context.Background()
	_, replica, _, s := withReplica(t, postgres.Options{})
	var mu sync.Mutex
	var revs []Revision // revs[i] holds viewers u0..ui of document:n
	// check reads document:n at revs[i] and says what is wrong, if anything.
	check := func(i int, rev Revision) error {
		want := i + 1
		rr, err := s.ReadRelationships(ctx, Filter{ResourceType: "document", ResourceID: "n"}, ReadOptions{Revision: rev})
		if err != nil {
			return err
		}
		if len(rr.Relationships) != want {
			return fmt.Errorf("ReadRelationships at %d: %d viewers, want %d", rev, len(rr.Relationships), want)
		}
		sn, err := s.Snapshot(ctx, rev)
		if err != nil {
			return err
		}
		defer sn.Close()
		n := 0
		if err := sn.Subjects("document", "n", "viewer", "", "", func(Relationship) bool { n++; return true }); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("Subjects at %d: %d viewers, want %d", rev, n, want)
		}
		if _, ok, err := sn.Get("document", "n", "viewer", "user", fmt.Sprintf("u%d", i), ""); err != nil || !ok {
			return fmt.Errorf("Get of u%d at %d: %v %v", i, rev, ok, err)
		}
		return nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				n := len(revs)
				mu.Unlock()
				if n == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				i := n - 1 - rnd.IntN(min(n, 5)) // mostly the newest revisions
				mu.Lock()
				rev := revs[i]
				mu.Unlock()
				if err := check(i, rev); err != nil {
					t.Errorf("reader %d: %v", g, err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	// Stops the readers, also when the test fails before the end (before
	// the store is closed: cleanups run last registered first).
	stopReaders := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(stopReaders)
	p, r := served(s, func() {
		paused := false
		for i := range 60 {
			if i%8 == 7 {
				if paused {
					replica.ResumeReplay(t)
				} else {
					replica.PauseReplay(t)
				}
				paused = !paused
			}
			rev, err := s.Write(ctx, updates(t, Touch, fmt.Sprintf("document:n#viewer@user:u%d", i)))
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			revs = append(revs, rev)
			mu.Unlock()
			if err := check(i, rev); err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				j := rand.IntN(i)
				if err := check(j, revs[j]); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if paused {
			replica.ResumeReplay(t)
		}
		stopReaders()
	})
	t.Logf("%d connections of the primary, %d of the replica", p, r)
	if p == 0 || r == 0 {
		t.Errorf("the reads did not go to both servers (%d connections of the primary, %d of the replica)", p, r)
	}
}
