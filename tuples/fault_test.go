package tuples

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fault suite: a child process (this test binary again, with
// faultChildEnv set) runs a mix of writes, imports, deletes and schema
// writes on an on-disk store and is killed with SIGKILL at random moments.
// After each kill the store must open, hold every acknowledged change and
// no part of any unacknowledged one, its indexes must agree, and Check must
// find it healthy. Copies of the killed store are then torn as a crash of
// the machine or a damaged disk would tear them (the write-ahead log cut
// short, the MANIFEST cut short, bytes of a table overwritten): each copy
// must be refused (ErrCorrupt) or open whole, never lose an acknowledged
// change silently or show part of a batch.
//
// The short form (the default; CI) kills a few times; REACH_FAULT_LONG=1
// runs the long form. TestCrashImport (crash_test.go) kills imports of a
// million relationships; TestDiskFull (diskfull_test.go) fills the disk.
const (
	faultChildEnv = "REACH_TUPLES_FAULT_CHILD" // the store's directory
	faultStartEnv = "REACH_TUPLES_FAULT_START" // the first op's number
	faultBatch    = 50                         // relationships in a batch
)

// faultLong reports whether the long form of the fault suite runs.
func faultLong() bool { return os.Getenv("REACH_FAULT_LONG") != "" }

// faultOp is op k of the fault workload: import batch k (every fifth),
// delete batch k-7 (every seventh), or write batch k.
type faultOp struct {
	k      int
	kind   string // "write", "import", "delete", "schema"
	target int    // the batch a delete deletes
}

func faultOpAt(k int) faultOp {
	switch {
	case k%11 == 0:
		return faultOp{k: k, kind: "schema"}
	case k%7 == 0 && k > 7:
		return faultOp{k: k, kind: "delete", target: k - 7}
	case k%5 == 3:
		return faultOp{k: k, kind: "import"}
	}
	return faultOp{k: k, kind: "write"}
}

// faultRel is relationship j of batch k.
func faultRel(k, j int) string {
	return fmt.Sprintf("document:b%dx%d#viewer@user:u%d", k, j, j%13)
}

// TestFaultChild is the child process of TestFaultKill; it does nothing in
// a normal run. It prints "acked K" once op K returned.
func TestFaultChild(t *testing.T) {
	dir := os.Getenv(faultChildEnv)
	if dir == "" {
		t.Skip("the child process of TestFaultKill")
	}
	start, _ := strconv.Atoi(os.Getenv(faultStartEnv))
	ctx := context.Background()
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := s.Schema(ctx); err != nil {
		t.Fatal(err)
	} else if p == nil {
		if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(faultSchema)); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("open")
	for k := start; ; k++ {
		op := faultOpAt(k)
		var err error
		switch op.kind {
		case "schema":
			_, _, err = s.WriteSchema(ctx, "t.zed", []byte(faultSchema))
		case "delete":
			_, err = s.DeleteWhere(ctx, Filter{ResourceType: "document", ResourceIDPrefix: fmt.Sprintf("b%dx", op.target)}, 0)
		case "import":
			var b strings.Builder
			for j := range faultBatch {
				b.WriteString(faultRel(k, j))
				b.WriteByte('\n')
			}
			_, err = s.Import(ctx, strings.NewReader(b.String()), ImportOptions{BatchSize: faultBatch})
		default:
			var us []Update
			for j := range faultBatch {
				us = append(us, Update{Op: Touch, Relationship: faultParse(t, faultRel(k, j))})
			}
			_, err = s.Write(ctx, us)
		}
		if err != nil {
			t.Fatalf("op %d (%s): %v", k, op.kind, err)
		}
		fmt.Printf("acked %d\n", k)
	}
}

// faultState is which batches a store holds: batch -> relationships of it.
func faultState(t *testing.T, s *Store) map[int]int {
	t.Helper()
	got := map[int]int{}
	if _, err := s.ForEach(context.Background(), 0, Filter{ResourceType: "document"}, func(r Relationship) (bool, error) {
		var k, j int
		if _, err := fmt.Sscanf(r.ResourceID, "b%dx%d", &k, &j); err != nil {
			return false, fmt.Errorf("unexpected relationship %s", r)
		}
		got[k]++
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// faultExpected is what ops 1..m leave.
func faultExpected(m int) map[int]int {
	want := map[int]int{}
	for k := 1; k <= m; k++ {
		switch op := faultOpAt(k); op.kind {
		case "write", "import":
			want[k] = faultBatch
		case "delete":
			delete(want, op.target)
		}
	}
	return want
}

// faultVerify opens the store in dir and checks that it holds what ops
// 1..m left, for some m in [lo, hi] (every batch whole or absent), that its
// indexes agree, and that Check finds it healthy. It returns m.
func faultVerify(t *testing.T, dir string, lo, hi int) int {
	t.Helper()
	s, err := Open(dir, Options{MemTableSize: 8 << 20})
	if err != nil {
		t.Fatalf("the store does not open: %v", err)
	}
	got := faultState(t, s)
	faultIndexes(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for k, c := range got {
		if c != faultBatch {
			t.Fatalf("batch %d has %d of %d relationships", k, c, faultBatch)
		}
	}
	m := -1
	for i := hi; i >= lo && m < 0; i-- {
		if mapsEqual(got, faultExpected(i)) {
			m = i
		}
	}
	if m < 0 {
		want := faultExpected(lo)
		var missing, extra []int
		for k := range want {
			if _, ok := got[k]; !ok {
				missing = append(missing, k)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				extra = append(extra, k)
			}
		}
		slices.Sort(missing)
		slices.Sort(extra)
		t.Fatalf("the store holds %d batches, not the result of ops 1..m for any m in [%d, %d]: against ops 1..%d, batches missing %v, extra %v", len(got), lo, hi, lo, missing, extra)
	}
	rep, err := Check(dir)
	if err != nil || !rep.Healthy() {
		t.Fatalf("Check: %v %q", err, rep.Problems)
	}
	return m
}

func mapsEqual(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestFaultKill(t *testing.T) {
	if os.Getenv(faultChildEnv) != "" {
		t.Skip("in the child process")
	}
	kills, maxWait := 4, 30
	if faultLong() {
		kills, maxWait = 40, 400
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	acked, attempted := 0, 0
	tally := map[string]int{}
	for cycle := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFaultChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), faultChildEnv+"="+dir, fmt.Sprintf("%s=%d", faultStartEnv, attempted+1))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wait := 1 + rng.IntN(maxWait)
		sc := bufio.NewScanner(out)
		seen := 0
		for sc.Scan() {
			// Lines after the kill count too: ops acknowledged before it.
			if k, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked, _ = strconv.Atoi(k)
				seen++
			}
			if seen == wait {
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				cmd.Process.Kill()
			}
		}
		if err := cmd.Wait(); err == nil || seen < wait {
			t.Fatalf("cycle %d: the child ended by itself: %v\n%s", cycle, err, stderr.String())
		}
		attempted = acked + 1        // the op in flight, if any
		killed := cloneStore(t, dir) // as the kill left it, for tornCopies
		m := faultVerify(t, dir, acked, attempted)
		tornCopies(t, rng, killed, acked, m, tally)
		attempted = m // go on after what is there
		if acked > attempted {
			t.Fatalf("acked %d > %d", acked, attempted)
		}
	}
	t.Logf("%d kills; %d ops acknowledged; torn copies: %v", kills, acked, tally)
}

// tornCopies tears copies of a killed store (at state m, with ops up to
// acked acknowledged) as a machine crash or a damaged disk would, and
// checks each is refused or opens whole.
func tornCopies(t *testing.T, rng *rand.Rand, dir string, acked, m int, tally map[string]int) {
	t.Helper()
	copyStore := func() string { return cloneStore(t, dir) }
	// Open cp: refused with ErrCorrupt (when refusable), or whole with ops
	// 1..m' for m' in [lo, m].
	wholeOrRefused := func(what, cp string, lo int, refusable bool) {
		t.Helper()
		s, err := Open(cp, Options{MemTableSize: 8 << 20})
		if err != nil {
			if refusable && errors.Is(err, ErrCorrupt) {
				tally[what+": refused"]++
				return
			}
			t.Fatalf("%s: %v", what, err)
		}
		s.Close()
		tally[what+": whole"]++
		faultVerify(t, cp, lo, m)
	}

	// The write-ahead log cut at a random point of what was written: a
	// machine crash losing the last unsynced pages. Earlier batches stay
	// whole; later ones, acknowledged or not, may be gone (without
	// SyncWrites), but never in part.
	cp := copyStore()
	if mems, _ := filepath.Glob(filepath.Join(cp, "*.mem")); len(mems) > 0 {
		mem := mems[len(mems)-1]
		if used := allocatedBytes(mem); used > 4096 {
			cut := rng.Int64N(used)
			f, err := os.OpenFile(mem, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			zeros := make([]byte, 64<<10)
			for at := cut; at < used; at += int64(len(zeros)) {
				f.WriteAt(zeros, at)
			}
			f.Close()
			wholeOrRefused("write-ahead log cut short", cp, 0, false)
		}
	}

	// The MANIFEST cut at a random length: refused, or whole with every
	// acknowledged op.
	cp = copyStore()
	manifest := filepath.Join(cp, "MANIFEST")
	if fi, err := os.Stat(manifest); err == nil && fi.Size() > 8 {
		os.Truncate(manifest, 8+rng.Int64N(fi.Size()-8))
		wholeOrRefused("MANIFEST cut short", cp, acked, true)
	}

	// Bytes of a table overwritten: refused, or (a table not in use)
	// whole with every acknowledged op.
	cp = copyStore()
	if ts, _ := filepath.Glob(filepath.Join(cp, "*.sst")); len(ts) > 0 {
		tbl := ts[rng.IntN(len(ts))]
		fi, _ := os.Stat(tbl)
		f, err := os.OpenFile(tbl, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(randomBytes(64), rng.Int64N(max(1, fi.Size()-64)))
		f.Close()
		wholeOrRefused("table damaged", cp, acked, true)
	}
}

// Helpers of the integrity and fault tests, of their own so that these
// tests stand apart from the behaviour tests (which move to the contract
// suite).

// faultSchema is the schema of the integrity and fault tests.
const faultSchema = `
definition user {}

definition document {
  relation viewer: user
  permission view = viewer
}
`

func faultParse(t testing.TB, s string) Relationship {
	t.Helper()
	r, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func faultTouch(t testing.TB, rels ...string) []Update {
	t.Helper()
	var us []Update
	for _, s := range rels {
		us = append(us, Update{Op: Touch, Relationship: faultParse(t, s)})
	}
	return us
}

// faultAll is every live relationship at the head, as strings.
func faultAll(t testing.TB, s *Store) []string {
	t.Helper()
	var out []string
	if _, err := s.ForEach(context.Background(), 0, Filter{}, func(r Relationship) (bool, error) {
		out = append(out, r.String())
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// faultIndexes fails unless the forward and reverse indexes agree at the
// head.
func faultIndexes(t testing.TB, s *Store) {
	t.Helper()
	head, err := s.HeadRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n, probs, err := indexesAgree(s.db, head, 5); err != nil || len(probs) > 0 {
		t.Fatalf("the indexes disagree (%d forward entries): %v %q", n, err, probs)
	}
}

// cloneStore copies the store in dir to a new directory.
func cloneStore(t testing.TB, dir string) string {
	t.Helper()
	cp := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() && fi.Name() != "LOCK" {
			cloneSparse(t, f, filepath.Join(cp, filepath.Base(f)))
		}
	}
	return cp
}

// cloneSparse copies file src to dst, skipping holes (Badger's log files
// are large and mostly holes).
func cloneSparse(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	const seekData, seekHole = 3, 4 // lseek(2) SEEK_DATA and SEEK_HOLE
	for off := int64(0); off < fi.Size(); {
		data, err := in.Seek(off, seekData)
		if err != nil {
			break // ENXIO: no data after off
		}
		hole, err := in.Seek(data, seekHole)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, hole-data)
		if _, err := in.ReadAt(buf, data); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if _, err := out.WriteAt(buf, data); err != nil {
			t.Fatal(err)
		}
		off = hole
	}
	if err := out.Truncate(fi.Size()); err != nil {
		t.Fatal(err)
	}
}
