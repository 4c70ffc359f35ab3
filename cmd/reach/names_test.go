package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUndefinedNames: every command that names a type, relation or
// permission the schema lacks says so in one wording, with the nearest
// name, and with its usual exit status.
func TestUndefinedNames(t *testing.T) {
	dir, _ := checkTestStore(t, checkTestData...)
	lines := filepath.Join(t.TempDir(), "rels.txt")
	if err := os.WriteFile(lines, []byte("group:eng#member@user:cy\ndocument:q9#raeder@user:ana\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args string
		code int
		want string
	}{
		{"check document:q3 veiw user:ana", exitError3, `relation or permission "veiw" is not defined on type "document" (did you mean "view"?)`},
		{"check documnt:q3 view user:ana", exitError3, `type "documnt" is not defined in the schema (did you mean "document"?)`},
		{"check document:q3 view usr:ana", exitError3, `type "usr" is not defined in the schema (did you mean "user"?)`},
		{"check document:q3 view group:eng#membr", exitError3, `relation or permission "membr" is not defined on type "group" (did you mean "member"?)`},
		{"check document:q3 view group:eng#membr --explain", exitError3, `(did you mean "member"?)`},
		{"expand document:q3 veiw", exitError3, `relation or permission "veiw" is not defined on type "document" (did you mean "view"?)`},
		{"lookup resources documnt view user:ana", exitError3, `type "documnt" is not defined in the schema (did you mean "document"?)`},
		{"lookup resources document view usr:ana", exitError3, `type "usr" is not defined in the schema (did you mean "user"?)`},
		{"lookup subjects document:q3 veiw user", exitError3, `relation or permission "veiw" is not defined on type "document" (did you mean "view"?)`},
		{"lookup subjects document:q3 view usr", exitError3, `type "usr" is not defined in the schema (did you mean "user"?)`},
		{"lookup subjects document:q3 view group#membr", exitError3, `relation or permission "membr" is not defined on type "group" (did you mean "member"?)`},
		{"matrix document:q3 --permissions veiw --subjects user:ana", exitUsage, `relation or permission "veiw" is not defined on type "document" (did you mean "view"?)`},
		{"tuple write document:q3#raeder@user:ana", exitNo, `relationship document:q3#raeder@user:ana: relation "raeder" is not defined on type "document" (did you mean "reader"?); nothing was written`},
		{"tuple write documnt:q3#reader@user:ana", exitNo, `type "documnt" is not defined in the schema (did you mean "document"?)`},
		{"tuple write document:q3#reader@usr:ana", exitNo, `type "usr" is not defined in the schema (did you mean "user"?)`},
		{"tuple write document:q3#reader@group:eng#membr", exitNo, `relation or permission "membr" is not defined on type "group" (did you mean "member"?)`},
		{"tuple write document:q3#reader@user:ana[on_weekday]", exitNo, `caveat "on_weekday" is not defined in the schema; nothing was written`},
		{"tuple import --progress none " + lines, exitNo, lines + `:2: relationship document:q9#raeder@user:ana: relation "raeder" is not defined on type "document" (did you mean "reader"?)`},
		{"tuple read document#raeder", exitUsage, `relation "raeder" is not defined on type "document" (did you mean "reader"?)`},
		{"tuple read documnt", exitUsage, `type "documnt" is not defined in the schema (did you mean "document"?)`},
		{"tuple read @usr:ana", exitUsage, `type "usr" is not defined in the schema (did you mean "user"?)`},
		{"tuple read document#view", exitUsage, `"view" is a permission of type "document", not a relation: relationships are stored on relations (parent, reader, banned)`},
		{"tuple export documnt", exitUsage, `type "documnt" is not defined in the schema (did you mean "document"?)`},
		{"tuple delete --filter documnt:q*", exitUsage, `type "documnt" is not defined in the schema (did you mean "document"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"--data-dir", dir}, strings.Fields(tt.args)...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stdout %q)", code, tt.code, stdout)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q\ndoes not hold %q", stderr, tt.want)
			}
		})
	}
	// Nothing was written or deleted.
	if _, stdout, _ := reach(t, "", "--data-dir", dir, "tuple", "read", "group"); stdout != "group:eng#member@user:ana\ngroup:eng#member@user:bob\n" {
		t.Errorf("the store changed: %q", stdout)
	}
}

// TestNoSchemaYet: before any schema, the commands say how to write one,
// naming the data directory.
func TestNoSchemaYet(t *testing.T) {
	dir := t.TempDir()
	want := "no schema has been written to " + dir + ": write one with `reach schema write FILE`"
	tests := []struct {
		args string
		code int
	}{
		{"check document:q3 view user:ana", exitError3},
		{"expand document:q3 view", exitError3},
		{"lookup resources document view user:ana", exitError3},
		{"lookup subjects document:q3 view user", exitError3},
		{"matrix document --subjects user:ana", exitError3},
		{"schema read", exitNo},
		{"tuple write document:q3#reader@user:ana", exitNo},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			code, _, stderr := reach(t, "", append([]string{"--data-dir", dir}, strings.Fields(tt.args)...)...)
			if code != tt.code || !strings.Contains(stderr, want) {
				t.Errorf("exit %d (want %d), stderr %q\nwant %q", code, tt.code, stderr, want)
			}
		})
	}
}

// TestReadCommandsDoNotCreateDataDir: a read command given a --data-dir
// that does not exist says so (and how to create one) and leaves it
// uncreated; a write command creates it.
func TestReadCommandsDoNotCreateDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nosuch")
	for _, args := range []string{
		"check document:q3 view user:ana",
		"check document:q3 view user:ana --explain",
		"expand document:q3 view",
		"lookup resources document view user:ana",
		"lookup subjects document:q3 view user",
		"matrix document --subjects user:ana",
		"schema read",
		"tuple read",
		"tuple export",
	} {
		t.Run(args, func(t *testing.T) {
			code, _, stderr := reach(t, "", append([]string{"--data-dir", dir}, strings.Fields(args)...)...)
			want := "the data directory " + dir + " does not exist (nothing has been written there): write a schema to create it, reach schema write FILE --data-dir " + dir
			if code != exitError3 || !strings.Contains(stderr, want) {
				t.Errorf("exit %d, stderr %q\nwant exit 3 and %q", code, stderr, want)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Fatalf("reach %s created %s", args, dir)
			}
		})
	}
	code, _, stderr := reach(t, "", "--data-dir", dir, "schema", "write", tdir+"docs.zed")
	if code != exitOK {
		t.Fatalf("schema write: exit %d: %s", code, stderr)
	}
	if code, _, stderr := reach(t, "", "--data-dir", dir, "check", "document:q3", "view", "user:ana"); code != exitNo {
		t.Errorf("check after schema write: exit %d: %s", code, stderr)
	}
}

// TestTupleDeleteFilterHint: a filter given to tuple delete as a
// relationship points to --filter.
func TestTupleDeleteFilterHint(t *testing.T) {
	dir, _ := checkTestStore(t)
	for _, arg := range []string{"document:q*", "document#reader", "document:q3#reader"} {
		code, _, stderr := reach(t, "", "--data-dir", dir, "tuple", "delete", arg)
		want := "is a filter, not a relationship: to delete the relationships it selects, use --filter '" + arg + "'"
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("tuple delete %s: exit %d, stderr %q; want 2 and %q", arg, code, stderr, want)
		}
	}
}
