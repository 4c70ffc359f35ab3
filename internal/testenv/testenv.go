// Package testenv holds the one rule for tests that need something from
// outside the repository (a PostgreSQL server, a browser, root for a tmpfs,
// the conformance corpus in ../shared): on a developer's machine without it
// the test skips and says how to get it; in CI (CI=true), where .ci/run
// installs or provides it, its absence fails the test, so a green CI run
// never hides a test that did not run.
package testenv

import (
	"os"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing stops t because what it needs is not there: a failure under
// CI=true, a skip elsewhere. The message says what is missing and how to get
// it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true, and this test cannot run: "+format, args...)
	}
	t.Skipf(format+" (under CI=true this is a failure)", args...)
}
