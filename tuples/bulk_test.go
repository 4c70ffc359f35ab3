package tuples

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestBulkStagedWriteGoesStale stages an import batch's write at the
// revision it expects, lets other writes take that revision (and add a name
// the batch adds too), and checks that committing it then stages it again:
// it lands at the next revision, whole, with its change set, and the writes
// before it stay.
func TestBulkStagedWriteGoesStale(t *testing.T) {
	tests := []struct {
		name   string
		before []string // written between staging and commit
	}{
		{name: "no write between", before: nil},
		{name: "a write between", before: []string{"document:x#viewer@user:zed"}},
		{name: "two writes between, one adding names", before: []string{"document:x#viewer@user:zed", "group:g#member@user:zed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestStore(t, Options{})
			// The batch's names are known, so only its revision goes stale.
			if _, err := s.Write(ctx, updates(t, Touch, "folder:f0#viewer@user:x", "document:d0#viewer@user:x")); err != nil {
				t.Fatal(err)
			}
			lines := []string{"folder:f#viewer@user:ana", "document:a#viewer@user:ana", "document:b#viewer@user:bo"}
			b := &ImportBatch{}
			for i, line := range lines {
				b.Rels = append(b.Rels, mustParse(t, line))
				b.Lines = append(b.Lines, i+1)
			}
			p := prepareAtHead(t, s, b)
			head0, _ := s.HeadRevision(context.Background())
			if err := s.stageBatch(p, head0+1, time.Now()); err != nil {
				t.Fatal(err)
			}
			for _, line := range tc.before {
				if _, err := s.Write(ctx, updates(t, Touch, line)); err != nil {
					t.Fatal(err)
				}
			}
			rev, n, err := s.commitPrepared(ctx, p, &ImportValidator{name: "in.txt"})
			if err != nil {
				t.Fatal(err)
			}
			want := head0 + Revision(len(tc.before)) + 1
			if rev != want || n != len(lines) {
				t.Fatalf("committed %d relationships at %d, want %d at %d", n, rev, len(lines), want)
			}
			if head, _ := s.HeadRevision(context.Background()); head != want {
				t.Errorf("head %d, want %d", head, want)
			}
			wantAll := slices.Sorted(slices.Values(append(slices.Clone(lines), append(tc.before, "folder:f0#viewer@user:x", "document:d0#viewer@user:x")...)))
			if got := slices.Sorted(slices.Values(all(t, s, 0))); !reflect.DeepEqual(got, wantAll) {
				t.Errorf("stored %q, want %q", got, wantAll)
			}
			sets, _, err := s.Changes(ctx, want-1, 0)
			if err != nil || len(sets) != 1 || sets[0].Revision != want || len(sets[0].Changes) != len(lines) {
				t.Errorf("change sets after %d: %+v, %v; want one of %d changes at %d", want-1, sets, err, len(lines), want)
			}
			checkIndexes(t, s)
		})
	}
}

// TestSortUniqueInto checks the bulk sort against a plain sort, on keys that
// agree in their first 16 bytes or are shorter, and that reused scratch
// space gives the same result.
func TestSortUniqueInto(t *testing.T) {
	keys := []string{
		"", "a", "a\x00", "abcdefghijklmnop", "abcdefghijklmnop\x00", "abcdefghijklmnopq",
		"abcdefghijklmnoo\xff", "abcdefghijklmno", "b", "abcdefghijklmnopq", "a", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	}
	var recs []sortRec
	var dst []bulkEntry
	for range 2 {
		es := make([]bulkEntry, len(keys))
		for i, k := range keys {
			es[i] = bulkEntry{key: []byte(k), idx: int32(i)}
		}
		dst = sortUniqueInto(dst, es, &recs)
		want := slices.Compact(slices.Sorted(slices.Values(keys)))
		lastAt := map[string]int32{}
		for i, k := range keys {
			lastAt[k] = int32(i)
		}
		var got []string
		for _, e := range dst {
			got = append(got, string(e.key))
			if e.idx != lastAt[string(e.key)] {
				t.Errorf("kept %q from position %d, want %d (the last)", e.key, e.idx, lastAt[string(e.key)])
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("sorted %q, want %q", got, want)
		}
	}
}
