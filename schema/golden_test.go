package schema

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reach-authz/reach/internal/golden"
)

// update rewrites the golden files under testdata from the current output:
//
//	go test ./schema -run 'Golden' -update

// goldenCase is one input file under testdata/DIR and its golden file.
type goldenCase struct {
	name   string // file name without extension
	src    []byte
	golden string // path of the .golden file
}

func goldenCases(t *testing.T, dir string) []goldenCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", dir, "*.zed"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no input files in testdata/%s", dir)
	}
	var cases []goldenCase
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, goldenCase{
			name:   strings.TrimSuffix(filepath.Base(p), ".zed"),
			src:    src,
			golden: strings.TrimSuffix(p, ".zed") + ".golden",
		})
	}
	return cases
}

// checkGolden compares got with the golden file, or rewrites it under -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	golden.Check(t, path, got)
}

// diagText renders diagnostics one per line as LINE:COL: message (the file
// name is left out so that the golden files do not depend on paths).
func diagText(diags []Diagnostic) string {
	var b strings.Builder
	for _, d := range diags {
		d.Pos.File = ""
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// TestGoldenInvalid: every schema in testdata/invalid is refused, with
// exactly the errors (and warnings) of its golden file. Each file holds one
// fault that SpiceDB refuses (the file's name says which), except
// many_errors.zed, which shows that one run reports every fault.
func TestGoldenInvalid(t *testing.T) {
	for _, tc := range goldenCases(t, "invalid") {
		t.Run(tc.name, func(t *testing.T) {
			prog, diags, err := Compile("", tc.src)
			if err == nil || prog != nil {
				t.Fatalf("compiled without error; diagnostics:\n%s", diagText(diags))
			}
			for _, d := range diags {
				checkMessage(t, d)
			}
			checkGolden(t, tc.golden, diagText(diags))
		})
	}
}

// TestGoldenWarnings: every schema in testdata/warnings is valid but draws
// at least one of SpiceDB's lint warnings, exactly those of its golden file.
func TestGoldenWarnings(t *testing.T) {
	for _, tc := range goldenCases(t, "warnings") {
		t.Run(tc.name, func(t *testing.T) {
			prog, diags, err := Compile("", tc.src)
			if err != nil || prog == nil {
				t.Fatalf("refused: %v", err)
			}
			for _, d := range diags {
				checkMessage(t, d)
			}
			if len(diags) == 0 && !strings.Contains(tc.name, "ignored") {
				t.Errorf("no warning")
			}
			checkGolden(t, tc.golden, diagText(diags))
		})
	}
}

// TestGoldenValid: every schema in testdata/valid is one that SpiceDB
// accepts and reach once refused (the file's comment says why SpiceDB
// accepts it). It compiles without error; its golden file holds its
// diagnostics, if any, then its canonical text.
func TestGoldenValid(t *testing.T) {
	for _, tc := range goldenCases(t, "valid") {
		t.Run(tc.name, func(t *testing.T) {
			prog, diags, err := Compile("", tc.src)
			if err != nil || prog == nil {
				t.Fatalf("refused: %v", err)
			}
			checkGolden(t, tc.golden, diagText(diags)+"--- canonical text:\n"+prog.Source())
		})
	}
}

// checkMessage enforces the message style: lower case, no internal token
// names, a real position.
func checkMessage(t *testing.T, d Diagnostic) {
	t.Helper()
	if d.Pos.Line < 1 || d.Pos.Column < 1 {
		t.Errorf("diagnostic without a position: %s", d)
	}
	if d.Msg == "" || strings.ToLower(d.Msg[:1]) != d.Msg[:1] {
		t.Errorf("message does not start in lower case: %s", d)
	}
	if strings.Contains(d.Msg, "tok") || strings.Contains(d.Msg, "TokenType") {
		t.Errorf("message names an internal token: %s", d)
	}
}

// TestGoldenFormat: the printer's canonical output for every file in
// testdata/format, which must parse without error; printing is idempotent
// and keeps every comment; and the canonical text compiles to the same
// Program (same hash) when the input compiles.
func TestGoldenFormat(t *testing.T) {
	for _, tc := range goldenCases(t, "format") {
		t.Run(tc.name, func(t *testing.T) {
			f, diags := Parse("", tc.src)
			if len(diags) > 0 {
				t.Fatalf("syntax errors:\n%s", diagText(diags))
			}
			got := Format(f)
			checkGolden(t, tc.golden, got)

			f2, diags := Parse("", []byte(got))
			if len(diags) > 0 {
				t.Fatalf("canonical text has syntax errors:\n%s", diagText(diags))
			}
			if again := Format(f2); again != got {
				t.Errorf("not idempotent:\n--- first:\n%s--- second:\n%s", got, again)
			}
			if a, b := dumpAST(f), dumpAST(f2); a != b {
				t.Errorf("formatting changed the AST:\n--- before:\n%s--- after:\n%s", a, b)
			}
			if n, m := countComments(tc.src), countComments([]byte(got)); n != m {
				t.Errorf("%d comments in the input, %d in the output", n, m)
			}
			p1, _, err1 := Compile("", tc.src)
			p2, _, err2 := Compile("", []byte(got))
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("compile result changed: %v / %v", err1, err2)
			}
			if err1 == nil && p1.Hash() != p2.Hash() {
				t.Errorf("formatting changed the Program")
			}
		})
	}
}

// countComments counts the comments the lexer finds (outside caveat
// bodies, where they are part of the CEL text and counted by the text).
func countComments(src []byte) int {
	lx := newLexer("", src)
	n := 0
	for {
		t := lx.next()
		if t.kind == tokEOF {
			return n
		}
		if t.kind == tokComment {
			n++
		}
	}
}

func TestFormatCRLF(t *testing.T) {
	lf := []byte("// doc\ndefinition user {}\n\ndefinition document {\n\trelation viewer: user\n\tpermission view = viewer +\n\t\tviewer\n}\n")
	crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
	f1, d1 := Parse("", lf)
	f2, d2 := Parse("", crlf)
	if len(d1)+len(d2) > 0 {
		t.Fatalf("errors: %v %v", d1, d2)
	}
	if a, b := Format(f1), Format(f2); a != b {
		t.Errorf("CRLF changed the output:\n%q\n%q", a, b)
	}
}
