package main

import (
	"strings"
	"testing"
)

const explainDir = "testdata/explain/"

// Issue 15: `reach --endpoint ... check --explain` prints exactly what the
// local command prints on the same data, as a tree, as Graphviz and as
// JSON, for allowed, denied and conditional checks: the server sends the
// engine's explanation as a debug trace and the client reads it back.
func TestRemoteExplainMatchesLocal(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	addr := startRemote(t)
	dir := t.TempDir()
	setup := []remoteStep{
		{args: "schema write " + explainDir + "explain.zed", stderr: true},
		{args: "tuple import --progress none " + explainDir + "rels.txt", stderr: true},
	}
	var steps []remoteStep
	for _, check := range []string{
		"document:q3 view user:ana",                                   // allowed: an arrow, two folders up, a group
		"document:q3 view user:bo",                                    // denied: banned
		"document:q3 view user:zed",                                   // denied: every branch tried
		"document:pub view user:zed",                                  // the wildcard
		"document:q3 review user:cy",                                  // intersection, nested groups
		"document:q5 twice user:nobody",                               // the same group twice (shared)
		"document:q3 every user:ana",                                  // .all
		"group:ring member user:nobody",                               // a cycle
		"group:eng member group:eng#member",                           // identity
		"document:q4 view user:eve",                                   // conditional
		"document:q5 view user:fay",                                   // conditional through a group
		"document:q4 reader user:eve --context {\"ip\":\"10.0.0.1\"}", // caveat true
		"document:q4 view user:eve --context {\"ip\":\"10.0.0.2\"}",   // caveat false
	} {
		for _, format := range []string{"", " --format dot", " -o json", " -o json --format dot"} {
			steps = append(steps, remoteStep{args: "check " + check + " --explain" + format, stderr: true})
		}
	}
	compareRemote(t, dir, addr, append(setup, steps...))

	// Not vacuous: the explanations are there.
	code, out, stderr := reach(t, "", "--endpoint", addr, "--token", remoteTestKey, "check", "document:q4", "view", "user:eve", "--explain")
	if code != exitNo {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"conditional", "missing context: ip", `document:q4#reader@user:eve[on_net:{"net":"10.0.0.1"}]`} {
		if !strings.Contains(out, want) {
			t.Errorf("remote explanation lacks %q:\n%s", want, out)
		}
	}
	code, out, stderr = reach(t, "", "--endpoint", addr, "--token", remoteTestKey, "check", "document:q5", "twice", "user:nobody", "--explain")
	if code != exitNo || !strings.Contains(out, "(as above)") {
		t.Errorf("exit %d, want a shared step (as above):\n%s%s", code, out, stderr)
	}
}
