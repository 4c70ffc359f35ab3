package tuples

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func TestImportLines(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    []string
		lines   int64
		batches int // with BatchSize 2
	}{
		{
			name: "comments and blank lines",
			input: "# a comment\n\ndocument:a#viewer@user:ana\n   // another comment\n" +
				"  document:a#viewer@group:eng#member  \n\n" +
				`document:b#viewer@user:bo[only_weekdays:{"tz":"UTC"}]` + "\n",
			want: []string{
				"document:a#viewer@group:eng#member",
				"document:a#viewer@user:ana",
				`document:b#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`,
			},
			lines:   7,
			batches: 2,
		},
		{
			name:    "CRLF and no final newline",
			input:   "document:a#viewer@user:ana\r\ndocument:a#viewer@user:*\r\ngroup:eng#member@user:cy",
			want:    []string{"document:a#viewer@user:*", "document:a#viewer@user:ana", "group:eng#member@user:cy"},
			lines:   3,
			batches: 2,
		},
		{
			name:    "the same relationship twice: the last wins",
			input:   "document:a#viewer@user:ana[expiration:2999-01-01T00:00:00Z]\ndocument:a#viewer@user:ana\n",
			want:    []string{"document:a#viewer@user:ana"},
			lines:   2,
			batches: 1,
		},
		{
			name:  "empty",
			input: "# nothing\n",
			lines: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, Options{})
			head0, _ := s.HeadRevision(context.Background())
			var progress []ImportStats
			res, err := s.Import(context.Background(), strings.NewReader(tt.input), ImportOptions{
				Name: "rels.txt", BatchSize: 2,
				Progress: func(st ImportStats) { progress = append(progress, st) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := all(t, s, 0); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("stored %q, want %q", got, tt.want)
			}
			if res.Lines != tt.lines || res.Batches != tt.batches || res.Skipped != 0 {
				t.Errorf("result %+v, want %d lines, %d batches", res.ImportStats, tt.lines, tt.batches)
			}
			if res.Bytes != int64(len(tt.input)) {
				t.Errorf("read %d bytes of %d", res.Bytes, len(tt.input))
			}
			head, _ := s.HeadRevision(context.Background())
			if head != head0+Revision(tt.batches) || (tt.batches > 0 && res.Revision != head) {
				t.Errorf("head %d, result revision %d, want %d", head, res.Revision, head0+Revision(tt.batches))
			}
			if len(progress) == 0 || progress[len(progress)-1] != res.ImportStats {
				t.Errorf("progress %+v does not end with the result %+v", progress, res.ImportStats)
			}
		})
	}
}

// TestImportBadLine checks that a malformed or refused line N stops the
// import with `FILE:N: ...`, that nothing of its batch is written, and that
// the batches before it are.
func TestImportBadLine(t *testing.T) {
	tests := []struct {
		name, bad, msg string
		want           error
	}{
		{"malformed", "document:c#viewer@user:a na", "column 25: subject id", nil},
		{"unknown relation", "document:c#editor@user:ana", "relation `editor` not found", ErrInvalidRelationship},
		{"subject type not allowed", "document:c#owner@group:eng#member", "not allowed", ErrInvalidRelationship},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t, Options{})
			input := strings.Join([]string{
				"document:a#viewer@user:ana", // line 1, batch 1
				"document:a#viewer@user:bo",  // line 2, batch 1
				"# comment",                  // line 3
				"document:b#viewer@user:ana", // line 4, batch 2
				tt.bad,                       // line 5, batch 2
				"document:b#viewer@user:cy",  // line 6
			}, "\n")
			res, err := s.Import(context.Background(), strings.NewReader(input), ImportOptions{Name: "in.txt", BatchSize: 2})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "in.txt:5: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want in.txt:5: ...%s...", err, tt.msg)
			}
			var le *LineError
			if !errors.As(err, &le) || le.Line != 5 {
				t.Errorf("error %v is not a *LineError of line 5", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if got, want := all(t, s, 0), []string{"document:a#viewer@user:ana", "document:a#viewer@user:bo"}; !reflect.DeepEqual(got, want) {
				t.Errorf("stored %q, want only the first batch %q", got, want)
			}
			if res.Imported != 2 || res.Batches != 1 {
				t.Errorf("result %+v, want 2 imported in 1 batch", res.ImportStats)
			}
		})
	}
}

// The fault reported is the first line at fault, also when a line the
// schema refuses comes before a malformed one in the same batch (parsing
// runs ahead of the schema check); nothing of that batch is written.
func TestImportFirstFaultFirst(t *testing.T) {
	s := newTestStore(t, Options{})
	input := strings.Join([]string{
		"document:a#viewer@user:ana",   // line 1
		"document:a#editor@user:bo",    // line 2: unknown relation
		"document:a#viewer@user:cy na", // line 3: malformed
	}, "\n")
	_, err := s.Import(context.Background(), strings.NewReader(input), ImportOptions{Name: "in.txt"})
	var le *LineError
	if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, ErrInvalidRelationship) {
		t.Fatalf("error %v, want the unknown relation of line 2", err)
	}
	if got := all(t, s, 0); len(got) != 0 {
		t.Errorf("stored %q, want nothing", got)
	}
}

func TestImportSkipInvalid(t *testing.T) {
	s := newTestStore(t, Options{})
	input := "document:a#viewer@user:ana\nnot a relationship\ndocument:a#editor@user:ana\ndocument:b#viewer@user:bo\n" +
		"document:c#viewer@user:" + strings.Repeat("x", MaxIDLength+1) + "\n"
	res, err := s.Import(context.Background(), strings.NewReader(input), ImportOptions{Name: "in.txt", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 2 || res.Skipped != 3 || len(res.Invalid) != 3 {
		t.Fatalf("result %+v with %d errors, want 2 imported and 3 skipped", res.ImportStats, len(res.Invalid))
	}
	for i, line := range []string{"in.txt:2: ", "in.txt:5: ", "in.txt:3: "} {
		found := false
		for _, e := range res.Invalid {
			found = found || strings.HasPrefix(e.Error(), line)
		}
		if !found {
			t.Errorf("error %d: no error starts with %q in %v", i, line, res.Invalid)
		}
	}
	if got, want := all(t, s, 0), []string{"document:a#viewer@user:ana", "document:b#viewer@user:bo"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
}

func TestImportNoSchema(t *testing.T) {
	s, err := Open("", Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Import(context.Background(), strings.NewReader("document:a#viewer@user:ana\n"), ImportOptions{})
	if !errors.Is(err, ErrNoSchema) {
		t.Errorf("error %v, want ErrNoSchema", err)
	}
}

func TestImportLongLine(t *testing.T) {
	s := newTestStore(t, Options{})
	input := "document:a#viewer@user:ana\n" + strings.Repeat("x", maxLineLength+10) + "\n"
	_, err := s.Import(context.Background(), strings.NewReader(input), ImportOptions{Name: "big.txt"})
	if err == nil || !strings.HasPrefix(err.Error(), "big.txt:2: ") {
		t.Errorf("error %v, want big.txt:2: ...", err)
	}
}

func TestImportYAML(t *testing.T) {
	const yamlFile = `schema: |-
  definition user {}
relationships: |
  // the team
  document:a#viewer@user:ana

  document:a#viewer@group:eng#member
  group:eng#member@user:bo
assertions:
  assertTrue:
    - document:a#view@user:ana
`
	s := newTestStore(t, Options{})
	res, err := s.Import(context.Background(), strings.NewReader(yamlFile), ImportOptions{Name: "model.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"document:a#viewer@group:eng#member", "document:a#viewer@user:ana", "group:eng#member@user:bo"}
	if got := all(t, s, 0); !reflect.DeepEqual(got, want) || res.Imported != 3 {
		t.Errorf("stored %q (%d imported), want %q", got, res.Imported, want)
	}

	bad := strings.Replace(yamlFile, "group:eng#member@user:bo", "group:eng#member@user:", 1)
	_, err = s.Import(context.Background(), strings.NewReader(bad), ImportOptions{Name: "model.yml"})
	if err == nil || !strings.HasPrefix(err.Error(), "model.yml:8: ") {
		t.Errorf("error %v, want model.yml:8: ...", err)
	}
	for _, tt := range []struct{ in, msg string }{
		{"schema: x\n", "no relationships block"},
		{"relationships: [a, b]\n", "model.yaml:1:16: relationships must be a string"},
		{"- a\n", "must be a mapping"},
		{"relationships: \"a\n", "not a YAML file"},
	} {
		_, err := s.Import(context.Background(), strings.NewReader(tt.in), ImportOptions{Name: "model.yaml"})
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.msg)
		}
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := newTestStore(t, Options{})
	input := "document:a#viewer@user:ana\n" +
		`document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]` + "\n" +
		"document:a#viewer@user:cy[expiration:2999-01-01T00:00:00Z]\n" +
		"document:a#viewer@user:*\n" +
		"document:b#viewer@group:eng#member\n" +
		"group:eng#member@user:ana\n"
	if _, err := src.Import(ctx, strings.NewReader(input), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rev, n, err := src.Export(ctx, &out, ExportOptions{Header: true})
	if err != nil {
		t.Fatal(err)
	}
	if head, _ := src.HeadRevision(context.Background()); rev != head || n != 6 {
		t.Errorf("export at %d of %d relationships, want %d of 6", rev, n, head)
	}
	if !strings.HasPrefix(out.String(), "# relationships exported by reach at revision "+rev.Token()+"\n") {
		t.Errorf("export header missing: %q", out.String())
	}
	dst := newTestStore(t, Options{})
	if _, err := dst.Import(ctx, bytes.NewReader(out.Bytes()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if a, b := all(t, src, 0), all(t, dst, 0); !reflect.DeepEqual(a, b) {
		t.Errorf("after the round trip %q, want %q", b, a)
	}
	var again bytes.Buffer
	if _, _, err := dst.Export(ctx, &again, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := strings.Cut(out.String(), "\n"); body != again.String() {
		t.Errorf("second export differs:\n%s\nwant\n%s", again.String(), body)
	}

	var part bytes.Buffer
	if _, n, err := src.Export(ctx, &part, ExportOptions{Filter: Filter{ResourceType: "group"}}); err != nil || n != 1 || part.String() != "group:eng#member@user:ana\n" {
		t.Errorf("filtered export: %q, %d, %v", part.String(), n, err)
	}
}

// TestImportChangeFeed checks that imported batches appear in the change
// feed, one change set per batch, in line order.
func TestImportChangeFeed(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	head0, _ := s.HeadRevision(context.Background())
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("document:d%d#viewer@user:u%d", 5-i, i))
	}
	if _, err := s.Import(ctx, strings.NewReader(strings.Join(lines, "\n")), ImportOptions{BatchSize: 3}); err != nil {
		t.Fatal(err)
	}
	sets, _, err := s.Changes(ctx, head0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, cs := range sets {
		if cs.Revision != head0+Revision(i)+1 {
			t.Errorf("change set %d at revision %d, want %d", i, cs.Revision, head0+Revision(i)+1)
		}
		for _, c := range cs.Changes {
			if c.Op != Touch {
				t.Errorf("change %v, want a TOUCH", c)
			}
			got = append(got, c.Relationship.String())
		}
	}
	if len(sets) != 2 || !reflect.DeepEqual(got, lines) {
		t.Errorf("%d change sets with %q, want 2 with %q", len(sets), got, lines)
	}
}

// TestImportSchemaChangesMeanwhile checks the path where a batch was
// prepared under one schema and the schema changed before it was written:
// it is checked again against the new one.
func TestImportSchemaChangesMeanwhile(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, Options{})
	b := &importBatch{}
	for i, line := range []string{"document:a#viewer@user:ana", "document:a#owner@user:bo"} {
		b.rels = append(b.rels, mustParse(t, line))
		b.lines = append(b.lines, i+1)
	}
	opts := ImportOptions{Name: "in.txt"}
	p, err := s.prepareBatch(b, nil, opts, &importValidator{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(strings.NewReplacer("relation owner: user", "", "viewer + owner", "viewer").Replace(testSchema))); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.commitPrepared(ctx, p, opts, &importValidator{}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "in.txt:2: ") {
		t.Fatalf("error %v, want in.txt:2: ... (owner is gone)", err)
	}
	if got := all(t, s, 0); len(got) != 0 {
		t.Errorf("stored %q after a refused batch", got)
	}
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
