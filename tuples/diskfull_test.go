package tuples

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reach-authz/reach/internal/testenv"
)

// The full-disk test runs a store on a small tmpfs in a child process (this
// test binary again, -test.run=^TestDiskFullChild$), so that a crash of
// Badger's (SIGBUS on a full disk) fails the test instead of killing it.
const diskFullEnv = "REACH_TUPLES_DISKFULL_CHILD" // the store's directory

// mountTmpfs mounts a tmpfs of size bytes on a new temporary directory, or
// skips the test where that is not possible: it must run as root, and in
// CI (CI=true), which runs as root, it must not skip.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size))
	if err != nil {
		testenv.Missing(t, "mounting a tmpfs needs root (CI runs as root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fillDisk writes path until the disk is full.
func fillDisk(t testing.TB, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := f.Write(buf)
		n += int64(m)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last pages: smaller writes.
	for _, sz := range []int{4096, 512, 1} {
		for {
			m, err := f.Write(buf[:sz])
			n += int64(m)
			if err != nil {
				break
			}
		}
	}
	return n
}

// diskFullOptions are the store options of the full-disk test: 8 MiB
// memtables, and 2 MiB to spare beyond what Badger may need.
func diskFullOptions() Options {
	return Options{MemTableSize: 8 << 20, DiskReserve: 2 << 20, GCInterval: 50 * time.Millisecond}
}

func TestDiskFull(t *testing.T) {
	if os.Getenv(diskFullEnv) != "" {
		t.Skip("in the child process")
	}
	// Short (the default): the store fills the disk before its first
	// memtable flush; long (REACH_FAULT_LONG=1): through flushes.
	size := int64(24 << 20)
	if faultLong() {
		size = 48 << 20
	}
	mnt := mountTmpfs(t, size)
	dir := filepath.Join(mnt, "store")
	var acked []string
	for _, phase := range []string{"fill", "full-while-open", "reopen-full"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDiskFullChild$", "-test.v")
		cmd.Env = append(os.Environ(), diskFullEnv+"="+dir, diskFullPhaseEnv+"="+phase)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("phase %s: the store on a full disk failed: %v\n%s", phase, err, out)
		}
		// The child acknowledged writes; each must be there, once space is back.
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() {
			if rel, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked = append(acked, rel)
			} else if strings.Contains(sc.Text(), "diskfull_test.go") {
				t.Logf("%s: %s", phase, strings.TrimSpace(sc.Text()))
			}
		}
	}
	if len(acked) == 0 {
		t.Fatal("the children acknowledged nothing")
	}
	os.Remove(filepath.Join(mnt, "filler"))
	s, err := Open(dir, diskFullOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := map[string]bool{}
	for _, r := range faultAll(t, s) {
		got[r] = true
	}
	for _, r := range acked {
		if !got[r] {
			t.Fatalf("acknowledged %s is missing after the full disk", r)
		}
	}
	faultIndexes(t, s)
	t.Logf("%d acknowledged relationships all present", len(acked))
}

const diskFullPhaseEnv = "REACH_TUPLES_DISKFULL_PHASE"

// TestDiskFullChild is the child process of TestDiskFull. It prints "acked
// R" for every relationship a write acknowledged. Phase "fill": the store
// fills the disk itself until writes are refused, is closed, the disk is
// filled to the last byte, and the store is opened on it (read-only
// underneath) and then given space back. Phase "full-while-open": the disk
// is filled to the last byte under an open store, which is then closed (it
// cannot flush, so it is left as a crash leaves it). Phase "reopen-full":
// that store is opened again on the full disk, and then given space back.
func TestDiskFullChild(t *testing.T) {
	dir := os.Getenv(diskFullEnv)
	if dir == "" {
		t.Skip("the child process of TestDiskFull")
	}
	ctx := context.Background()
	filler := filepath.Join(filepath.Dir(dir), "filler")
	opts := diskFullOptions()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	if p, _, err := s.Schema(ctx); err != nil {
		t.Fatal(err)
	} else if p == nil {
		if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(faultSchema)); err != nil {
			t.Fatal(err)
		}
	} else {
		total = len(faultAll(t, s))
	}
	write := func(n int) error {
		var us []Update
		for i := range n {
			us = append(us, Update{Op: Touch, Relationship: faultParse(t, fmt.Sprintf("document:d%07d#viewer@user:u%d", total+i, (total+i)%97))})
		}
		if _, err := s.Write(ctx, us); err != nil {
			return err
		}
		for _, u := range us {
			fmt.Printf("acked %s\n", u.Relationship)
		}
		total += n
		return nil
	}
	count := func(s *Store) int {
		n := 0
		if _, err := s.ForEach(ctx, 0, Filter{}, func(Relationship) (bool, error) { n++; return true, nil }); err != nil {
			t.Fatalf("read on a full disk: %v", err)
		}
		return n
	}
	refused := func(what string) {
		t.Helper()
		if err := write(1); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("%s: write: %v, want ErrNoSpace", what, err)
		}
		if _, err := s.Import(ctx, strings.NewReader("document:x#viewer@user:y\n"), ImportOptions{}); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("%s: import: %v, want ErrNoSpace", what, err)
		}
		if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(faultSchema)); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("%s: schema write: %v, want ErrNoSpace", what, err)
		}
		if _, err := s.DeleteWhere(ctx, Filter{ResourceType: "document"}, 1); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("%s: delete: %v, want ErrNoSpace", what, err)
		}
		if n := count(s); n != total {
			t.Fatalf("%s: reads: %d relationships, want %d", what, n, total)
		}
	}

	if os.Getenv(diskFullPhaseEnv) == "reopen-full" {
		if err := s.Writable(); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("Writable after a crash on a full disk: %v, want ErrNoSpace", err)
		}
		refused("opened after a crash on a full disk")
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if err := write(10); err != nil {
			t.Fatalf("write once space is back: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	if os.Getenv(diskFullPhaseEnv) == "full-while-open" {
		if err := write(100); err != nil {
			t.Fatal(err)
		}
		settle(t, dir)
		fillDisk(t, filler)
		refused("filled to the last byte while open")
		err := s.Close()
		t.Logf("close on a full disk: %v", err)
		if err != nil && !errors.Is(err, ErrNoSpace) {
			t.Fatalf("close on a full disk: %v, want nil or ErrNoSpace", err)
		}
		return
	}

	// The store fills the disk itself: writes until one is refused.
	var err1 error
	for range 100000 {
		if err1 = write(1000); err1 != nil {
			break
		}
	}
	if !errors.Is(err1, ErrNoSpace) {
		t.Fatalf("writing until the disk is full: %v, want ErrNoSpace", err1)
	}
	t.Logf("disk full after %d relationships: %v", total, err1)
	// (A write may succeed again at once: Badger may have flushed a
	// memtable meanwhile, freeing its log.)
	if n := count(s); n != total {
		t.Fatalf("reads once the disk is full: %d relationships, want %d", n, total)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close with the reserve left: %v", err)
	}

	// Filled to the last byte, and opened on it: it says so and reads.
	fillDisk(t, filler)
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatalf("open on a full disk: %v", err)
	}
	if err := s.Writable(); !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Writable on a full disk: %v, want ErrNoSpace saying it opened read-only", err)
	} else {
		t.Logf("opened on a full disk: %v", err)
	}
	refused("opened on a full disk")

	// Space comes back: writes resume by themselves.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable once space is back: %v", err)
	}
	if err := write(10); err != nil {
		t.Fatalf("write once space is back: %v", err)
	}
	if n := count(s); n != total {
		t.Fatalf("reads after space came back: %d relationships, want %d", n, total)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// settle waits until Badger has flushed the memtables it replayed (one
// write-ahead log left) and the directory stops changing.
func settle(t *testing.T, dir string) {
	t.Helper()
	last := ""
	for range 200 {
		mems, _ := filepath.Glob(filepath.Join(dir, "*.mem"))
		es, _ := os.ReadDir(dir)
		var b strings.Builder
		for _, e := range es {
			fi, _ := e.Info()
			fmt.Fprintf(&b, "%s %d %d\n", e.Name(), fi.Size(), allocatedBytes(filepath.Join(dir, e.Name())))
		}
		if len(mems) <= 1 && b.String() == last {
			return
		}
		last = b.String()
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatal("the store did not settle")
}
