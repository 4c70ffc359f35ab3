package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/pgtest"
	. "github.com/reach-authz/reach/tuples"
)

// count is how many live relationships the store holds at rev.
func count(t testing.TB, s *postgres.Store, rev Revision) int {
	t.Helper()
	n := 0
	if _, err := s.ForEach(context.Background(), rev, Filter{}, func(Relationship) (bool, error) {
		n++
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Writers on two nodes of one database get distinct, consecutive
// revisions, and a reader on either node never sees a revision whose
// writes (or an earlier revision's) are missing.
func TestConcurrentWritersTwoNodes(t *testing.T) {
	ctx := context.Background()
	uri := migrated(t)
	a, b := open(t, uri, postgres.Options{}), open(t, uri, postgres.Options{})
	if _, _, err := a.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	start, _ := b.HeadRevision(ctx)
	const writers, writes = 3, 15
	var mu sync.Mutex
	byRev := map[Revision]string{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		// Every revision adds one relationship: at head H, exactly
		// H-start are visible, or a revision below H is missing.
		defer close(readerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := []*postgres.Store{a, b}[i%2]
			h, err := s.HeadRevision(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			if n := count(t, s, h); n != int(h-start) {
				t.Errorf("at head %d: %d relationships visible, want %d", h, n, h-start)
				return
			}
		}
	}()
	for w := range writers {
		for _, s := range []*postgres.Store{a, b} {
			wg.Go(func() {
				for i := range writes {
					rel := fmt.Sprintf("document:w%d_%p_%d#viewer@user:u", w, s, i)
					rev, err := s.Write(ctx, updates(t, Create, rel))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if other, dup := byRev[rev]; dup {
						t.Errorf("revision %d given to %s and %s", rev, other, rel)
					}
					byRev[rev] = rel
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	<-readerDone
	total := 2 * writers * writes
	head, _ := a.HeadRevision(ctx)
	if head != start+Revision(total) || len(byRev) != total {
		t.Fatalf("head %d after %d writes from %d (%d distinct revisions)", head, total, start, len(byRev))
	}
	// Each revision holds its own write, and the one before does not.
	for rev := start + 1; rev <= head; rev++ {
		r := mustParse(t, byRev[rev])
		for _, c := range []struct {
			at   Revision
			want bool
		}{{rev, true}, {rev - 1, false}} {
			sn, err := b.Snapshot(ctx, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := sn.Get(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation); ok != c.want {
				t.Errorf("%s at %d: present %v, want %v", byRev[rev], c.at, ok, c.want)
			}
		}
	}
}

// Watch on one node reports the writes made through another, in order,
// woken by NOTIFY (the poll interval is far longer than the test waits).
func TestWatchAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	uri := migrated(t)
	watcher := open(t, uri, postgres.Options{WatchPollInterval: time.Hour})
	writer := open(t, uri, postgres.Options{})
	if _, _, err := writer.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	start, _ := writer.HeadRevision(ctx)
	got := make(chan ChangeSet, 100)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(ctx, start, func(cs ChangeSet) error {
			got <- cs
			return nil
		})
	}()
	var want []Revision
	for i := range 5 {
		time.Sleep(20 * time.Millisecond)
		rev, err := writer.Write(ctx, updates(t, Touch, fmt.Sprintf("document:d%d#viewer@user:u", i)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rev)
		// A schema write changes no relationship: not listed.
		if i == 2 {
			if _, _, err := writer.WriteSchema(ctx, "t.zed", []byte(testSchema+"\ndefinition extra {}\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, rev := range want {
		select {
		case cs := <-got:
			if cs.Revision != rev || len(cs.Changes) != 1 || cs.Changes[0].Relationship.ResourceID != fmt.Sprintf("d%d", i) {
				t.Errorf("change set %d: %+v, want revision %d", i, cs, rev)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch on another node did not report revision %d", rev)
		}
	}
	// WaitForRevision on the watcher wakes for a write through the writer.
	waited := make(chan error, 1)
	head, _ := writer.HeadRevision(ctx)
	go func() { waited <- watcher.WaitForRevision(ctx, head+1) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := writer.Write(ctx, updates(t, Touch, "document:late#viewer@user:u")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("WaitForRevision did not wake")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Watch ended with %v, want context.Canceled", err)
	}
	// A closed store ends waits.
	watcher.Close()
	if err := watcher.WaitForRevision(context.Background(), head+100); !errors.Is(err, ErrClosed) {
		t.Errorf("WaitForRevision on a closed store: %v", err)
	}
}

func check(t testing.TB, e *engine.Engine, resource, perm, subject string, cons engine.Consistency) engine.Permissionship {
	t.Helper()
	res, err := engine.ParseObject(resource)
	if err != nil {
		t.Fatal(err)
	}
	typ, id, _ := strings.Cut(subject, ":")
	id, rel, _ := strings.Cut(id, "#")
	r, err := e.Check(context.Background(), engine.CheckRequest{Resource: res, Permission: perm, Subject: engine.Subject{Type: typ, ID: id, Relation: rel}, Consistency: cons})
	if err != nil {
		t.Fatal(err)
	}
	return r.Permissionship
}

var fully = engine.Consistency{Mode: engine.FullyConsistent}

// A schema and relationships written through one node are seen by another
// (opened before they were written), which answers as the first does; a
// schema change is seen too, and old revisions keep their schema.
func TestSchemaAcrossNodes(t *testing.T) {
	ctx := context.Background()
	uri := migrated(t)
	a, b := open(t, uri, postgres.Options{}), open(t, uri, postgres.Options{})
	if p, _, err := b.Schema(ctx); p != nil || err != nil {
		t.Fatalf("schema before any: %v %v", p, err)
	}
	r1, _, err := a.WriteSchema(ctx, "t.zed", []byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write(ctx, updates(t, Touch, "document:q#viewer@group:eng#member", "group:eng#member@user:ana", "document:q#owner@user:bo")); err != nil {
		t.Fatal(err)
	}
	ea, eb := engine.New(a, engine.Options{}), engine.New(b, engine.Options{})
	cases := []struct {
		res, perm, subj string
	}{
		{"document:q", "view", "user:ana"},
		{"document:q", "view", "user:bo"},
		{"document:q", "view", "user:cy"},
		{"document:q", "viewer", "group:eng#member"},
	}
	for _, c := range cases {
		pa, pb := check(t, ea, c.res, c.perm, c.subj, fully), check(t, eb, c.res, c.perm, c.subj, fully)
		if pa != pb {
			t.Errorf("%s#%s@%s: %v on one node, %v on the other", c.res, c.perm, c.subj, pa, pb)
		}
	}
	if check(t, eb, "document:q", "view", "user:ana", fully) != engine.Allowed {
		t.Errorf("ana cannot view through the group")
	}
	// Version 2, written through a: edit now counts owners only.
	v2 := strings.Replace(testSchema, "permission view = viewer + owner", "permission view = viewer + owner\n  permission edit = owner", 1)
	r2, _, err := a.WriteSchema(ctx, "t2.zed", []byte(v2))
	if err != nil {
		t.Fatal(err)
	}
	if check(t, eb, "document:q", "edit", "user:bo", fully) != engine.Allowed {
		t.Errorf("the other node does not see the new permission")
	}
	sb1, err := b.Snapshot(ctx, r1)
	if err != nil {
		t.Fatal(err)
	}
	sb2, err := b.Snapshot(ctx, r2)
	if err != nil {
		t.Fatal(err)
	}
	if sb1.Schema().Lookup("document", "edit") != nil || sb2.Schema().Lookup("document", "edit") == nil {
		t.Errorf("snapshots on the other node do not read the schema of their revision")
	}
	again, _ := b.Snapshot(ctx, r2)
	if again.Schema() != sb2.Schema() {
		t.Errorf("one schema version gave two programs")
	}
	// The exact old snapshot still answers with the old schema: edit is
	// unknown there.
	_, err = eb.Check(ctx, engine.CheckRequest{Resource: engine.Object{Type: "document", ID: "q"}, Permission: "edit",
		Subject: engine.Subject{Type: "user", ID: "bo"}, Consistency: engine.Consistency{Mode: engine.AtExactSnapshot, Token: r1.Token()}})
	if !errors.Is(err, engine.ErrUnknown) {
		t.Errorf("edit at the old revision: %v, want ErrUnknown", err)
	}
}

// The engine over the PostgreSQL store: checks through nested groups,
// wildcards, caveats and expiration, and lookups.
func TestEngine(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, postgres.Options{})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	rev, err := s.Write(ctx, updates(t, Touch,
		"group:eng#member@user:ana",
		"group:all#member@group:eng#member",
		"document:q#viewer@group:all#member",
		"document:pub#viewer@user:*",
		`document:c#viewer@user:cy[only_weekdays]`,
		"document:gone#viewer@user:ana[expiration:"+past+"]",
		"document:q#owner@user:bo",
	))
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(s, engine.Options{})
	at := engine.Consistency{Mode: engine.AtLeastAsFresh, Token: rev.Token()}
	for _, c := range []struct {
		res, perm, subj string
		want            engine.Permissionship
	}{
		{"document:q", "view", "user:ana", engine.Allowed},
		{"document:q", "view", "user:bo", engine.Allowed},
		{"document:q", "view", "user:zed", engine.Denied},
		{"document:pub", "view", "user:zed", engine.Allowed},
		{"document:c", "view", "user:cy", engine.Conditional},
		{"document:gone", "view", "user:ana", engine.Denied},
	} {
		if got := check(t, e, c.res, c.perm, c.subj, at); got != c.want {
			t.Errorf("%s#%s@%s = %v, want %v", c.res, c.perm, c.subj, got, c.want)
		}
	}
	var found []string
	if _, err := e.LookupResources(ctx, engine.LookupResourcesRequest{ResourceType: "document", Permission: "view",
		Subject: engine.Subject{Type: "user", ID: "ana"}, Consistency: fully}, func(r engine.LookupResult) bool {
		found = append(found, r.ResourceID)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(found)
	if !slices.Equal(found, []string{"pub", "q"}) {
		t.Errorf("LookupResources = %v, want [pub q]", found)
	}
	// A deletion is seen at the next revision, the old answer at the old.
	rev2, err := s.Write(ctx, updates(t, Delete, "group:eng#member@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	if got := check(t, e, "document:q", "view", "user:ana", engine.Consistency{Mode: engine.AtLeastAsFresh, Token: rev2.Token()}); got != engine.Denied {
		t.Errorf("after the deletion: %v", got)
	}
	if got := check(t, e, "document:q", "view", "user:ana", engine.Consistency{Mode: engine.AtExactSnapshot, Token: rev.Token()}); got != engine.Allowed {
		t.Errorf("at the old revision: %v", got)
	}
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	uri := pgtest.NewDatabase(t)
	_, err := postgres.Open(ctx, uri, postgres.Options{})
	if !errors.Is(err, postgres.ErrSchemaVersion) || !strings.Contains(err.Error(), "reach datastore migrate") {
		t.Fatalf("Open of an unmigrated database: %v", err)
	}
	// Nodes migrating at once: each migration is applied once.
	var wg sync.WaitGroup
	results := make(chan [2]int, 4)
	for range 4 {
		wg.Go(func() {
			from, to, err := postgres.Migrate(ctx, uri)
			if err != nil {
				t.Error(err)
			}
			results <- [2]int{from, to}
		})
	}
	wg.Wait()
	close(results)
	fresh := 0
	for r := range results {
		if r[1] != postgres.SchemaVersion {
			t.Errorf("migrated to %d, want %d", r[1], postgres.SchemaVersion)
		}
		if r[0] == 0 {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d migrations started from version 0, want 1", fresh)
	}
	from, to, err := postgres.Migrate(ctx, uri)
	if err != nil || from != postgres.SchemaVersion || to != postgres.SchemaVersion {
		t.Errorf("migrate again: %d -> %d, %v; want nothing to do", from, to, err)
	}
	s := open(t, uri, postgres.Options{})
	if h, err := s.HeadRevision(ctx); h != 0 || err != nil {
		t.Errorf("head of a new database: %d %v", h, err)
	}
	// A database migrated by a newer binary is refused.
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO reach_migrations (version, name) VALUES ($1, 'from the future')`, postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, uri, postgres.Options{}); !errors.Is(err, postgres.ErrSchemaVersion) || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Open of a newer database: %v", err)
	}
	if _, _, err := postgres.Migrate(ctx, uri); !errors.Is(err, postgres.ErrSchemaVersion) {
		t.Errorf("Migrate of a newer database: %v", err)
	}
}

// PostgreSQL stopped under writers: writes fail with ErrUnavailable, no
// batch is written in part, and once it is back the same Store writes
// again.
func TestServerStopped(t *testing.T) {
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	uri := c.NewDatabase(t)
	if _, _, err := postgres.Migrate(ctx, uri); err != nil {
		t.Fatal(err)
	}
	s := open(t, uri, postgres.Options{MaxConns: 4})
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	const size = 50
	batch := func(n int) []Update {
		us := make([]Update, size)
		for i := range us {
			us[i] = Update{Op: Touch, Relationship: mustParse(t, fmt.Sprintf("document:b%d#viewer@user:u%d", n, i))}
		}
		return us
	}
	var mu sync.Mutex
	acked := map[int]bool{}
	var failures []error
	var wg sync.WaitGroup
	stopWriting := make(chan struct{})
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopWriting:
					return
				default:
				}
				n := w*100000 + i
				_, err := s.Write(ctx, batch(n))
				mu.Lock()
				if err == nil {
					acked[n] = true
				} else {
					failures = append(failures, err)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := s.HeadRevision(ctx); !errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("HeadRevision with the server stopped: %v", err)
	}
	if _, err := s.Snapshot(ctx, 1); !errors.Is(err, datastore.ErrUnavailable) {
		t.Errorf("Snapshot with the server stopped: %v", err)
	}
	close(stopWriting)
	wg.Wait()
	if len(failures) == 0 {
		t.Fatal("no write failed while the server was stopped")
	}
	for _, err := range failures {
		if !errors.Is(err, datastore.ErrUnavailable) {
			t.Errorf("a write failed with %v, want ErrUnavailable", err)
		}
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// The same Store writes again, without reopening.
	if _, err := s.Write(ctx, batch(-1)); err != nil {
		t.Fatalf("write after the server came back: %v", err)
	}
	// Every batch is there whole or not at all; every acknowledged one is.
	per := map[string]int{}
	if _, err := s.ForEach(ctx, 0, Filter{ResourceType: "document"}, func(r Relationship) (bool, error) {
		per[r.ResourceID]++
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	for id, n := range per {
		if n != size {
			t.Errorf("batch %s has %d of its %d relationships", id, n, size)
		}
	}
	for n := range acked {
		if per[fmt.Sprintf("b%d", n)] != size {
			t.Errorf("acknowledged batch %d is missing", n)
		}
	}
	t.Logf("%d batches acknowledged, %d writes failed, %d batches stored", len(acked), len(failures), len(per))
	// Watch still works: the listener reconnects.
	head, _ := s.HeadRevision(ctx)
	waited := make(chan error, 1)
	go func() { waited <- s.WaitForRevision(ctx, head+1) }()
	if _, err := s.Write(ctx, batch(-2)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Error("WaitForRevision did not wake after the restart")
	}
}

// Garbage collection removes what no readable revision needs, and only
// that; older revisions are refused.
func TestGarbageCollection(t *testing.T) {
	ctx := context.Background()
	uri := migrated(t)
	s := open(t, uri, postgres.Options{GCWindow: 500 * time.Millisecond, GCInterval: -1, GCBatch: 2})
	r0, _, err := s.WriteSchema(ctx, "v1.zed", []byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	r1, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana", "document:a#viewer@user:bo", "document:a#viewer@user:cy"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Write(ctx, append(updates(t, Delete, "document:a#viewer@user:ana", "document:a#viewer@user:bo", "document:a#viewer@user:cy"),
		updates(t, Touch, "document:b#viewer@user:ana")...))
	if err != nil {
		t.Fatal(err)
	}
	r3, _, err := s.WriteSchema(ctx, "v2.zed", []byte(testSchema+"\ndefinition extra {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	r4, err := s.Write(ctx, updates(t, Touch, "document:c#viewer@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.CollectGarbage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// r3 is the newest revision committed before the window: readable;
	// everything before it is not.
	if st.Oldest != int64(r3) || st.Relationships != 3 || st.Changes != 2 || st.Schemas != 1 {
		t.Errorf("GC round %+v, want oldest %d, 3 relationship versions, 2 change sets, 1 schema", st, r3)
	}
	for _, rev := range []Revision{r0, r1, r2} {
		if _, err := s.Snapshot(ctx, rev); !errors.Is(err, ErrRevisionTooOld) {
			t.Errorf("snapshot at %d after GC: %v, want ErrRevisionTooOld", rev, err)
		}
	}
	if _, _, err := s.Changes(ctx, r2, 0); !errors.Is(err, ErrRevisionTooOld) {
		t.Errorf("changes after %d: %v", r2, err)
	}
	sets, _, err := s.Changes(ctx, r3, 0)
	if err != nil || len(sets) != 1 || sets[0].Revision != r4 {
		t.Errorf("changes after %d: %v %v", r3, sets, err)
	}
	sn, err := s.Snapshot(ctx, r3)
	if err != nil {
		t.Fatal(err)
	}
	if sn.Schema() == nil || sn.Schema().Definition("extra") == nil {
		t.Errorf("the schema in force at the oldest readable revision is gone")
	}
	if got := all(t, s, r3); !slices.Equal(got, []string{"document:b#viewer@user:ana"}) {
		t.Errorf("at %d after GC: %v", r3, got)
	}
	// A second round finds nothing more.
	if st, err := s.CollectGarbage(ctx); err != nil || st.Relationships+st.Changes+st.Schemas+st.Revisions != 0 {
		t.Errorf("second round: %+v %v", st, err)
	}
	// Another node, opened now, refuses the old revisions too.
	s2 := open(t, uri, postgres.Options{})
	if _, err := s2.Snapshot(ctx, r1); !errors.Is(err, ErrRevisionTooOld) {
		t.Errorf("other node, snapshot at %d: %v", r1, err)
	}
}

// A read replica (here the primary itself, named as one) serves reads.
func TestReadReplicaOption(t *testing.T) {
	ctx := context.Background()
	uri := migrated(t)
	s := open(t, uri, postgres.Options{ReadReplicaURI: uri})
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	rev, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := snapAt(t, s).Get("document", "a", "viewer", "user", "ana", ""); !ok || err != nil {
		t.Errorf("read through the replica: %v %v", ok, err)
	}
	if got := all(t, s, rev); len(got) != 1 {
		t.Errorf("ForEach through the replica: %v", got)
	}
}

func TestClosed(t *testing.T) {
	s := newTestStore(t, postgres.Options{})
	s.Close()
	ctx := context.Background()
	if _, err := s.HeadRevision(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("HeadRevision: %v", err)
	}
	if _, err := s.Write(ctx, updates(t, Touch, "document:a#viewer@user:ana")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write: %v", err)
	}
	if _, err := s.Snapshot(ctx, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Nothing holds two connections at once: a pool of one serves imports,
// writes and reads, also when another node changed the schema (a program
// not cached yet is read through the transaction's own connection).
func TestPoolOfOne(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	uri := migrated(t)
	a := open(t, uri, postgres.Options{MaxConns: 1})
	b := open(t, uri, postgres.Options{})
	if _, _, err := b.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i := range 250 {
		fmt.Fprintf(&in, "document:p%d#viewer@user:u%d\n", i, i)
	}
	if _, err := a.Import(ctx, strings.NewReader(in.String()), ImportOptions{BatchSize: 100}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.WriteSchema(ctx, "t2.zed", []byte(testSchema+"\ndefinition extra {}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(ctx, updates(t, Touch, "document:p1#viewer@user:ana")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.WriteSchema(ctx, "t3.zed", []byte(testSchema+"\ndefinition extra {}\ndefinition more {}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Import(ctx, strings.NewReader("document:p1#viewer@user:bo\n"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteWhere(ctx, Filter{ResourceType: "document", ResourceIDPrefix: "p2"}, 0); err != nil {
		t.Fatal(err)
	}
	sn := snapAt(t, a)
	if sn.Schema().Definition("more") == nil {
		t.Errorf("the pool-of-one node does not see the newest schema")
	}
	if n := count(t, a, 0); n != 250+2-61 {
		t.Errorf("%d relationships, want %d", n, 250+2-61)
	}
}

// A schema written by another node while an import runs applies to the
// import's later batches: they are checked again under the head lock, even
// when they were read and checked before the change.
func TestImportMeetsSchemaChange(t *testing.T) {
	ctx := context.Background()
	uri := migrated(t)
	a, b := open(t, uri, postgres.Options{}), open(t, uri, postgres.Options{})
	if _, _, err := a.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	// v2 drops folder (and document#parent, which refers to it).
	v2 := strings.Replace(strings.Replace(testSchema, "definition folder {\n  relation viewer: user\n}", "", 1), "  relation parent: folder\n", "", 1)
	in := "document:a#viewer@user:ana\ndocument:b#viewer@user:bo\nfolder:f#viewer@user:ana\ndocument:c#viewer@user:cy\n"
	changed := false
	res, err := a.Import(ctx, strings.NewReader(in), ImportOptions{Name: "in.txt", BatchSize: 2, Progress: func(ImportStats) {
		if !changed {
			changed = true
			if _, _, err := b.WriteSchema(ctx, "v2.zed", []byte(v2)); err != nil {
				t.Error(err)
			}
		}
	}})
	if err == nil || !strings.HasPrefix(err.Error(), "in.txt:3: ") || !errors.Is(err, ErrInvalidRelationship) {
		t.Fatalf("import across a schema change: %v, want in.txt:3: not allowed", err)
	}
	if res.Imported != 2 || res.Batches != 1 {
		t.Errorf("imported %d in %d batches, want the first batch only", res.Imported, res.Batches)
	}
}

// Snapshot reads are bound to the snapshot's context.
func TestSnapshotContext(t *testing.T) {
	s := newTestStore(t, postgres.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	head, _ := s.HeadRevision(ctx)
	sn, err := s.Snapshot(ctx, head)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, _, err := sn.Get("document", "a", "viewer", "user", "ana", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Get after the context ended: %v", err)
	}
	if err := sn.Subjects("document", "a", "viewer", "", "", func(Relationship) bool { return true }); !errors.Is(err, context.Canceled) {
		t.Errorf("Subjects after the context ended: %v", err)
	}
	if errors.Is(sn.Resources("user", "ana", "", "document", "viewer", func(Relationship) bool { return true }), datastore.ErrUnavailable) {
		t.Errorf("a cancelled read reported the database unavailable")
	}
}
