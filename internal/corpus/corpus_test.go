package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recorder is a testing.TB that records a Fatalf or Skipf and stops the
// function under test there, as the testing package does.
type recorder struct {
	testing.TB
	fatal, skip string
}

type stopped struct{}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	panic(stopped{})
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skip = fmt.Sprintf(format, args...)
	panic(stopped{})
}

// run calls f with a recorder and returns it once f returns or stops.
func run(f func(testing.TB)) (r *recorder) {
	r = &recorder{}
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(stopped); !ok {
				panic(v)
			}
		}
	}()
	f(r)
	return r
}

// Under CI=true a missing corpus fails the test; elsewhere it skips it.
func TestAbsent(t *testing.T) {
	t.Setenv("CI", "true")
	if r := run(func(tb testing.TB) { Absent(tb, "no %s", "corpus") }); r.fatal == "" || r.skip != "" {
		t.Errorf("CI=true: fatal %q, skip %q; want a failure", r.fatal, r.skip)
	}
	t.Setenv("CI", "")
	if r := run(func(tb testing.TB) { Absent(tb, "no %s", "corpus") }); r.skip == "" || r.fatal != "" {
		t.Errorf("CI unset: fatal %q, skip %q; want a skip", r.fatal, r.skip)
	}
}

// Fewer files than asked for is a missing corpus, not only none: a corpus
// that lost files must not pass for a whole one.
func TestGlobCountsFiles(t *testing.T) {
	t.Setenv("CI", "true")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pattern := filepath.Join(dir, "*.yaml")
	var files []string
	if r := run(func(tb testing.TB) { files = Glob(tb, pattern, 1) }); r.fatal != "" || len(files) != 1 {
		t.Errorf("one file, at least one wanted: %v, fatal %q", files, r.fatal)
	}
	if r := run(func(tb testing.TB) { Glob(tb, pattern, 2) }); r.fatal == "" {
		t.Error("one file, at least two wanted: no failure under CI=true")
	}
	if r := run(func(tb testing.TB) { Glob(tb, filepath.Join(dir, "*.none"), 1) }); r.fatal == "" {
		t.Error("no file: no failure under CI=true")
	}
}

func TestDir(t *testing.T) {
	t.Setenv("CI", "true")
	dir := t.TempDir()
	if r := run(func(tb testing.TB) { Dir(tb, dir) }); r.fatal != "" {
		t.Errorf("existing directory: %q", r.fatal)
	}
	if r := run(func(tb testing.TB) { Dir(tb, filepath.Join(dir, "moved")) }); r.fatal == "" {
		t.Error("missing directory: no failure under CI=true")
	}
}
