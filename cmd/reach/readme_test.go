package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README promises a newcomer the output of its first command: run that
// command (in-process, from the repository root) and compare.
func TestReadmeFirstCommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	cmdLine := regexp.MustCompile(`(?m)^    (go run \./cmd/reach .*)$`).FindStringSubmatch(text)
	if cmdLine == nil {
		t.Fatal("README.md shows no `go run ./cmd/reach ...` command")
	}
	_, after, ok := strings.Cut(text, "The output of the first command above:\n\n")
	if !ok {
		t.Fatal("README.md shows no output for its first command")
	}
	var want strings.Builder
	for _, line := range strings.Split(after, "\n") {
		if !strings.HasPrefix(line, "    ") {
			break
		}
		want.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}

	t.Chdir("../..")
	t.Setenv("REACH_DATA_DIR", t.TempDir())
	var got strings.Builder
	for _, part := range strings.Split(cmdLine[1], " && ") {
		args := strings.Fields(strings.TrimPrefix(part, "go run ./cmd/reach "))
		code, stdout, stderr := reach(t, "", args...)
		if code != 0 {
			t.Fatalf("reach %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout, stderr)
		}
		got.WriteString(stdout)
	}
	if got.String() != want.String() {
		t.Errorf("README.md promises:\n%s\nthe commands print:\n%s", want.String(), got.String())
	}
}
