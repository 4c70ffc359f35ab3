package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONKeepsArrows: no -o json output escapes ->, < or & (as
// encoding/json does by default, for HTML).
func TestJSONKeepsArrows(t *testing.T) {
	dir, _ := checkTestStore(t, checkTestData...)
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad.zed")
	if err := os.WriteFile(bad, []byte("definition user {}\ndefinition doc {\n\trelation parent: user\n\tpermission view = parent->nosuch\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	failing := filepath.Join(tmp, "failing.yaml")
	if err := os.WriteFile(failing, []byte(`schema: |-
  definition user {}
  definition folder {
    relation viewer: user
  }
  definition doc {
    relation parent: folder
    permission view = parent->viewer
  }
relationships: |-
  doc:1#parent@folder:f
assertions:
  assertTrue:
    - doc:1#view@user:ana
`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // what the output holds, unescaped
	}{
		{[]string{"--data-dir", dir, "-o", "json", "check", "document:q3", "view", "user:ana", "--explain"}, "parent->view"},
		{[]string{"--data-dir", dir, "-o", "json", "expand", "document:q3", "view"}, "parent->view"},
		{[]string{"--data-dir", dir, "-o", "json", "schema", "read"}, "parent->view"},
		{[]string{"-o", "json", "schema", "validate", bad}, "parent->nosuch"},
		{[]string{"-o", "json", "validate", failing}, "parent->viewer"},
	}
	for _, tt := range tests {
		args := tt.args
		_, stdout, stderr := reach(t, "", args...)
		if !strings.Contains(stdout, tt.want) {
			t.Errorf("reach %s: no %s in the output %q (stderr %q)", strings.Join(args, " "), tt.want, stdout, stderr)
		}
		for _, esc := range []string{`\u003e`, `\u003c`, `\u0026`} {
			if strings.Contains(stdout, esc) {
				t.Errorf("reach %s: %s in the output:\n%s", strings.Join(args, " "), esc, stdout)
			}
		}
	}
}

// TestSchemaReadEndsWithNewline: schema read ends its text with a newline,
// locally and from a server (which does not keep the final one), even when
// the schema written had none.
func TestSchemaReadEndsWithNewline(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	addr := startRemote(t)
	const want = "definition user {}\n"
	for _, src := range []string{want, strings.TrimSuffix(want, "\n")} {
		for _, where := range [][]string{
			{"--data-dir", t.TempDir()},
			{"--endpoint", addr, "--token", remoteTestKey},
		} {
			if code, _, stderr := reach(t, src, append(where, "schema", "write", "-")...); code != exitOK {
				t.Fatalf("%v: schema write: exit %d: %s", where, code, stderr)
			}
			code, stdout, stderr := reach(t, "", append(where, "schema", "read")...)
			if code != exitOK || stdout != want {
				t.Errorf("%v: schema read of %q: exit %d, stdout %q, want %q (stderr %q)", where, src, code, stdout, want, stderr)
			}
		}
	}
}

// TestSmallImportOneLine: an import of one batch prints one summary line
// (and the revision), with no progress lines and no rate.
func TestSmallImportOneLine(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := reach(t, "", "--data-dir", dir, "schema", "write", tdir+"docs.zed"); code != exitOK {
		t.Fatal(stderr)
	}
	code, stdout, stderr := reach(t, "", "--data-dir", dir, "tuple", "import", tdir+"rels.txt")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 2 || lines[0] != "imported: 6 relationships (9 lines)" || !strings.HasPrefix(lines[1], "revision: ") {
		t.Errorf("stdout %q, want the summary and the revision", stdout)
	}
	if stderr != "" {
		t.Errorf("stderr %q, want nothing", stderr)
	}
}
