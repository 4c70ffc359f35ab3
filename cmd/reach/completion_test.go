package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletion: check, expand and lookup complete types, ids,
// permissions and subjects from the store's schema and relationships.
func TestCompletion(t *testing.T) {
	dir, _ := checkTestStore(t, checkTestData...)
	types := []string{"user:\ttype", "group:\ttype", "folder:\ttype", "document:\ttype"}
	docMembers := []string{"parent\trelation", "reader\trelation", "banned\trelation", "view\tpermission"}
	tests := []struct {
		args []string
		want []string // the completions, in order, then the directive
	}{
		{[]string{"check", ""}, append(types, ":6")},
		{[]string{"check", "doc"}, []string{"document:\ttype", ":6"}},
		{[]string{"check", "document:"}, []string{"document:pub", "document:q3", ":4"}},
		{[]string{"check", "document:q"}, []string{"document:q3", ":4"}},
		{[]string{"check", "nosuch:"}, []string{":4"}},
		{[]string{"check", "document:q3", ""}, append(docMembers, ":4")},
		{[]string{"check", "document:q3", "v"}, []string{"view\tpermission", ":4"}},
		{[]string{"check", "document:q3", "view", "user:"}, []string{"user:ana", "user:bob", ":4"}},
		{[]string{"check", "document:q3", "view", "group:eng#"}, []string{"group:eng#member\trelation", ":4"}},
		{[]string{"check", "document:q3", "view", "user:ana", ""}, []string{":4"}},
		{[]string{"expand", "folder:root", ""}, []string{"parent\trelation", "viewer\trelation", "view\tpermission", ":4"}},
		{[]string{"lookup", "resources", "f"}, []string{"folder\ttype", ":4"}},
		{[]string{"lookup", "resources", "document", "vi"}, []string{"view\tpermission", ":4"}},
		{[]string{"lookup", "resources", "document", "view", "group:"}, []string{"group:eng", ":4"}},
		{[]string{"lookup", "subjects", "folder:"}, []string{"folder:root", "folder:sub", ":4"}},
		{[]string{"lookup", "subjects", "document:q3", "view", "group#"}, []string{"group#member\trelation", ":4"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"__complete", "--data-dir", dir}, tt.args...)...)
			want := strings.Join(tt.want, "\n") + "\n"
			if code != exitOK || stdout != want {
				t.Errorf("exit %d, completions\n%s\nwant\n%s(stderr %q)", code, stdout, want, stderr)
			}
		})
	}

	// From a --file; and nothing (and no directory created) without a store.
	code, stdout, _ := reach(t, "", "__complete", "check", "--file", vdir+"caveat.yaml", "document:")
	if code != exitOK || stdout != "document:doc\n:4\n" {
		t.Errorf("--file: exit %d, %q", code, stdout)
	}
	nosuch := filepath.Join(t.TempDir(), "nosuch")
	code, stdout, _ = reach(t, "", "__complete", "--data-dir", nosuch, "check", "")
	if code != exitOK || stdout != ":4\n" {
		t.Errorf("no store: exit %d, %q", code, stdout)
	}
	if m, _ := filepath.Glob(nosuch); len(m) > 0 {
		t.Errorf("completion created %s", nosuch)
	}
}

// TestCompletionRemote: with --endpoint, completion reads the server's
// schema and relationships.
func TestCompletionRemote(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	remote := []string{"--endpoint", startRemote(t), "--token", remoteTestKey}
	if code, _, stderr := reach(t, checkTestSchema, append(remote, "schema", "write", "-")...); code != exitOK {
		t.Fatal(stderr)
	}
	if code, _, stderr := reach(t, "", append(remote, "tuple", "write", "document:q3#reader@user:ana", "document:q4#reader@user:bob")...); code != exitOK {
		t.Fatal(stderr)
	}
	for args, want := range map[string]string{
		"check document:":              "document:q3\ndocument:q4\n:4\n",
		"check document:q3 v":          "view\tpermission\n:4\n",
		"check document:q3 view u":     "user:\ttype\n:6\n",
		"check document:q3 view user:": "user:ana\nuser:bob\n:4\n",
	} {
		code, stdout, stderr := reach(t, "", append(append([]string{"__complete"}, remote...), strings.Fields(args)...)...)
		if code != exitOK || stdout != want {
			t.Errorf("%s: exit %d, %q, want %q (stderr %q)", args, code, stdout, want, stderr)
		}
	}
}
