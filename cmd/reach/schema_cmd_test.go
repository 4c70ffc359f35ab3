package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reach-authz/reach/internal/golden"

	"github.com/reach-authz/reach/schema"
)

const sdir = "testdata/schema/"

// schemaGolden compares got with testdata/schema/NAME, or rewrites it with
// -update (go test ./cmd/reach -run TestSchema -update).
func schemaGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, sdir+name, got)
}

func TestSchemaValidate(t *testing.T) {
	tests := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		stdout     string // exact, when golden is ""
		golden     string // golden file for stderr
		stderrHas  string
		stdoutHas  string
		stdoutNone bool
	}{
		{name: "valid", args: []string{sdir + "docs.zed"}, code: exitOK,
			stdout: sdir + "docs.zed: valid (4 definitions, 1 caveat)\n"},
		{name: "invalid", args: []string{sdir + "invalid.zed"}, code: exitNo, golden: "invalid.validate.golden", stdoutNone: true},
		{name: "warnings", args: []string{sdir + "warnings.zed"}, code: exitOK, golden: "warnings.validate.golden",
			stdout: sdir + "warnings.zed: valid (3 definitions, 0 caveats, 2 warnings)\n"},
		{name: "strict", args: []string{"--strict", sdir + "warnings.zed"}, code: exitNo, golden: "warnings.strict.golden", stdoutNone: true},
		{name: "strict and clean", args: []string{sdir + "docs.zed", "--strict"}, code: exitOK, stdoutHas: "valid"},
		{name: "several files", args: []string{sdir + "docs.zed", sdir + "invalid.zed", sdir + "warnings.zed"}, code: exitNo,
			stdout:    sdir + "docs.zed: valid (4 definitions, 1 caveat)\n" + sdir + "warnings.zed: valid (3 definitions, 0 caveats, 2 warnings)\n",
			stderrHas: sdir + "invalid.zed: invalid (4 errors)"},
		{name: "standard input", stdin: "definition user {}\n", args: []string{"-"}, code: exitOK,
			stdout: "<stdin>: valid (1 definition, 0 caveats)\n"},
		{name: "standard input with an error", stdin: "definition user {\n\trelation friend: usr\n}\n", args: []string{"-"}, code: exitNo,
			stderrHas: "<stdin>:2:19: unknown definition \"usr\" (did you mean \"user\"?)"},
		{name: "syntax error", args: []string{sdir + "syntax.zed"}, code: exitNo, golden: "syntax.validate.golden"},
		{name: "missing file", args: []string{sdir + "nope.zed"}, code: exitError3, stderrHas: "nope.zed: no such file"},
		{name: "missing and invalid", args: []string{sdir + "invalid.zed", sdir + "nope.zed"}, code: exitError3, stderrHas: "unknown definition"},
		{name: "no file", args: nil, code: exitUsage, stderrHas: "requires at least 1 arg"},
		{name: "stdin twice", args: []string{"-", "-"}, code: exitUsage, stderrHas: "only once"},
		{name: "unknown flag", args: []string{"--strictly", sdir + "docs.zed"}, code: exitUsage, stderrHas: "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, tt.stdin, append([]string{"schema", "validate"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			if tt.stdout != "" && stdout != tt.stdout {
				t.Errorf("stdout %q, want %q", stdout, tt.stdout)
			}
			if tt.stdoutNone && stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stdout, tt.stdoutHas) {
				t.Errorf("stdout %q does not contain %q", stdout, tt.stdoutHas)
			}
			if !strings.Contains(stderr, tt.stderrHas) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.stderrHas)
			}
			if tt.golden != "" {
				schemaGolden(t, tt.golden, stderr)
			}
		})
	}
}

func TestSchemaValidateJSON(t *testing.T) {
	code, stdout, stderr := reach(t, "", "schema", "validate", "-o", "json", sdir+"docs.zed", sdir+"invalid.zed")
	if code != exitNo || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var doc struct {
		Valid bool
		Files []struct {
			File        string
			Valid       bool
			Definitions int
			Diagnostics []struct {
				Line, Column      int
				Severity, Message string
			}
		}
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if doc.Valid || len(doc.Files) != 2 || !doc.Files[0].Valid || doc.Files[0].Definitions != 4 || doc.Files[1].Valid {
		t.Fatalf("unexpected document:\n%s", stdout)
	}
	d := doc.Files[1].Diagnostics[0]
	if d.Line != 4 || d.Column != 32 || d.Severity != "error" || !strings.Contains(d.Message, `"membr"`) {
		t.Errorf("first diagnostic %+v", d)
	}
}

func TestSchemaFmt(t *testing.T) {
	// Printing: the canonical text on stdout.
	code, stdout, stderr := reach(t, "", "schema", "fmt", sdir+"messy.zed")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	schemaGolden(t, "messy.fmt.golden", stdout)

	// Formatting the canonical text again changes nothing.
	code, again, _ := reach(t, stdout, "schema", "fmt", "-")
	if code != exitOK || again != stdout {
		t.Errorf("not idempotent (exit %d):\n%s", code, again)
	}

	// The canonical text of a valid schema compiles to the same Program.
	src, _ := os.ReadFile(sdir + "docs.zed")
	_, canonical, _ := reach(t, string(src), "schema", "fmt", "-")
	p1, _, err1 := schema.Compile("a", src)
	p2, _, err2 := schema.Compile("b", []byte(canonical))
	if err1 != nil || err2 != nil || p1.Hash() != p2.Hash() {
		t.Errorf("formatting changed the model: %v %v", err1, err2)
	}

	// A syntax error: nothing printed, the errors on stderr, exit 1.
	code, stdout, stderr = reach(t, "", "schema", "fmt", sdir+"syntax.zed")
	if code != exitNo || stdout != "" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	schemaGolden(t, "syntax.fmt.golden", stderr)

	// Errors of meaning do not stop formatting.
	code, stdout, _ = reach(t, "", "schema", "fmt", sdir+"invalid.zed")
	if code != exitOK || !strings.Contains(stdout, "relation owner: usr") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestSchemaFmtWrite(t *testing.T) {
	dir := t.TempDir()
	messy := filepath.Join(dir, "messy.zed")
	canonical := filepath.Join(dir, "canonical.zed")
	broken := filepath.Join(dir, "broken.zed")
	copyFile(t, sdir+"messy.zed", messy, 0o600)
	copyFile(t, sdir+"messy.fmt.golden", canonical, 0o644)
	copyFile(t, sdir+"syntax.zed", broken, 0o644)
	before, _ := os.Stat(canonical)

	// -l lists the files that are not canonical.
	code, stdout, _ := reach(t, "", "schema", "fmt", "-l", messy, canonical)
	if code != exitOK || stdout != messy+"\n" {
		t.Errorf("-l: exit %d, stdout %q", code, stdout)
	}

	// -w rewrites them; a file with a syntax error is left alone.
	code, stdout, stderr := reach(t, "", "schema", "fmt", "-w", messy, canonical, broken)
	if code != exitNo || stdout != "" || !strings.Contains(stderr, broken+": not formatted") {
		t.Errorf("-w: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	got, _ := os.ReadFile(messy)
	want, _ := os.ReadFile(sdir + "messy.fmt.golden")
	if string(got) != string(want) {
		t.Errorf("rewritten file:\n%s", got)
	}
	if info, _ := os.Stat(messy); info.Mode().Perm() != 0o600 {
		t.Errorf("permissions %v, want 0600", info.Mode().Perm())
	}
	if after, _ := os.Stat(canonical); !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a canonical file was rewritten")
	}
	if got, _ := os.ReadFile(broken); string(got) != readString(t, sdir+"syntax.zed") {
		t.Errorf("a file with a syntax error was changed")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestSchemaFmtUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		has  string
	}{
		{[]string{}, exitUsage, "requires at least 1 arg"},
		{[]string{"-w", "-"}, exitUsage, "cannot rewrite the standard input"},
		{[]string{"-w", "-l", sdir + "docs.zed"}, exitUsage, "cannot be used together"},
		{[]string{sdir + "nope.zed"}, exitError3, "no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := reach(t, "", append([]string{"schema", "fmt"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.has) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, stderr, tt.has)
			}
		})
	}
}

func TestSchemaGraph(t *testing.T) {
	for _, format := range []string{"dot", "mermaid"} {
		t.Run(format, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", "schema", "graph", sdir+"docs.zed", "--format", format)
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			schemaGolden(t, "docs."+format+".golden", stdout)
		})
	}
	// The pictures of the five seed models, kept readable: one edge per
	// pair of definitions and kind (relations, arrows), however many
	// relations or permissions run along it.
	for _, seed := range []string{"gifting", "email_marketing", "marketing_suite", "organizing", "catalogue"} {
		for _, format := range []string{"dot", "mermaid"} {
			t.Run(seed+"/"+format, func(t *testing.T) {
				code, stdout, stderr := reach(t, "", "schema", "graph", "../../schemas/"+seed+".zed", "--format", format)
				if code != exitOK || stderr != "" {
					t.Fatalf("exit %d, stderr %q", code, stderr)
				}
				schemaGolden(t, "seeds/"+seed+"."+format+".golden", stdout)
				if format != "dot" {
					return
				}
				seen := map[string]bool{}
				for _, line := range strings.Split(stdout, "\n") {
					from, rest, ok := strings.Cut(strings.TrimSpace(line), " -> ")
					if !ok {
						continue
					}
					to, _, _ := strings.Cut(rest, " [")
					k := from + ">" + to + fmt.Sprint(strings.Contains(line, "style=dashed"))
					if seen[k] {
						t.Errorf("two edges %s -> %s of one kind: merge them", from, to)
					}
					seen[k] = true
				}
			})
		}
	}
	// dot is the default.
	_, dot, _ := reach(t, "", "schema", "graph", sdir+"docs.zed")
	if !strings.HasPrefix(dot, "digraph schema {") {
		t.Errorf("default format:\n%s", dot)
	}
	tests := []struct {
		args []string
		code int
		has  string
	}{
		{[]string{sdir + "docs.zed", "--format", "svg"}, exitUsage, "--format must be dot or mermaid"},
		{[]string{}, exitUsage, "accepts 1 arg"},
		{[]string{sdir + "docs.zed", sdir + "docs.zed"}, exitUsage, "accepts 1 arg"},
		{[]string{sdir + "invalid.zed"}, exitNo, "invalid (4 errors): not drawn"},
		{[]string{sdir + "nope.zed"}, exitError3, "no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"schema", "graph"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.has) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", code, tt.code, stderr, tt.has)
			}
			if code != exitOK && stdout != "" {
				t.Errorf("drew something: %q", stdout)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string, perm os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, perm); err != nil {
		t.Fatal(err)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// reach schema validate type-checks caveat expressions as writing the
// schema does (SpiceDB refuses such a schema on write).
func TestSchemaValidateCaveatTypes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cv.zed")
	src := "caveat small(amount int) {\n  amount == \"ten\"\n}\ndefinition user {}\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := reach(t, "", "schema", "validate", path)
	want := path + ":2:10: caveat small: found no matching overload for '_==_' applied to '(int, string)'\n" + path + ": invalid (1 error)\n"
	if code != exitNo || stdout != "" || stderr != want {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 1, stderr %q", code, stdout, stderr, want)
	}
}
