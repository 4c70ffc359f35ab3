package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestMistypedSubcommand walks the whole command tree: every command group
// given a subcommand it lacks exits with status 2 and names the subcommand
// it resembles, rather than printing its help with status 0.
func TestMistypedSubcommand(t *testing.T) {
	t.Setenv("REACH_DATA_DIR", t.TempDir())
	groups := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.HasSubCommands() {
			return
		}
		var first *cobra.Command
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() && len(sub.Name()) >= 4 {
				first = sub
				break
			}
		}
		if first == nil {
			return
		}
		groups++
		// A transposition of the first subcommand's name: "read" -> "raed".
		name := []byte(first.Name())
		name[1], name[2] = name[2], name[1]
		path := strings.Fields(c.CommandPath())[1:]
		args := append(path, string(name), "x")
		code, stdout, stderr := reach(t, "", args...)
		if code != exitUsage {
			t.Errorf("reach %s: exit %d, want %d (stdout %q)", strings.Join(args, " "), code, exitUsage, stdout)
		}
		if !strings.Contains(stderr, "unknown command") || !strings.Contains(stderr, "Did you mean this?\n\t"+first.Name()) {
			t.Errorf("reach %s: stderr %q does not suggest %q", strings.Join(args, " "), stderr, first.Name())
		}
	}
	walk(newRootCmd())
	if groups < 4 { // the root, lookup, schema, tuple (and completion, ...)
		t.Errorf("only %d command groups found", groups)
	}
}

func TestUnknownCommands(t *testing.T) {
	t.Setenv("REACH_DATA_DIR", t.TempDir())
	tests := []struct {
		args    []string
		code    int
		stderr  string // what stderr must hold
		nostdio bool   // nothing on stdout
	}{
		{[]string{"chekc"}, exitUsage, "Did you mean this?\n\tcheck", true},
		{[]string{"tuple", "raed"}, exitUsage, "unknown command \"raed\" for \"reach tuple\"\n\nDid you mean this?\n\tread", true},
		{[]string{"lookup", "resource", "document", "view", "user:ana"}, exitUsage, "Did you mean this?\n\tresources", true},
		{[]string{"schema", "wirte", "x.zed"}, exitUsage, "Did you mean this?\n\twrite", true},
		{[]string{"tuple", "frobnicate"}, exitUsage, "Run 'reach tuple --help' for its commands.", true},
		{[]string{"help", "chekc"}, exitUsage, "Did you mean this?\n\tcheck", true},
		{[]string{"help", "tuple", "raed"}, exitUsage, "Did you mean this?\n\tread", true},
		// A group alone still prints its help, as reach alone does.
		{[]string{"tuple"}, exitOK, "", false},
		{[]string{"help", "tuple"}, exitOK, "", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := reach(t, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q does not hold %q", stderr, tt.stderr)
			}
			if tt.nostdio && stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !tt.nostdio && !strings.Contains(stdout, "Available Commands") {
				t.Errorf("stdout %q is not the help", stdout)
			}
		})
	}
}

// TestWrongArgumentCount: a wrong number of arguments prints the usage line
// of the command, with status 2.
func TestWrongArgumentCount(t *testing.T) {
	t.Setenv("REACH_DATA_DIR", t.TempDir())
	tests := []struct {
		args  []string
		usage string
	}{
		{[]string{"check", "document:q3", "view"}, "Usage: reach check RESOURCE PERMISSION SUBJECT [flags]"},
		{[]string{"expand", "document:q3"}, "Usage: reach expand RESOURCE PERMISSION [flags]"},
		{[]string{"lookup", "resources", "document"}, "Usage: reach lookup resources TYPE PERMISSION SUBJECT [flags]"},
		{[]string{"tuple", "write"}, "Usage: reach tuple write REL... | - [flags]"},
		{[]string{"tuple", "read", "a", "b"}, "Usage: reach tuple read [FILTER] [flags]"},
		{[]string{"schema", "write"}, "Usage: reach schema write FILE [--dry-run] [flags]"},
		{[]string{"version", "x"}, "Usage: reach version [flags]"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := reach(t, "", tt.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (stderr %q)", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.usage) {
				t.Errorf("stderr %q does not hold %q", stderr, tt.usage)
			}
		})
	}
}
