package tuples

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCloseWhileReading closes a store while many goroutines read through
// it: through snapshots opened before (and while) it closes, with Get,
// Subjects, Resources and nested scans, and through ForEach,
// ReadRelationships, Changes, SchemaSource and Export. Every read must
// either succeed or fail with ErrClosed (never another error, a panic or a
// hang); Close must succeed, once the reads in flight end; and a snapshot
// of a closed store must answer ErrClosed and close without harm. Rounds
// alternate between an in-memory store and one on disk, whose data is
// read from (memory-mapped) tables. Run it with -race.
func TestCloseWhileReading(t *testing.T) {
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	dir := t.TempDir()
	seedCloseStore(t, dir)
	for round := range rounds {
		onDisk := round%2 == 1
		name := fmt.Sprintf("round%d", round)
		if onDisk {
			name += "-disk"
		}
		t.Run(name, func(t *testing.T) {
			var s *Store
			var err error
			if onDisk {
				s, err = Open(dir, Options{MemTableSize: 8 << 20})
			} else {
				s, err = Open("", Options{InMemory: true, MemTableSize: 8 << 20})
				if err == nil {
					err = fillCloseStore(s)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			closeWhileReading(t, s, round)
		})
	}
}

// seedCloseStore writes the test's data into a store in dir and closes it,
// so that a store opened there reads it from tables.
func seedCloseStore(t *testing.T, dir string) {
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := fillCloseStore(s); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// fillCloseStore writes a schema and 3,000 relationships in three batches.
func fillCloseStore(s *Store) error {
	ctx := context.Background()
	if _, _, err := s.WriteSchema(ctx, "test.zed", []byte(testSchema)); err != nil {
		return err
	}
	for b := range 3 {
		var in strings.Builder
		for i := range 1000 {
			d, u := (i/4)%100, (i*7+b)%50
			switch i % 4 {
			case 0:
				fmt.Fprintf(&in, "document:d%d#viewer@user:u%d\n", d, u)
			case 1:
				fmt.Fprintf(&in, "document:d%d#viewer@user:u%d[only_weekdays:{\"tz\":\"UTC\"}]\n", d, u)
			case 2:
				fmt.Fprintf(&in, "document:d%d#viewer@group:g%d#member\n", d, u)
			default:
				fmt.Fprintf(&in, "group:g%d#member@user:u%d\n", d, u)
			}
		}
		if _, err := s.Import(ctx, strings.NewReader(in.String()), ImportOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// closeWhileReading runs the readers against s, closes it after a while
// and checks what they saw.
func closeWhileReading(t *testing.T, s *Store, round int) {
	ctx := context.Background()
	head, err := s.HeadRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Snapshots opened before Close, read after it too.
	var before []Snapshot
	for range 4 {
		sn, err := s.Snapshot(ctx, head)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, sn)
	}

	const readers = 16
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	var counts [readers]int
	start := make(chan struct{})
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs <- fmt.Errorf("reader %d panicked: %v", g, p)
				}
			}()
			rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
			var sn Snapshot
			keep := g < len(before) // read through before[g] only
			if keep {
				sn = before[g]
			}
			<-start
			for {
				err := closeRead(ctx, s, &sn, keep, head, rng)
				if err == nil {
					counts[g]++
					continue
				}
				if !errors.Is(err, ErrClosed) {
					errs <- fmt.Errorf("reader %d: %w", g, err)
				}
				return
			}
		}()
	}
	close(start)
	time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Close did not return within 30 s of reads in flight:\n%s", stacks())
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("reads did not end within 30 s of Close:\n%s", stacks())
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// After Close: every read of an old snapshot says ErrClosed, and its
	// Close is harmless (twice, too).
	for _, sn := range before {
		if _, _, err := sn.Get("document", "d1", "viewer", "user", "u1", ""); !errors.Is(err, ErrClosed) {
			t.Errorf("Get on a snapshot after Close: %v, want ErrClosed", err)
		}
		err := sn.Subjects("document", "d1", "viewer", "", "", func(Relationship) bool { return true })
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Subjects on a snapshot after Close: %v, want ErrClosed", err)
		}
		err = sn.Resources("user", "u1", "", "document", "viewer", func(Relationship) bool { return true })
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Resources on a snapshot after Close: %v, want ErrClosed", err)
		}
		sn.Close()
		sn.Close()
	}
	if _, err := s.Snapshot(ctx, head); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ForEach(ctx, head, Filter{}, func(Relationship) (bool, error) { return true, nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("ForEach after Close: %v, want ErrClosed", err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	t.Logf("%d reads before Close", total)
}

// closeRead does one read of a random kind, through *sn (opening one when
// nil, and unless keep sometimes closing it after).
func closeRead(ctx context.Context, s *Store, sn *Snapshot, keep bool, head Revision, rng *rand.Rand) error {
	d, u := rng.IntN(100), rng.IntN(50)
	if *sn == nil {
		n, err := s.Snapshot(ctx, head)
		if err != nil {
			return err
		}
		*sn = n
	}
	var err error
	switch rng.IntN(9) {
	case 0:
		_, _, err = (*sn).Get("document", fmt.Sprint("d", d), "viewer", "user", fmt.Sprint("u", u), "")
	case 1:
		err = (*sn).Subjects("document", fmt.Sprint("d", d), "viewer", "", "", func(Relationship) bool { return true })
	case 2:
		err = (*sn).Resources("user", fmt.Sprint("u", u), "", "document", "viewer", func(Relationship) bool { return true })
	case 3:
		// A scan nested in another's callback.
		var inner error
		err = (*sn).Subjects("document", fmt.Sprint("d", d), "viewer", "group", "member", func(r Relationship) bool {
			inner = (*sn).Subjects("group", r.SubjectID, "member", "", "", func(Relationship) bool { return true })
			return inner == nil
		})
		if err == nil {
			err = inner
		}
	case 4:
		_, err = s.ForEach(ctx, 0, Filter{ResourceType: "document"}, func(Relationship) (bool, error) { return true, nil })
	case 5:
		_, err = s.ReadRelationships(ctx, Filter{ResourceType: "group"}, ReadOptions{Limit: 100})
	case 6:
		_, _, err = s.Changes(ctx, 0, 0)
	case 7:
		_, _, _, err = s.SchemaSource(ctx)
	case 8:
		_, _, err = s.Export(ctx, io.Discard, ExportOptions{})
	}
	if !keep && rng.IntN(4) == 0 {
		(*sn).Close()
		*sn = nil
	}
	return err
}

func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// TestCloseWaitsForReads checks that Close waits for a read whose callback
// is running (a snapshot's scan, and ForEach), that the read then stops
// with ErrClosed at its next relationship, and that Close returns after.
func TestCloseWaitsForReads(t *testing.T) {
	for _, kind := range []string{"Subjects", "ForEach"} {
		t.Run(kind, func(t *testing.T) {
			s := newTestStore(t, Options{})
			if err := fillCloseStore(s); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			sn, err := s.Snapshot(ctx, mustHead(t, s))
			if err != nil {
				t.Fatal(err)
			}
			inside, release := make(chan struct{}), make(chan struct{})
			calls := 0
			wait := func() {
				calls++
				if calls == 1 {
					close(inside)
					<-release
				}
			}
			readErr := make(chan error, 1)
			go func() {
				if kind == "Subjects" {
					readErr <- sn.Subjects("document", "d1", "viewer", "", "", func(Relationship) bool { wait(); return true })
				} else {
					_, err := s.ForEach(ctx, 0, Filter{}, func(Relationship) (bool, error) { wait(); return true, nil })
					readErr <- err
				}
			}()
			<-inside
			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			select {
			case err := <-closed:
				t.Fatalf("Close returned (%v) while a read was in flight", err)
			case <-time.After(100 * time.Millisecond):
			}
			close(release)
			if err := <-readErr; !errors.Is(err, ErrClosed) {
				t.Errorf("the read in flight ended with %v, want ErrClosed", err)
			}
			if calls != 1 {
				t.Errorf("the read went on for %d more relationships after Close began", calls-1)
			}
			select {
			case err := <-closed:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("Close did not return after the read ended:\n%s", stacks())
			}
			if _, _, err := sn.Get("document", "d1", "viewer", "user", "u1", ""); !errors.Is(err, ErrClosed) {
				t.Errorf("Get after Close: %v, want ErrClosed", err)
			}
			sn.Close()
		})
	}
}
