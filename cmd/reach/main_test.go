package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reach-authz/reach/internal/pgtest"
)

// reach runs the CLI in-process and returns its exit status, stdout and stderr.
func reach(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestRootUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"unknown flag", []string{"--frob"}, "unknown flag"},
		{"bad output", []string{"--output", "xml", "help"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := reach(t, "", tt.args...)
			if tt.want != "" && code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.want)
			}
		})
	}
}

func init() {
	// The tests never see the contexts (contexts.go) of whoever runs them:
	// a configuration directory that does not exist holds none. (The
	// tests of contexts set one of their own.)
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(os.TempDir(), fmt.Sprintf("reach-test-no-config-%d", os.Getpid())))
}

// TestMain stops the PostgreSQL clusters the multi-node tests start.
func TestMain(m *testing.M) { pgtest.Main(m) }
