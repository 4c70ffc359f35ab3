package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

const sampleList = `# a comment
=== flip
file: pkg/a.go
why: a comparison flipped
--- from
	if x > 1 {
--- to
	if x >= 1 {

=== drop
file: pkg/a.go
why: a statement dropped
env: CI=true A=b
--- from
		y++
		z++
--- to

# a comment between two mutants ends the first
=== swap
file: pkg/b.go
why: two lines swapped
equivalent: nobody can tell
--- from
y++
z++
--- to
z++
  y++
`

func TestParseList(t *testing.T) {
	ms, err := ParseList("sample.mut", strings.NewReader(sampleList))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d mutants, want 3", len(ms))
	}
	if m := ms[0]; m.Name != "flip" || m.File != "pkg/a.go" || m.From != "if x > 1 {" || m.To != "if x >= 1 {" || m.Package() != "pkg" {
		t.Errorf("flip: %+v", m)
	}
	if m := ms[1]; m.From != "\t\ty++\n\t\tz++" || m.To != "" || strings.Join(m.Env, " ") != "CI=true A=b" || m.Source != "sample.mut:10" {
		t.Errorf("drop: %+v", m)
	}
	if m := ms[2]; m.Equivalent != "nobody can tell" || m.To != "z++\n  y++" {
		t.Errorf("swap: %+v", m)
	}
}

func TestParseListErrors(t *testing.T) {
	for _, src := range []string{
		"stray text\n",
		"=== a b\nfile: x.go\nwhy: w\n--- from\nx\n--- to\ny\n",
		"=== a\nwhy: w\n--- from\nx\n--- to\ny\n",
		"=== a\nfile: x.go\n--- from\nx\n--- to\ny\n",
		"=== a\nfile: x.go\nwhy: w\n--- from\n--- to\ny\n",
		"=== a\nfile: x.go\nwhy: w\n--- from\nx\n--- to\nx\n",
		"=== a\nfile: x.go\nwhy: w\ncolor: red\n--- from\nx\n--- to\ny\n",
		"=== a\nfile: x.go\nwhy: w\nenv: CI\n--- from\nx\n--- to\ny\n",
		"=== a\nfile: x.go\nwhy: w\n--- from\nx\n# comment\n--- to\ny\n",
		"=== a\nfile: x.go\nwhy: w\n--- from\nx\n--- to\ny\n# comment\nstray\n",
	} {
		if _, err := ParseList("bad.mut", strings.NewReader(src)); err == nil {
			t.Errorf("no error for %q", src)
		}
	}
}

func TestApply(t *testing.T) {
	src := "func f() {\n\tif x > 1 {\n\t\ty++\n\t\tz++\n\t}\n}\n"
	m := Mutant{Name: "m", File: "a.go", From: "x > 1", To: "x >= 1"}
	if got, err := m.Apply(src); err != nil || got != strings.Replace(src, "x > 1", "x >= 1", 1) {
		t.Errorf("one line: %q, %v", got, err)
	}
	// Several lines match whatever their indentation; the replacement
	// takes the first line's.
	m = Mutant{Name: "m", File: "a.go", From: "y++\n    z++", To: "z++\n\ty++"}
	want := "func f() {\n\tif x > 1 {\n\t\tz++\n\t\t\ty++\n\t}\n}\n"
	if got, err := m.Apply(src); err != nil || got != want {
		t.Errorf("lines: %q, %v; want %q", got, err, want)
	}
	m = Mutant{Name: "m", File: "a.go", From: "y++\nz++"}
	if got, err := m.Apply(src); err != nil || got != "func f() {\n\tif x > 1 {\n\t}\n}\n" {
		t.Errorf("deleted lines: %q, %v", got, err)
	}
	for _, from := range []string{"x < 1", "+", "y++\nq++"} {
		m := Mutant{Name: "m", File: "a.go", From: from, To: "?"}
		if _, err := m.Apply(src); err == nil {
			t.Errorf("%q: no error (not found or not unique)", from)
		}
	}
	if _, err := (Mutant{Name: "m", File: "a.go", From: "a\nb"}).Apply("a\nb\nc\na\nb\n"); err == nil || !strings.Contains(err.Error(), "2 times") {
		t.Errorf("two matches of lines: %v", err)
	}
}

func TestClassify(t *testing.T) {
	fail := errors.New("exit status 1")
	tests := []struct {
		out    string
		err    error
		status Status
		by     string
	}{
		{"ok  \tpkg\t1s\n", nil, Survived, ""},
		{"--- FAIL: TestA (0.00s)\n    --- FAIL: TestA/sub (0.00s)\n        a_test.go:3: bad\nFAIL\n", fail, Killed, "TestA/sub"},
		{"--- FAIL: TestA (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL\n", fail, Killed, "TestA"},
		{"# pkg\n./a.go:1: undefined: x\nFAIL\tpkg [build failed]\n", fail, Invalid, ""},
		{"panic: test timed out after 1s\n\trunning tests:\n\t\tTestA (1s)\n", fail, Killed, "timeout: "},
		{"panic: runtime error: index out of range\n", fail, Killed, "panic"},
		{"", context.DeadlineExceeded, Killed, "timeout (killed by the runner)"},
	}
	for _, tt := range tests {
		st, by, _ := classify([]byte(tt.out), tt.err)
		if st != tt.status || by != tt.by {
			t.Errorf("classify(%q): %s by %q, want %s by %q", tt.out, st, by, tt.status, tt.by)
		}
	}
}

// The lists in the repository parse, name unique mutants, and each names
// a file of the module. (Whether their text is still in the file is
// checked by go run ./internal/mutate -check, not here: a change of the
// code under a mutant should not fail the ordinary tests.)
func TestListsParse(t *testing.T) {
	ms, err := LoadDir("mutants")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if matches, _ := filepath.Glob(filepath.Join("..", "..", m.File)); len(matches) != 1 {
			t.Errorf("%s: mutant %s: no file %s", m.Source, m.Name, m.File)
		}
	}
}
