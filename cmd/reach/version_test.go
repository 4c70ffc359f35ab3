package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "v9.9.9-test" // as -ldflags "-X main.version=..." sets it
	goLine := "go:     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"

	code, stdout, stderr := reach(t, "", "version")
	if code != exitOK || !strings.HasPrefix(stdout, "reach v9.9.9-test\ncommit: ") || !strings.HasSuffix(stdout, goLine) {
		t.Errorf("reach version: exit %d, stdout %q (stderr %q)", code, stdout, stderr)
	}

	code, stdout, _ = reach(t, "", "--version")
	if code != exitOK || !strings.HasPrefix(stdout, "reach v9.9.9-test (") || !strings.Contains(stdout, runtime.Version()) || strings.Count(stdout, "\n") != 1 {
		t.Errorf("reach --version: exit %d, stdout %q", code, stdout)
	}

	code, stdout, _ = reach(t, "", "-o", "json", "version")
	var v versionInfo
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != exitOK {
		t.Fatalf("reach -o json version: exit %d, %v: %q", code, err, stdout)
	}
	if v.Version != "v9.9.9-test" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("reach -o json version: %+v", v)
	}

	version = ""
	if code, stdout, _ := reach(t, "", "version"); code != exitOK || strings.HasPrefix(stdout, "reach \n") {
		t.Errorf("unstamped: exit %d, stdout %q: want the module version or (devel)", code, stdout)
	}
}

func TestVersionShort(t *testing.T) {
	v := versionInfo{Version: "v1.2.0", Commit: "0123456789abcdef0123", Modified: true, Go: "go1.26.8", Platform: "linux/arm64"}
	if got, want := v.short(), "reach v1.2.0 (commit 0123456789ab+modified, go1.26.8 linux/arm64)"; got != want {
		t.Errorf("short() = %q, want %q", got, want)
	}
	var b bytes.Buffer
	v.writeText(&b)
	if want := "reach v1.2.0\ncommit: 0123456789abcdef0123 (modified: built with uncommitted changes)\ngo:     go1.26.8 linux/arm64\n"; b.String() != want {
		t.Errorf("writeText:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestReleaseReproducible builds the current commit with scripts/release.sh
// twice, from two clones at different paths, for linux/amd64, and requires
// byte-identical binaries that report the version stamp and the commit.
// (About a minute: run without -short.)
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds reach twice")
	}
	for _, tool := range []string{"git", "go", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	run := func(dir string, env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	top := run(".", nil, "git", "rev-parse", "--show-toplevel")
	commit := run(".", nil, "git", "rev-parse", "HEAD")
	const stamp = "v0.0.0-reproducible"
	var bins [2][]byte
	for i, sub := range []string{"a", "elsewhere/b"} {
		dir := filepath.Join(t.TempDir(), sub)
		run(".", nil, "git", "clone", "-q", "--shared", "--no-checkout", top, dir)
		run(dir, nil, "git", "checkout", "-q", "--detach", commit)
		run(dir, []string{"PLATFORMS=linux/amd64", "DIST=dist"}, "sh", "scripts/release.sh", stamp)
		bin := filepath.Join(dir, "dist", "reach-"+stamp+"-linux-amd64")
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		bins[i] = b
		sums, err := os.ReadFile(filepath.Join(dir, "dist", "SHA256SUMS"))
		if err != nil || !strings.Contains(string(sums), "reach-"+stamp+"-linux-amd64") {
			t.Errorf("SHA256SUMS: %v %q", err, sums)
		}
		if i == 0 && runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
			out := run(dir, nil, bin, "version")
			if !strings.HasPrefix(out, "reach "+stamp+"\ncommit: "+commit+", ") || strings.Contains(out, "modified") {
				t.Errorf("reach version of the release build:\n%s\nwant %s at %s, not modified", out, stamp, commit)
			}
		}
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Errorf("two builds of %s differ (%d and %d bytes)", commit, len(bins[0]), len(bins[1]))
	}
}
