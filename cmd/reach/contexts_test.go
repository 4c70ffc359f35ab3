package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestContexts: named servers, set (both forms), listed, used by the
// commands when no server or local store is named, switched and removed.
func TestContexts(t *testing.T) {
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	local := filepath.Join(t.TempDir(), "local")
	t.Setenv("REACH_DATA_DIR", local)
	addr := startRemote(t)
	file := filepath.Join(config, "reach", "contexts.json")

	step := func(stdin string, code int, want string, args ...string) string {
		t.Helper()
		c, stdout, stderr := reach(t, stdin, args...)
		if c != code || !strings.Contains(stdout+stderr, want) {
			t.Errorf("reach %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(args, " "), c, stdout, stderr, code, want)
		}
		return stdout
	}

	step("", exitOK, "no contexts: commands work on the local store", "context", "list")
	// zed's positional form; the context is in use at once.
	step("", exitOK, "context dev saved and in use: commands talk to "+addr+" (plaintext: loopback)", "context", "set", "dev", addr, remoteTestKey)
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("contexts file: %v, mode %v; want 0600", err, info.Mode())
	}
	// The commands go to the server, not to --data-dir.
	step(checkTestSchema, exitOK, "revision:", "schema", "write", "-")
	step("", exitOK, "revision:", "tuple", "write", "document:q3#reader@user:ana")
	step("", exitOK, "allowed", "check", "document:q3", "view", "user:ana")
	step("", exitOK, "definition document", "--endpoint", addr, "--token", remoteTestKey, "schema", "read")
	if _, err := os.Stat(local); err == nil {
		t.Errorf("a command with a context in use wrote into --data-dir")
	}
	// --data-dir names the local store: the context is not used.
	step("", exitError3, "the data directory "+local+" does not exist", "--data-dir", local, "check", "document:q3", "view", "user:ana")
	// --token overrides the context's.
	step("", exitError3, "refused the API key", "--token", "wrong", "check", "document:q3", "view", "user:ana")
	// Local-only commands ignore the context.
	step("", exitOK, "passed", "validate", vdir+"pass.yaml")

	// The flag form, with a CA file; the new context is in use.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("not read until used"), 0o644); err != nil {
		t.Fatal(err)
	}
	step("", exitOK, "context prod saved and in use: commands talk to reach.example.com:443 (TLS, CA "+ca+")",
		"context", "set", "prod", "--endpoint", "reach.example.com:443", "--token", "secret", "--ca-cert", ca)
	out := step("", exitOK, "", "context", "list")
	for _, want := range []string{"CURRENT  NAME  ENDPOINT", "*        prod  reach.example.com:443  <redacted>", "         dev   " + addr + "        <redacted>"} {
		if !strings.Contains(out, want) {
			t.Errorf("context list:\n%s\nlacks %q", out, want)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("context list shows a key:\n%s", out)
	}
	out = step("", exitOK, "", "-o", "json", "context", "list", "--reveal-tokens")
	var list struct {
		Current  string
		Contexts []contextJSON
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Current != "prod" || len(list.Contexts) != 2 || list.Contexts[1].Token != "secret" || list.Contexts[1].CACert != ca {
		t.Errorf("-o json context list --reveal-tokens: %v %+v", err, list)
	}

	step("", exitOK, "context dev in use: commands talk to "+addr, "context", "use", "dev")
	step("", exitOK, "allowed", "check", "document:q3", "view", "user:ana")
	step("", exitUsage, `no context "dve" (did you mean "dev"?); the contexts are dev, prod`, "context", "use", "dve")
	step("", exitOK, "context dev removed; it was in use: commands work on the local store now", "context", "remove", "dev")
	step("", exitError3, "the data directory "+local+" does not exist", "check", "document:q3", "view", "user:ana")
	step("", exitOK, "context prod in use", "context", "use", "prod")
	step("", exitOK, "no context in use: commands work on the local store", "context", "use", "--none")
	step("", exitUsage, `no context "dev"`, "context", "remove", "dev")

	// Usage errors.
	for _, args := range [][]string{
		{"context", "set", "x"},
		{"context", "set", "x", "nohostport"},
		{"context", "set", "x", "a:1", "--endpoint", "b:2"},
		{"context", "set", "x", "a:1", "k", "--token", "k2"},
		{"context", "set", "a name", "a:1"},
		{"context", "set", "x", "a:1", "--insecure", "--ca-cert", ca},
		{"context", "use"},
		{"context", "use", "prod", "--none"},
		{"context", "list", "--endpoint", "a:1"},
	} {
		step("", exitUsage, "", args...)
	}
}
