package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

const checkTestSchema = `
definition user {}

definition group {
	relation member: user | group#member
}

definition folder {
	relation parent: folder
	relation viewer: user | group#member
	permission view = viewer + parent->view
}

definition document {
	relation parent: folder
	relation reader: user | user:* | group#member
	relation banned: user
	permission view = reader + parent->view - banned
}
`

// checkTestStore writes the schema and relationships into a store in a new
// data directory, directly through the tuples package, and returns the
// directory and the token of the write.
func checkTestStore(t *testing.T, rels ...string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := tuples.Open(dir, tuples.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	rev, _, err := st.WriteSchema(ctx, "schema.zed", []byte(checkTestSchema))
	if err != nil {
		t.Fatal(err)
	}
	var ups []tuples.Update
	for _, s := range rels {
		r, err := tuples.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, tuples.Update{Op: tuples.Touch, Relationship: r})
	}
	if len(ups) > 0 {
		if rev, err = st.Write(ctx, ups); err != nil {
			t.Fatal(err)
		}
	}
	return dir, rev.Token()
}

var checkTestData = []string{
	"group:eng#member@user:ana",
	"folder:root#viewer@group:eng#member",
	"folder:sub#parent@folder:root",
	"document:q3#parent@folder:sub",
	"document:q3#banned@user:bob",
	"group:eng#member@user:bob",
	"document:pub#reader@user:*",
	"document:pub#banned@user:bob",
}

func TestCheckCommand(t *testing.T) {
	dir, token := checkTestStore(t, checkTestData...)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // the whole of stdout when exact, else a part of it
		exact    bool
		inStderr string
	}{
		{"allowed", []string{"check", "document:q3", "view", "user:ana"}, exitOK, "allowed\n", true, ""},
		{"denied by exclusion", []string{"check", "document:q3", "view", "user:bob"}, exitNo, "denied\n", true, ""},
		{"denied stranger", []string{"check", "document:q3", "view", "user:zed"}, exitNo, "denied\n", true, ""},
		{"subject set", []string{"check", "folder:sub", "view", "group:eng#member"}, exitOK, "allowed\n", true, ""},
		{"wildcard", []string{"check", "document:pub", "view", "user:anyone"}, exitOK, "allowed\n", true, ""},
		{"relation", []string{"check", "group:eng", "member", "user:ana"}, exitOK, "allowed\n", true, ""},
		{"fully consistent", []string{"check", "document:q3", "view", "user:ana", "--consistency", "fully_consistent"}, exitOK, "allowed\n", true, ""},
		{"exact snapshot", []string{"check", "document:q3", "view", "user:ana", "--consistency", "at_exact_snapshot", "--revision", token}, exitOK, "allowed\n", true, ""},
		{"token alone means at least as fresh", []string{"check", "document:q3", "view", "user:ana", "--revision", token}, exitOK, "allowed\n", true, ""},
		{"explain allowed", []string{"check", "document:q3", "view", "user:ana", "--explain"}, exitOK,
			"allowed\nallowed     document:q3#view (permission)\n", false, ""},
		{"explain shows the path", []string{"check", "document:q3", "view", "user:ana", "--explain"}, exitOK,
			"folder:root#viewer@group:eng#member", false, ""},
		{"explain denied", []string{"check", "document:q3", "view", "user:bob", "--explain"}, exitNo,
			"allowed     document:q3#banned@user:bob", false, ""},
		{"explain dot", []string{"check", "document:q3", "view", "user:ana", "--explain", "--format", "dot"}, exitOK,
			"digraph explanation {", false, ""},
		{"unknown permission", []string{"check", "document:q3", "frobnicate", "user:ana"}, exitError3, "", true, "frobnicate"},
		{"unknown type", []string{"check", "robot:r2", "view", "user:ana"}, exitError3, "", true, "robot"},
		{"wildcard subject", []string{"check", "document:q3", "view", "user:*"}, exitError3, "", true, "wildcard"},
		{"future token", []string{"check", "document:q3", "view", "user:ana", "--revision", tuples.Revision(999).Token()}, exitError3, "", true, "beyond the head"},
		{"bad token", []string{"check", "document:q3", "view", "user:ana", "--revision", "###"}, exitError3, "", true, "invalid consistency token"},
		{"bad resource", []string{"check", "document", "view", "user:ana"}, exitUsage, "", true, "RESOURCE"},
		{"bad subject", []string{"check", "document:q3", "view", "user"}, exitUsage, "", true, "SUBJECT"},
		{"too few arguments", []string{"check", "document:q3", "view"}, exitUsage, "", true, "accepts 3 arg"},
		{"bad consistency", []string{"check", "document:q3", "view", "user:ana", "--consistency", "eventual"}, exitUsage, "", true, "unknown consistency"},
		{"missing token", []string{"check", "document:q3", "view", "user:ana", "--consistency", "at_exact_snapshot"}, exitUsage, "", true, "needs --revision"},
		{"token with the wrong mode", []string{"check", "document:q3", "view", "user:ana", "--consistency", "fully_consistent", "--revision", token}, exitUsage, "", true, "--revision goes with"},
		{"bad format", []string{"check", "document:q3", "view", "user:ana", "--explain", "--format", "svg"}, exitUsage, "", true, "--format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append(tt.args, "--data-dir", dir)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tt.code, stdout, stderr)
			}
			if tt.exact && stdout != tt.stdout || !tt.exact && !strings.Contains(stdout, tt.stdout) {
				t.Errorf("stdout %q, want %q", stdout, tt.stdout)
			}
			if !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.inStderr)
			}
			if code != exitOK && code != exitNo && stdout != "" {
				t.Errorf("an error printed on stdout: %q", stdout)
			}
		})
	}
}

func TestCheckCommandJSON(t *testing.T) {
	dir, token := checkTestStore(t, checkTestData...)
	for _, tt := range []struct {
		subject string
		code    int
		want    string
	}{{"user:ana", exitOK, "allowed"}, {"user:bob", exitNo, "denied"}} {
		code, stdout, stderr := reach(t, "", "check", "document:q3", "view", tt.subject, "--explain", "-o", "json", "--data-dir", dir)
		if code != tt.code {
			t.Fatalf("%s: exit %d (stderr %q)", tt.subject, code, stderr)
		}
		var got struct {
			Permissionship string
			Allowed        bool
			Token          string
			Explanation    struct {
				Rule, Result string
				Children     []json.RawMessage
			}
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%s: %v in %q", tt.subject, err, stdout)
		}
		if got.Permissionship != tt.want || got.Allowed != (tt.want == "allowed") || got.Token != token ||
			got.Explanation.Rule != "permission" || got.Explanation.Result != tt.want || len(got.Explanation.Children) == 0 {
			t.Errorf("%s: %+v", tt.subject, got)
		}
	}
	code, stdout, _ := reach(t, "", "check", "document:q3", "view", "user:ana", "--explain", "--format", "dot", "-o", "json", "--data-dir", dir)
	if code != exitOK || !strings.Contains(stdout, `"dot": "digraph explanation`) {
		t.Errorf("json with dot: exit %d, %s", code, stdout)
	}
}

func TestCheckCommandNoSchema(t *testing.T) {
	code, stdout, stderr := reach(t, "", "check", "document:q3", "view", "user:ana", "--data-dir", t.TempDir())
	if code != exitError3 || stdout != "" || !strings.Contains(stderr, "no schema") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestExpandCommand(t *testing.T) {
	dir, token := checkTestStore(t, checkTestData...)
	code, stdout, stderr := reach(t, "", "expand", "document:q3", "view", "--data-dir", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := `exclusion document:q3#view
  union
    leaf document:q3#reader
    union parent->view
      union folder:sub#view
        leaf folder:sub#viewer
        union parent->view
          union folder:root#view
            leaf folder:root#viewer
              group:eng#member
            union parent->view
  leaf document:q3#banned
    user:bob
`
	if stdout != want {
		t.Errorf("got\n%s\nwant\n%s", stdout, want)
	}
	code, stdout, _ = reach(t, "", "expand", "group:eng", "member", "-o", "json", "--data-dir", dir)
	var got struct {
		Token string
		Tree  struct {
			Op, Resource, Relation string
			Subjects               []struct{ Subject string }
		}
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v: %s", code, err, stdout)
	}
	if got.Token != token || got.Tree.Op != "leaf" || got.Tree.Resource != "group:eng" || len(got.Tree.Subjects) != 2 ||
		got.Tree.Subjects[0].Subject != "user:ana" {
		t.Errorf("json: %+v", got)
	}
	for _, args := range [][]string{{"expand", "document:q3"}, {"expand", "q3", "view"}} {
		if code, _, _ := reach(t, "", append(args, "--data-dir", dir)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, stderr := reach(t, "", "expand", "document:q3", "nope", "--data-dir", dir); code != exitError3 || !strings.Contains(stderr, "nope") {
		t.Errorf("unknown permission: exit %d, %q", code, stderr)
	}
}

func TestLookupResourcesCommand(t *testing.T) {
	rels := append([]string{}, checkTestData...)
	for _, d := range []string{"d1", "d2", "d3", "d4", "d5"} {
		rels = append(rels, "document:"+d+"#reader@user:ana")
	}
	dir, _ := checkTestStore(t, rels...)
	code, stdout, stderr := reach(t, "", "lookup", "resources", "document", "view", "user:ana", "--data-dir", dir)
	if code != exitOK || stdout != "d1\nd2\nd3\nd4\nd5\npub\nq3\n" || stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = reach(t, "", "lookup", "resources", "document", "view", "user:bob", "--data-dir", dir)
	if code != exitOK || stdout != "" {
		t.Errorf("bob: exit %d, stdout %q", code, stdout)
	}
	// Pages of three, continued with the cursor printed on stderr.
	var all []string
	args := []string{"lookup", "resources", "document", "view", "user:ana", "--limit", "3", "--data-dir", dir}
	for page := 0; ; page++ {
		code, stdout, stderr := reach(t, "", args...)
		if code != exitOK || page > 5 {
			t.Fatalf("page %d: exit %d, %q", page, code, stderr)
		}
		all = append(all, strings.Fields(stdout)...)
		cur, ok := strings.CutPrefix(strings.TrimSpace(stderr), "next cursor: ")
		if !ok {
			break
		}
		args = append(args[:len(args):len(args)], "--cursor", cur)
	}
	if strings.Join(all, " ") != "d1 d2 d3 d4 d5 pub q3" {
		t.Errorf("pages: %v", all)
	}
	code, stdout, _ = reach(t, "", "lookup", "resources", "document", "view", "user:ana", "--limit", "2", "-o", "json", "--data-dir", dir)
	var got struct {
		Resources []struct{ ID, Permissionship string }
		Cursor    string
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK || len(got.Resources) != 2 ||
		got.Resources[1].ID != "d2" || got.Resources[1].Permissionship != "allowed" || got.Cursor == "" {
		t.Errorf("json: exit %d, %v, %+v", code, err, got)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"lookup", "resources", "document", "view"}, exitUsage},
		{[]string{"lookup", "resources", "document:q3", "view", "user:ana"}, exitUsage},
		{[]string{"lookup", "resources", "document", "view", "ana"}, exitUsage},
		{[]string{"lookup", "resources", "document", "view", "user:ana", "--limit", "-1"}, exitUsage},
		{[]string{"lookup", "resources", "document", "view", "user:ana", "--cursor", "bogus"}, exitError3},
		{[]string{"lookup", "resources", "robot", "view", "user:ana"}, exitError3},
	} {
		if code, _, stderr := reach(t, "", append(tt.args, "--data-dir", dir)...); code != tt.code || stderr == "" {
			t.Errorf("%v: exit %d (want %d), stderr %q", tt.args, code, tt.code, stderr)
		}
	}
}

func TestLookupSubjectsCommand(t *testing.T) {
	dir, token := checkTestStore(t, checkTestData...)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"document:q3", "view", "user"}, "user:ana\n"},
		{[]string{"document:pub", "view", "user"}, "user:* - {user:bob}\n"},
		{[]string{"folder:sub", "view", "group#member"}, "group:eng#member\n"},
		{[]string{"document:nothing", "view", "user"}, ""},
	}
	for _, tt := range tests {
		code, stdout, stderr := reach(t, "", append(append([]string{"lookup", "subjects"}, tt.args...), "--data-dir", dir)...)
		if code != exitOK || stdout != tt.want {
			t.Errorf("%v: exit %d, stdout %q (stderr %q), want %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
	code, stdout, _ := reach(t, "", "lookup", "subjects", "document:pub", "view", "user", "-o", "json", "--data-dir", dir)
	var got struct {
		Subjects []struct {
			Subject, Permissionship string
			Excluded                []string
		}
		Token string
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK || len(got.Subjects) != 1 ||
		got.Subjects[0].Subject != "user:*" || strings.Join(got.Subjects[0].Excluded, ",") != "user:bob" || got.Token != token {
		t.Errorf("json: exit %d, %v, %+v", code, err, got)
	}
	for _, args := range [][]string{
		{"lookup", "subjects", "document:q3", "view"},
		{"lookup", "subjects", "document", "view", "user"},
		{"lookup", "subjects", "document:q3", "view", "user:ana"},
		{"lookup", "subjects", "document:q3", "view", "group#"},
	} {
		if code, _, _ := reach(t, "", append(args, "--data-dir", dir)...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, stderr := reach(t, "", "lookup", "subjects", "document:q3", "view", "robot", "--data-dir", dir); code != exitError3 || !strings.Contains(stderr, "robot") {
		t.Errorf("unknown subject type: exit %d, %q", code, stderr)
	}
}
