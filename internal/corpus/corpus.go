// Package corpus finds the external material some tests read from
// ../shared beside the repository (SpiceDB's conformance corpus, the seed
// articles), and makes its absence loud where it matters: in CI (CI=true) a
// missing or empty corpus fails the test, so a moved path can never turn a
// green run into one that checked nothing. Elsewhere such a test skips with
// a message.
package corpus

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/reach-authz/reach/internal/testenv"
)

// Absent skips t, or fails it under CI=true, because what it reads is not
// there.
func Absent(t testing.TB, format string, args ...any) {
	t.Helper()
	testenv.Missing(t, "../shared beside the repository: "+format, args...)
}

// Glob returns the files matching pattern, at least min of them: fewer is
// Absent (a skip outside CI, a failure in it).
func Glob(t testing.TB, pattern string, min int) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatalf("glob %s: %v", pattern, err)
	}
	if len(files) < min {
		Absent(t, "%d files match %s, want at least %d", len(files), pattern, min)
	}
	return files
}

// Dir returns dir if it exists, else it is Absent.
func Dir(t testing.TB, dir string) string {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		Absent(t, "%s is not there: %v", dir, err)
	}
	return dir
}
