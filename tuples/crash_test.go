package tuples

import (
	"bufio"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The crash test: a child process (this test binary, re-executed with
// -test.run=^TestCrashChild$ and crashChildEnv set) imports relationships in
// batches into an on-disk store and is killed with SIGKILL at random
// moments; after each kill the store must open, hold every batch wholly or
// not at all (the committed ones being exactly the first head-1), and its
// forward and reverse indexes must agree. The child resumes where the last
// one stopped, until the whole import is done.
const (
	crashChildEnv = "REACH_TUPLES_CRASH_CHILD" // the store's directory
	crashSizeEnv  = "REACH_TUPLES_CRASH_SIZE"  // "total batch"
)

// crashLine is line i of the crash test's import: batch i/batch, item i%batch.
func crashLine(b []byte, i, batch int) []byte {
	b = append(b, "document:b"...)
	b = strconv.AppendInt(b, int64(i/batch), 10)
	b = append(b, 'x')
	b = strconv.AppendInt(b, int64(i%batch), 10)
	b = append(b, "#viewer@user:u"...)
	b = strconv.AppendInt(b, int64(i%997), 10)
	return append(b, '\n')
}

// crashReader yields lines from..to-1.
type crashReader struct {
	i, to, batch int
	buf          []byte
}

func (c *crashReader) Read(p []byte) (int, error) {
	for len(c.buf) < len(p) && c.i < c.to {
		c.buf = crashLine(c.buf, c.i, c.batch)
		c.i++
	}
	if len(c.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.buf)
	c.buf = c.buf[:copy(c.buf, c.buf[n:])]
	return n, nil
}

// TestCrashChild is the child process of TestCrashImport; it does nothing
// in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("the child process of TestCrashImport")
	}
	var total, batch int
	if _, err := fmt.Sscan(os.Getenv(crashSizeEnv), &total, &batch); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := s.Schema(ctx); err != nil {
		t.Fatal(err)
	} else if p == nil {
		if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := s.HeadRevision(context.Background())
	from := int(head-1) * batch // revision 1 is the schema; each later one a batch
	fmt.Printf("open %d\n", head)
	_, err = s.Import(ctx, &crashReader{i: from, to: total, batch: batch}, ImportOptions{
		Name: "crash", BatchSize: batch,
		Progress: func(st ImportStats) { fmt.Printf("batch %d\n", st.Revision) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("done")
}

func TestCrashImport(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child process")
	}
	total, batch, kills := 1_000_000, 10_000, 20
	if testing.Short() {
		total, batch, kills = 20_000, 1_000, 3
	}
	nBatches := total / batch
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	killed, midImport := 0, 0
	for cycle := 0; ; cycle++ {
		if cycle > 10*kills+20 {
			t.Fatalf("the import did not finish after %d runs", cycle)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, fmt.Sprintf("%s=%d %d", crashSizeEnv, total, batch))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a random number of committed batches (spread so that
		// the kills cover the whole import), plus a random moment inside
		// the next one; the last run goes to the end.
		kill := killed < kills
		left := max(1, kills-killed)
		doneBefore, waitBatches := -1, 0
		sc := bufio.NewScanner(out)
		seen, finished := 0, false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "open "):
				h, _ := strconv.Atoi(line[5:])
				doneBefore = max(0, h-1)
				waitBatches = rng.IntN(max(1, 2*(nBatches-doneBefore)/(left+1)))
			case strings.HasPrefix(line, "batch "):
				seen++
			case line == "done":
				finished = true
			}
			if kill && doneBefore >= 0 && seen >= waitBatches {
				time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
				cmd.Process.Kill()
				break
			}
		}
		io.Copy(io.Discard, out)
		werr := cmd.Wait()
		if kill && !finished {
			killed++
			if doneBefore < nBatches {
				midImport++
			}
		} else if werr != nil {
			t.Fatalf("child failed: %v\n%s", werr, stderr.String())
		}
		m := verifyCrashStore(t, dir, nBatches, batch)
		if m == nBatches && killed >= kills {
			break
		}
	}
	t.Logf("%d relationships in %d batches: %d kills, %d of them during the import", total, nBatches, killed, midImport)
	if midImport < kills/2 {
		t.Errorf("only %d of %d kills came during the import", midImport, killed)
	}
}

// verifyCrashStore opens the store after a crash and checks it; it returns
// how many batches are committed.
func verifyCrashStore(t *testing.T, dir string, nBatches, batch int) int {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("the store does not open after a crash: %v", err)
	}
	defer s.Close()
	head, _ := s.HeadRevision(context.Background())
	m := max(0, int(head)-1)
	counts := make([]int, nBatches)
	// Read at the newest version of every key, not at the head: a torn
	// batch's keys, at a revision above the head, would otherwise stay
	// hidden until the next write reused its revision.
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	seed := maphash.MakeSeed()
	// Each index's keys, mapped to forward form, summed as hashes: the two
	// sums agree iff (with overwhelming probability) the indexes hold the
	// same relationships.
	var fsum, rsum uint64
	var fn, rn int
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceForward}})
	for it.Rewind(); it.Valid(); it.Next() {
		d, err := decodeForward(it.Item().Key())
		if err != nil {
			t.Fatal(err)
		}
		fsum += maphash.Bytes(seed, it.Item().Key()) + uint64(it.Item().UserMeta())
		fn++
		var b, i int
		if _, err := fmt.Sscanf(d.resID, "b%dx%d", &b, &i); err != nil || b >= nBatches {
			t.Fatalf("unexpected resource id %q", d.resID)
		}
		counts[b]++
	}
	it.Close()
	it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceReverse}})
	var buf []byte
	for it.Rewind(); it.Valid(); it.Next() {
		d, err := decodeReverse(it.Item().Key())
		if err != nil {
			t.Fatal(err)
		}
		buf = forwardKey(buf[:0], d.ids, d.resID, d.subjID)
		rsum += maphash.Bytes(seed, buf) + uint64(it.Item().UserMeta())
		rn++
	}
	it.Close()
	if fn != rn || fsum != rsum {
		t.Fatalf("after a crash at head %d the indexes disagree: %d forward keys, %d reverse keys", head, fn, rn)
	}
	for b, n := range counts {
		want := 0
		if b < m {
			want = batch
		}
		if n != want {
			t.Fatalf("after a crash at head %d batch %d has %d of %d relationships, want %d", head, b, n, batch, want)
		}
	}
	return m
}
