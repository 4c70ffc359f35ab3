package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addSeeds adds every schema of testdata (invalid, warnings, format) and,
// when ../shared is present, of SpiceDB's conformance corpus to the fuzz
// corpus. Inputs the fuzzer finds failing are kept in testdata/fuzz/.
func addSeeds(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*", "*.zed"))
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	if schemas, err := readConformanceSchemas(filepath.Join("..", "..", "shared")); err == nil {
		for _, src := range schemas {
			f.Add([]byte(src))
		}
	}
	f.Add([]byte(""))
	f.Add([]byte("use expiration\ndefinition user {}\ndefinition doc { relation r: user with expiration | user:*; permission p = (r - nil) & r.all(p) + r->p; }\n"))
}

// FuzzParse: no input makes the parser, the checker or the printer panic
// or hang, and every diagnostic points inside the input.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		failure := make(chan string, 1)
		go func() { failure <- parseProblem(src) }()
		select {
		case msg := <-failure:
			if msg != "" {
				t.Fatalf("%s\n--- input:\n%q", msg, src)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer after 10s\n--- input:\n%q", src)
		}
	})
}

// parseProblem parses, prints and compiles src and describes the first
// thing wrong with the results ("" when all is well).
func parseProblem(src []byte) string {
	file, diags := Parse("f.zed", src)
	_ = Format(file)
	for _, d := range diags {
		if d.Pos.Offset < 0 || d.Pos.Offset > len(src) || d.Pos.Line < 1 || d.Pos.Column < 1 {
			return fmt.Sprintf("diagnostic outside the input: %s (offset %d of %d)", d, d.Pos.Offset, len(src))
		}
		if d.Msg == "" {
			return fmt.Sprintf("empty message at %s", d.Pos)
		}
	}
	prog, diags, err := Compile("f.zed", src)
	if (err == nil) != (prog != nil) {
		return fmt.Sprintf("Compile returned a program (%v) and the error %v", prog != nil, err)
	}
	for _, d := range diags {
		if d.Pos.Offset < 0 || d.Pos.Offset > len(src) {
			return fmt.Sprintf("diagnostic outside the input: %s", d)
		}
	}
	return ""
}

// FuzzFormatRoundTrip: for every input that parses without a syntax error,
// the canonical text parses without error to the same AST (positions
// aside), printing it again gives the same text, and it compiles to the
// same Program (same hash) or fails as the input does.
func FuzzFormatRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := Parse("f.zed", src)
		if len(diags) > 0 {
			return
		}
		out := Format(file)
		file2, diags := Parse("f.zed", []byte(out))
		if len(diags) > 0 {
			t.Fatalf("canonical text has errors: %v\n--- input:\n%q\n--- canonical:\n%s", diags, src, out)
		}
		if a, b := dumpAST(file), dumpAST(file2); a != b {
			t.Fatalf("formatting changed the AST\n--- input:\n%q\n--- canonical:\n%s\n--- before:\n%s--- after:\n%s", src, out, a, b)
		}
		if again := Format(file2); again != out {
			t.Fatalf("not idempotent\n--- input:\n%q\n--- first:\n%s--- second:\n%s", src, out, again)
		}
		p1, _, err1 := Compile("f.zed", src)
		p2, _, err2 := Compile("f.zed", []byte(out))
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("formatting changed validity: %v / %v\n--- input:\n%q\n--- canonical:\n%s", err1, err2, src, out)
		}
		if err1 == nil && p1.Hash() != p2.Hash() {
			t.Fatalf("formatting changed the Program\n--- input:\n%q\n--- canonical:\n%s", src, out)
		}
	})
}
