package tuples

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/reach-authz/reach/schema"
)

func TestImportLongLine(t *testing.T) {
	s := newTestStore(t, Options{})
	input := "document:a#viewer@user:ana\n" + strings.Repeat("x", maxLineLength+10) + "\n"
	_, err := s.Import(context.Background(), strings.NewReader(input), ImportOptions{Name: "big.txt"})
	if err == nil || !strings.HasPrefix(err.Error(), "big.txt:2: ") {
		t.Errorf("error %v, want big.txt:2: ...", err)
	}
}

// TestImportSchemaChangesMeanwhile checks the path where a batch was
// prepared under one schema and the schema changed before it was written:
// it is checked again against the new one.
func TestImportSchemaChangesMeanwhile(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	b := &ImportBatch{}
	for i, line := range []string{"document:a#viewer@user:ana", "document:a#owner@user:bo"} {
		b.Rels = append(b.Rels, mustParse(t, line))
		b.Lines = append(b.Lines, i+1)
	}
	p := prepareAtHead(t, s, b)
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(strings.NewReplacer("relation owner: user", "", "viewer + owner", "viewer").Replace(testSchema))); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.commitPrepared(ctx, p, &ImportValidator{name: "in.txt"})
	if err == nil || !strings.HasPrefix(err.Error(), "in.txt:2: ") {
		t.Fatalf("error %v, want in.txt:2: ... (owner is gone)", err)
	}
	if got := all(t, s, 0); len(got) != 0 {
		t.Errorf("stored %q after a refused batch", got)
	}
}

// prepareAtHead validates b against the schema at the head and builds its
// keys, as an import's reader does.
func prepareAtHead(t testing.TB, s *Store, b *ImportBatch) *preparedBatch {
	t.Helper()
	w := &badgerImport{s: s}
	prog, err := w.Schema(context.Background())
	if err != nil || prog == nil {
		t.Fatal(prog, err)
	}
	if err := (&ImportValidator{name: "in.txt"}).Validate(b, prog); err != nil {
		t.Fatal(err)
	}
	return s.prepareBatch(b, prog, nil)
}

// TestBulkBatchTornWrite cuts Badger's write-ahead log in the middle of an
// import batch, as a crash during the write would, and checks that the batch
// is then wholly absent while the one before it is wholly present: bulk
// batches carry Badger's transaction markers (see bulk.go).
func TestBulkBatchTornWrite(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		t.Fatal(err)
	}
	batch := func(name string) string {
		var b strings.Builder
		for i := range 200 {
			fmt.Fprintf(&b, "document:%s%03d#viewer@user:u%d\n", name, i, i)
		}
		return b.String()
	}
	if _, err := s.Import(ctx, strings.NewReader(batch("first")), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(ctx, strings.NewReader(batch("second")), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Copy the store while it is open (its log is still in the .mem file)
	// and, in the copy, zero the log from a key in the middle of the second
	// batch onwards.
	cp := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	cut := false
	for _, f := range files {
		var at []byte
		if strings.HasSuffix(f, ".mem") {
			at = []byte("second100")
		}
		cut = copySparse(t, f, filepath.Join(cp, filepath.Base(f)), at) || cut
	}
	if !cut {
		t.Fatal("the second batch was not found in a .mem file")
	}
	torn, err := Open(cp, Options{})
	if err != nil {
		t.Fatalf("open after a torn write: %v", err)
	}
	defer torn.Close()
	if head, _ := torn.HeadRevision(context.Background()); head != res.Revision-1 {
		t.Errorf("head after a torn write %d, want %d", head, res.Revision-1)
	}
	// Write at the torn batch's revision: none of its keys may show.
	if _, err := torn.Write(ctx, updates(t, Touch, "document:third#viewer@user:ana")); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, r := range all(t, torn, 0) {
		n[r[len("document:"):len("document:")+5]]++
	}
	if n["first"] != 200 || n["secon"] != 0 || n["third"] != 1 {
		t.Errorf("after a torn write: %d of the first batch (want 200), %d of the second (want 0), %d of the third (want 1)", n["first"], n["secon"], n["third"])
	}
	checkIndexes(t, torn)
}

// checkIndexes checks that every forward key has its reverse key and back.
func checkIndexes(t testing.TB, s *Store) {
	t.Helper()
	head, err := s.HeadRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	txn := s.db.NewTransactionAt(uint64(head), false)
	defer txn.Discard()
	count := func(space byte, other func(decodedKey) []byte, decode func([]byte) (decodedKey, error)) int {
		it := txn.NewIterator(badgerPrefix(space))
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			d, err := decode(it.Item().Key())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := txn.Get(other(d)); err != nil {
				t.Fatalf("key %q has no counterpart in the other index: %v", it.Item().Key(), err)
			}
			n++
		}
		return n
	}
	f := count(spaceForward, func(d decodedKey) []byte { return reverseKey(nil, d.ids, d.resID, d.subjID) }, decodeForward)
	r := count(spaceReverse, func(d decodedKey) []byte { return forwardKey(nil, d.ids, d.resID, d.subjID) }, decodeReverse)
	if f != r {
		t.Errorf("%d forward keys, %d reverse keys", f, r)
	}
}

func badgerPrefix(space byte) badger.IteratorOptions {
	return badger.IteratorOptions{Prefix: []byte{space}}
}

// copySparse copies the data of file src to dst, skipping holes (Badger's
// log files are large and mostly holes). With cut, the copy ends where cut
// is first found and the rest reads as zeros; it reports whether it was.
func copySparse(t testing.TB, src, dst string, cut []byte) bool {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	const seekData, seekHole = 3, 4 // lseek(2) SEEK_DATA and SEEK_HOLE
	found := false
	for off := int64(0); off < info.Size() && !found; {
		data, err := in.Seek(off, seekData)
		if err != nil {
			break // ENXIO: no data after off
		}
		hole, err := in.Seek(data, seekHole)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, hole-data)
		if _, err := in.ReadAt(buf, data); err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(buf, cut); len(cut) > 0 && i >= 0 {
			buf, found = buf[:i], true
		}
		if _, err := out.WriteAt(buf, data); err != nil {
			t.Fatal(err)
		}
		off = hole
	}
	if err := out.Truncate(info.Size()); err != nil {
		t.Fatal(err)
	}
	return found
}

// TestImportLongIDs imports batches whose change records exceed what one
// Badger value may hold in memory (1 MiB), on disk and in memory: the
// records are cut in parts and read back whole.
func TestImportLongIDs(t *testing.T) {
	for _, inMemory := range []bool{true, false} {
		t.Run(fmt.Sprintf("in memory %v", inMemory), func(t *testing.T) {
			ctx := context.Background()
			dir := ""
			if !inMemory {
				dir = t.TempDir()
			}
			// 64 MiB memtables on disk too: Badger's largest batch grows
			// with the memtable, and the 3,000 lines below must not fit in
			// one (the on-disk default is 128 MiB).
			s, err := Open(dir, Options{InMemory: inMemory, MemTableSize: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
				t.Fatal(err)
			}
			head0, _ := s.HeadRevision(context.Background())
			n, batch := 3000, 0 // cut by size (about 1,900 lines of 2 kB)
			if testing.Short() {
				n, batch = 1200, 500
			}
			long := strings.Repeat("x", MaxIDLength-10)
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "document:%s%d#viewer@user:%s%d\n", long, i, long, i)
			}
			res, err := s.Import(ctx, strings.NewReader(b.String()), ImportOptions{BatchSize: batch})
			if err != nil {
				t.Fatal(err)
			}
			if res.Batches < 2 {
				t.Errorf("%d batches: the batches were not cut by size", res.Batches)
			}
			sets, _, err := s.Changes(ctx, head0, 0)
			if err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, cs := range sets {
				total += len(cs.Changes)
			}
			if len(sets) != res.Batches || total != n {
				t.Errorf("%d change sets with %d changes, want %d with %d", len(sets), total, res.Batches, n)
			}
			// One Write of 1,000 such relationships: 2 MB of changes.
			var us []Update
			for i := range 1000 {
				us = append(us, Update{Op: Delete, Relationship: mustParse(t, fmt.Sprintf("document:%s%d#viewer@user:%s%d", long, i, long, i))})
			}
			rev, err := s.Write(ctx, us)
			if err != nil {
				t.Fatal(err)
			}
			sets, _, err = s.Changes(ctx, rev-1, 0)
			if err != nil || len(sets) != 1 || len(sets[0].Changes) != 1000 {
				t.Errorf("changes of the write: %d sets, err %v", len(sets), err)
			}
			checkIndexes(t, s)
		})
	}
}

// TestSortUnique checks the order of bulk entries (by prefix, then bytes,
// then position) against bytes.Compare, and that the last of equal keys
// stays.
func TestSortUnique(t *testing.T) {
	keys := []string{"", "a", "ab", "abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgg\xff", "b", "\xff\xff\xff\xff\xff\xff\xff\xff\x01", "ab", "a"}
	var es []bulkEntry
	for i, k := range keys {
		es = append(es, bulkEntry{key: []byte(k), pfx: keyPrefix([]byte(k)), idx: int32(i)})
	}
	got := sortUnique(es)
	for i := 1; i < len(got); i++ {
		if bytes.Compare(got[i-1].key, got[i].key) >= 0 {
			t.Errorf("%q before %q", got[i-1].key, got[i].key)
		}
	}
	for _, e := range got {
		if string(e.key) == "a" && e.idx != 10 || string(e.key) == "ab" && e.idx != 9 {
			t.Errorf("kept %q from position %d, want the last", e.key, e.idx)
		}
	}
	if len(got) != len(keys)-2 {
		t.Errorf("%d keys left of %d with 2 duplicates", len(got), len(keys))
	}
}

// TestImportValidatorAgrees checks that the import's check of a
// relationship whose shape it has seen (which checks the caveat context
// alone) decides as ValidateAgainst does, with its error, for contexts of
// every parameter type, good and bad.
func TestImportValidatorAgrees(t *testing.T) {
	const src = `caveat every(i int, u uint, d double, b bool, s string, by bytes, du duration, ts timestamp, ip ipaddress, l list<int>, m map<list<string>>, a any) {
  i > 0 && u > 0 && d > 0.0 && b && s == 'x' && size(by) > 0 && du > duration('1s') &&
    ts > timestamp('2020-01-01T00:00:00Z') && ip.in_cidr('10.0.0.0/8') && 1 in l && size(m) > 0 && a != null
}
definition user {}
definition doc {
  relation viewer: user with every
}
`
	prog, _, err := schema.Compile("every.zed", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	contexts := []string{
		`{"i":1}`, `{"i":"2"}`, `{"i":1.5}`, `{"i":1e30}`, `{"i":true}`,
		`{"u":3}`, `{"u":-1}`, `{"d":1.5}`, `{"d":"x"}`, `{"b":true}`, `{"b":1}`,
		`{"s":"x"}`, `{"s":2}`, `{"by":"aGk="}`, `{"by":"not base64!"}`,
		`{"du":"10h4m"}`, `{"du":"soon"}`, `{"ts":"2027-01-01T00:00:00Z"}`, `{"ts":"tomorrow"}`,
		`{"ip":"10.0.0.1"}`, `{"ip":"ten"}`, `{"l":[1,2]}`, `{"l":[1,"x"]}`, `{"l":{}}`,
		`{"m":{"k":["a"]}}`, `{"m":{"k":[1]}}`, `{"m":[]}`, `{"a":{"x":[1,null]}}`,
		`{"zz":1}`, `{"i":1,"zz":1}`, `{"i":"x","zz":1}`, `{}`,
	}
	val := &ImportValidator{}
	first := mustParse(t, `doc:1#viewer@user:ana[every:{"i":1}]`)
	if err := val.check(prog, &first); err != nil {
		t.Fatal(err)
	}
	for i, c := range contexts {
		r := mustParse(t, fmt.Sprintf("doc:%d#viewer@user:bo[every:%s]", i+2, c))
		want := ValidateAgainst(prog, r)
		got := val.check(prog, &r)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: import check %v, ValidateAgainst %v", c, got, want)
		}
	}
}
