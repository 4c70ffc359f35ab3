package tuples

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The tests of issue 12's findings: a damaged store directory is refused,
// naming the file and deleting nothing, and never read as data.

// integrityRels is how many relationships the damaged stores hold: enough
// for a table of about half a megabyte.
const integrityRels = 8000

// integrityStore makes an on-disk store of integrityRels relationships in
// one table (the memtable is flushed when the store closes), opened once
// more so that its table is on the verified list too, and closed. It
// returns the directory.
func integrityStore(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(faultSchema)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := range integrityRels {
		fmt.Fprintf(&b, "document:d%05d#viewer@user:u%d\n", i, i%100)
	}
	if _, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, verifiedFile)); err != nil {
		t.Fatalf("no verified list after two opens: %v", err)
	}
	return dir
}

// tables lists the store's table files.
func tables(t testing.TB, dir string) []string {
	t.Helper()
	ts, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) == 0 {
		t.Fatalf("no table in %s", dir)
	}
	return ts
}

// listing is the names and sizes of the files in dir.
func listing(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() != "LOCK" {
			out = append(out, fmt.Sprintf("%s %d", e.Name(), fi.Size()))
		}
	}
	return out
}

// refused opens dir, which must fail with ErrCorrupt naming file, and
// leave every file as it was.
func refused(t *testing.T, dir, file string) error {
	t.Helper()
	before := listing(t, dir)
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err == nil {
		n := len(faultAll(t, s))
		s.Close()
		t.Fatalf("the damaged store opened (%d relationships)", n)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("error %v does not match ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not name %s", err, file)
	}
	if after := listing(t, dir); !slices.Equal(before, after) {
		t.Errorf("a refused open changed the directory:\nbefore %q\nafter  %q", before, after)
	}
	return err
}

// intact opens dir and checks that it holds every relationship.
func intact(t *testing.T, dir string) {
	t.Helper()
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(faultAll(t, s)); n != integrityRels {
		t.Errorf("%d relationships, want %d", n, integrityRels)
	}
	faultIndexes(t, s)
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Finding 1: a torn MANIFEST opened an empty store and deleted the tables.
func TestTornManifestRefused(t *testing.T) {
	dir := integrityStore(t)
	manifest := filepath.Join(dir, "MANIFEST")
	saved := filepath.Join(t.TempDir(), "MANIFEST")
	copyFile(t, manifest, saved)
	if err := os.Truncate(manifest, 10); err != nil {
		t.Fatal(err)
	}
	t.Log(refused(t, dir, "MANIFEST"))
	// Nothing was lost: with its MANIFEST back the store is whole.
	copyFile(t, saved, manifest)
	intact(t, dir)
}

// A MANIFEST cut at a record boundary (its magic number only) lists no
// table: the tables' data is found nowhere else, so the store is refused.
func TestManifestCutAtRecordRefused(t *testing.T) {
	dir := integrityStore(t)
	if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 8); err != nil {
		t.Fatal(err)
	}
	refused(t, dir, "MANIFEST")
}

// Finding 1: a missing MANIFEST too.
func TestMissingManifestRefused(t *testing.T) {
	dir := integrityStore(t)
	manifest := filepath.Join(dir, "MANIFEST")
	saved := filepath.Join(t.TempDir(), "MANIFEST")
	copyFile(t, manifest, saved)
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	t.Log(refused(t, dir, "MANIFEST"))
	copyFile(t, saved, manifest)
	intact(t, dir)
}

// The marker alone is enough to refuse a store whose MANIFEST and tables
// are gone.
func TestMarkerWithoutManifestRefused(t *testing.T) {
	dir := integrityStore(t)
	for _, pat := range []string{"MANIFEST", "*.sst", "*.vlog", "*.mem"} {
		fs, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range fs {
			os.Remove(f)
		}
	}
	refused(t, dir, "MANIFEST")
}

// A table the MANIFEST lists is missing.
func TestMissingTableRefused(t *testing.T) {
	dir := integrityStore(t)
	table := tables(t, dir)[0]
	if err := os.Rename(table, table+".away"); err != nil {
		t.Fatal(err)
	}
	refused(t, dir, filepath.Base(table))
}

// Finding 2: damaged bytes in a table were read as data (70% of the rows,
// a check that said denied). Now the table is refused whole, naming it,
// however it was damaged; and a table cut short no longer panics.
func TestDamagedTableRefused(t *testing.T) {
	damage := map[string]func(t *testing.T, path string){
		"4 KiB of random bytes in the middle": func(t *testing.T, path string) {
			writeAt(t, path, 0.5, randomBytes(4096))
		},
		"one flipped bit": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			b := make([]byte, 1)
			at := fi.Size() / 3
			f.ReadAt(b, at)
			b[0] ^= 0x10
			f.WriteAt(b, at)
		},
		"cut in half": func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			os.Truncate(path, fi.Size()/2)
		},
		"cut to nothing": func(t *testing.T, path string) { os.Truncate(path, 0) },
		"its end zeroed": func(t *testing.T, path string) { writeAt(t, path, 1, make([]byte, 4096)) },
		"its index damaged": func(t *testing.T, path string) {
			writeAt(t, path, 0.97, randomBytes(64))
		},
	}
	for name, do := range damage {
		t.Run(name, func(t *testing.T) {
			dir := integrityStore(t)
			table := tables(t, dir)[0]
			saved := filepath.Join(t.TempDir(), "table")
			copyFile(t, table, saved)
			do(t, table)
			t.Log(refused(t, dir, filepath.Base(table)))
			copyFile(t, saved, table)
			intact(t, dir)
		})
	}
}

// writeAt writes b into path at a fraction of its length (1: its end).
func writeAt(t *testing.T, path string, frac float64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	at := int64(float64(fi.Size())*frac) - int64(len(b))/2
	at = max(0, min(at, fi.Size()-int64(len(b))))
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	return b
}

// A table the MANIFEST does not list whose data is in the store (what an
// unfinished flush or compaction leaves) is deleted at open, as Badger
// would; one holding data found nowhere else is refused and kept.
func TestUnlistedTables(t *testing.T) {
	t.Run("data found elsewhere: deleted", func(t *testing.T) {
		dir := integrityStore(t)
		extra := filepath.Join(dir, "000099.sst")
		copyFile(t, tables(t, dir)[0], extra)
		intact(t, dir)
		if _, err := os.Stat(extra); err == nil {
			t.Error("the unlisted table was not deleted")
		}
		if views, _ := filepath.Glob(filepath.Join(dir, viewPrefix+"*")); len(views) > 0 {
			t.Errorf("views left behind: %q", views)
		}
	})
	t.Run("half-written: deleted", func(t *testing.T) {
		dir := integrityStore(t)
		extra := filepath.Join(dir, "000099.sst")
		copyFile(t, tables(t, dir)[0], extra)
		fi, _ := os.Stat(extra)
		os.Truncate(extra, fi.Size()/2)
		os.Truncate(extra, fi.Size())
		intact(t, dir)
		if _, err := os.Stat(extra); err == nil {
			t.Error("the unlisted table was not deleted")
		}
	})
	t.Run("data found nowhere else: refused", func(t *testing.T) {
		dir := integrityStore(t)
		other := t.TempDir()
		s, err := Open(other, Options{MemTableSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(faultSchema)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(ctx, faultTouch(t, "document:elsewhere#viewer@user:ana")); err != nil {
			t.Fatal(err)
		}
		s.Close()
		extra := filepath.Join(dir, "000099.sst")
		copyFile(t, tables(t, other)[0], extra)
		refused(t, dir, "MANIFEST")
		if _, err := os.Stat(extra); err != nil {
			t.Errorf("the unlisted table is gone: %v", err)
		}
		os.Remove(extra)
		intact(t, dir)
	})
	t.Run("read-only and Check: nothing deleted", func(t *testing.T) {
		dir := integrityStore(t)
		extra := filepath.Join(dir, "000099.sst")
		copyFile(t, tables(t, dir)[0], extra)
		before := listing(t, dir)
		s, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(faultAll(t, s)); n != integrityRels {
			t.Errorf("%d relationships, want %d", n, integrityRels)
		}
		s.Close()
		if rep, err := Check(dir); err != nil || !rep.Healthy() {
			t.Errorf("Check: %v %q", err, rep.Problems)
		}
		if after := listing(t, dir); !slices.Equal(before, after) {
			t.Errorf("the directory changed:\nbefore %q\nafter  %q", before, after)
		}
	})
	t.Run("a view left by a killed process: removed", func(t *testing.T) {
		dir := integrityStore(t)
		view := filepath.Join(dir, viewPrefix+"123")
		os.Mkdir(view, 0o755)
		os.WriteFile(filepath.Join(view, "00001.mem"), []byte("x"), 0o644)
		intact(t, dir)
		if _, err := os.Stat(view); err == nil {
			t.Error("the view was not removed")
		}
	})
}

// A store a crash left (its write-ahead log not cut where its entries end)
// opens read-only (Badger alone refuses it), and Check checks it, changing
// nothing.
func TestReadOnlyAfterCrash(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(faultSchema)); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := s.Write(ctx, faultTouch(t, fmt.Sprintf("document:c%d#viewer@user:ana", i))); err != nil {
			t.Fatal(err)
		}
	}
	crashed := cloneStore(t, dir) // as a kill would leave it
	before := listing(t, crashed)
	ro, err := Open(crashed, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open after a crash: %v", err)
	}
	if n := len(faultAll(t, ro)); n != 10 {
		t.Errorf("%d relationships, want 10", n)
	}
	ro.Close()
	if rep, err := Check(crashed); err != nil || !rep.Healthy() || rep.Relationships != 10 {
		t.Errorf("Check after a crash: %v %+v", err, rep)
	}
	if after := listing(t, crashed); !slices.Equal(before, after) {
		t.Errorf("the directory changed:\nbefore %q\nafter  %q", before, after)
	}
	rw, err := Open(crashed, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(faultAll(t, rw)); n != 10 {
		t.Errorf("%d relationships, want 10", n)
	}
	rw.Close()
}

// A damaged value in the value log (where values over 1 KiB live: change
// records, large schemas) is an error when read, not data.
func TestDamagedValueLog(t *testing.T) {
	dir := integrityStore(t)
	vlogs, _ := filepath.Glob(filepath.Join(dir, "*.vlog"))
	var biggest string
	var size int64
	for _, v := range vlogs {
		if fi, _ := os.Stat(v); fi.Size() > size {
			biggest, size = v, fi.Size()
		}
	}
	if size < 64<<10 {
		t.Fatalf("no value log with values (%q)", vlogs)
	}
	writeAt(t, biggest, 0.5, randomBytes(4096))
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, _, err = s.Changes(context.Background(), 1, 0)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("changes through a damaged value log: %v, want ErrCorrupt", err)
	}
	t.Log(err)
}

// A table damaged under an open store, where Badger panics reading it, gives
// errors, not a crash.
func TestReadPanicsAreErrors(t *testing.T) {
	var g readGuard
	err := func() (err error) {
		defer g.recover(&err)
		var b []byte
		_ = b[3] // what Badger does with a damaged block
		return nil
	}()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a panic while reading: %v, want ErrCorrupt", err)
	}
	// A panic of the caller's callback is the caller's.
	defer func() {
		if r := recover(); r == nil || r != "callback" {
			t.Fatalf("the callback's panic became %v", r)
		}
	}()
	func() (err error) {
		defer g.recover(&err)
		g.inCallback = true
		panic("callback")
	}()
}

func TestCheckHealthy(t *testing.T) {
	dir := integrityStore(t)
	rep, err := Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Healthy() {
		t.Fatalf("a healthy store has problems: %q", rep.Problems)
	}
	if rep.Relationships != integrityRels || rep.Tables == 0 || rep.TableBytes == 0 || rep.SchemaVersions != 1 || rep.ChangeRecords == 0 || rep.Names != 3 || rep.Head == 0 {
		t.Errorf("report %+v", rep)
	}
	// Check changes nothing, and the store still opens.
	intact(t, dir)
	if _, err := Check(t.TempDir()); err == nil {
		t.Error("Check of an empty directory: no error")
	}
	if _, err := Check(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Check of a missing directory: no error")
	}
}

// checkFinds runs Check on dir and wants a problem mentioning each of want.
func checkFinds(t *testing.T, dir string, want ...string) {
	t.Helper()
	rep, err := Check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Healthy() {
		t.Fatalf("Check found nothing wrong (%+v)", rep)
	}
	all := strings.Join(rep.Problems, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("problems do not mention %q:\n%s", w, all)
		}
	}
	t.Logf("problems:\n%s", all)
}

func TestCheckFindsDamage(t *testing.T) {
	t.Run("damaged table", func(t *testing.T) {
		dir := integrityStore(t)
		table := tables(t, dir)[0]
		writeAt(t, table, 0.5, randomBytes(4096))
		checkFinds(t, dir, filepath.Base(table))
	})
	t.Run("missing MANIFEST", func(t *testing.T) {
		dir := integrityStore(t)
		os.Remove(filepath.Join(dir, "MANIFEST"))
		checkFinds(t, dir, "MANIFEST: missing")
	})
	t.Run("torn MANIFEST", func(t *testing.T) {
		dir := integrityStore(t)
		os.Truncate(filepath.Join(dir, "MANIFEST"), 10)
		checkFinds(t, dir, "MANIFEST is torn at byte 8 of 10", "does not list 1 table (000001.sst)")
	})
	// Damage that only a read of the contents finds, made with Badger
	// directly.
	raw := func(t *testing.T, do func(txn *badger.Txn, head Revision) Revision) string {
		dir := integrityStore(t)
		s, err := Open(dir, Options{MemTableSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		head, _ := s.HeadRevision(context.Background())
		txn := s.db.NewTransactionAt(uint64(head), true)
		at := do(txn, head)
		if err := txn.CommitAt(uint64(at), nil); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return dir
	}
	t.Run("a reverse entry missing", func(t *testing.T) {
		dir := raw(t, func(txn *badger.Txn, head Revision) Revision {
			r := faultParse(t, "document:d00007#viewer@user:u7")
			n, _ := newTestNames(t, txn)
			txn.Delete(reverseKey(nil, n(r), r.ResourceID, r.SubjectID))
			return head
		})
		checkFinds(t, dir, "has no reverse entry")
	})
	t.Run("a torn batch", func(t *testing.T) {
		dir := raw(t, func(txn *badger.Txn, head Revision) Revision {
			r := faultParse(t, "document:torn#viewer@user:u7")
			n, _ := newTestNames(t, txn)
			txn.Set(forwardKey(nil, n(r), r.ResourceID, r.SubjectID), nil)
			return head + 3
		})
		checkFinds(t, dir, "above the head")
	})
	t.Run("a change record that does not decode", func(t *testing.T) {
		dir := raw(t, func(txn *badger.Txn, head Revision) Revision {
			txn.Set(append(revKey(spaceChanges, head), 0, 0), []byte{byte(Touch), 200, 1})
			return head
		})
		checkFinds(t, dir, "bad change record")
	})
}

// newTestNames reads the store's name ids through txn; the returned
// function gives a relationship's ids.
func newTestNames(t *testing.T, txn *badger.Txn) (func(Relationship) relIDs, map[string]uint64) {
	t.Helper()
	ids := map[string]uint64{"": 0}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceName}})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, _ := it.Item().ValueCopy(nil)
		id, _ := binary.Uvarint(v)
		ids[string(it.Item().Key()[1:])] = id
	}
	return func(r Relationship) relIDs {
		return relIDs{ids[r.ResourceType], ids[r.Relation], ids[r.SubjectType], ids[r.SubjectRelation]}
	}, ids
}

// Options.ReadOnly: reads, no writes, nothing in the directory changes,
// and other read-only opens may share it.
func TestReadOnly(t *testing.T) {
	dir := integrityStore(t)
	stamps := func() []string {
		var out []string
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			fi, _ := e.Info()
			out = append(out, fmt.Sprintf("%s %d %d", e.Name(), fi.Size(), fi.ModTime().UnixNano()))
		}
		return out
	}
	before := stamps()
	ctx := context.Background()
	s, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("a second read-only open: %v", err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Fatal("a writable open beside read-only ones succeeded")
	}
	for _, s := range []*Store{s, s2} {
		if n := len(faultAll(t, s)); n != integrityRels {
			t.Errorf("%d relationships, want %d", n, integrityRels)
		}
	}
	if p, _, err := s.Schema(ctx); err != nil || p == nil {
		t.Errorf("schema: %v, %v", p, err)
	}
	if _, _, err := s.Changes(ctx, 1, 0); err != nil {
		t.Errorf("changes: %v", err)
	}
	if _, err := s.Write(ctx, faultTouch(t, "document:x#viewer@user:y")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("write: %v, want ErrReadOnly", err)
	}
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(faultSchema)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("schema write: %v, want ErrReadOnly", err)
	}
	if _, err := s.Import(ctx, strings.NewReader("document:x#viewer@user:y\n"), ImportOptions{}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("import: %v, want ErrReadOnly", err)
	}
	if _, err := s.DeleteWhere(ctx, Filter{ResourceType: "document"}, 0); !errors.Is(err, ErrReadOnly) {
		t.Errorf("delete: %v, want ErrReadOnly", err)
	}
	if err := s.Writable(); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Writable: %v, want ErrReadOnly", err)
	}
	s.Close()
	s2.Close()
	if after := stamps(); !slices.Equal(before, after) {
		t.Errorf("a read-only open changed the directory:\nbefore %q\nafter  %q", before, after)
	}
	if _, err := Open(t.TempDir(), Options{ReadOnly: true}); err == nil {
		t.Error("a read-only open of an empty directory succeeded")
	}
}

// A table damaged under an open store stops it: reads and writes fail with
// ErrCorrupt naming the table, and the store does not open again.
func TestDamageWhileOpenStops(t *testing.T) {
	dir := integrityStore(t)
	ctx := context.Background()
	s, err := Open(dir, Options{MemTableSize: 8 << 20, GCInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(faultAll(t, s)); n != integrityRels {
		t.Fatalf("%d relationships, want %d", n, integrityRels)
	}
	table := tables(t, dir)[0]
	writeAt(t, table, 0.5, randomBytes(4096))
	deadline := time.Now().Add(10 * time.Second)
	for s.damaged() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the damage was not found")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = s.ForEach(ctx, 0, Filter{}, func(Relationship) (bool, error) { return true, nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(table)) {
		t.Errorf("read after the damage: %v, want ErrCorrupt naming %s", err, filepath.Base(table))
	}
	if _, err := s.Write(ctx, faultTouch(t, "document:x#viewer@user:y")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("write after the damage: %v, want ErrCorrupt", err)
	}
	if _, err := s.Snapshot(ctx, 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("snapshot after the damage: %v, want ErrCorrupt", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	refused(t, dir, filepath.Base(table))
}
