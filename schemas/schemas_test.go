// Package schemas_test checks the seed models in this directory: every .zed
// file compiles without errors or warnings (SpiceDB's lint checks
// included), every .zed has its validation file, every validation file
// passes (each assertion run by engine/validation, the code behind `reach
// validate`), every seed row is asserted both allowed and denied, the
// coverage lists of README.md point at those rows, and the five seeds of
// ../shared/seeds/INDEX.md are all modelled. The matrix golden files (the
// tables of README.md) are tested in cmd/reach.
package schemas_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/internal/corpus"
	"github.com/reach-authz/reach/schema"
)

// seeds maps each seed file of ../shared/seeds to its model here.
var seeds = map[string]string{
	"000_d44aae4d57fa443d.txt": "gifting",
	"001_b3986c5c91dac31c.txt": "email_marketing",
	"002_ffa1388569149ba7.txt": "marketing_suite",
	"003_220e3bd95784557d.txt": "organizing",
	"004_e611225041e5fc3b.txt": "catalogue",
}

func TestSeedSchemasCompile(t *testing.T) {
	files, err := filepath.Glob("*.zed")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(seeds) {
		t.Errorf("found %d .zed files, want the %d seed models", len(files), len(seeds))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, diags, err := schema.Compile(f, src)
			for _, d := range diags {
				t.Errorf("%s", d)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(strings.TrimSuffix(f, ".zed") + ".yaml"); err != nil {
				t.Errorf("no validation file beside %s: %v", f, err)
			}
		})
	}
}

// TestSeedValidationFiles runs every validation file as `reach validate`
// does and requires every assertion to pass, with no schema warning.
func TestSeedValidationFiles(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(seeds) {
		t.Errorf("found %d .yaml files, want the %d seed validation files", len(files), len(seeds))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			vf, err := validation.Read(f)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(f, ".yaml") + ".zed"; vf.SchemaName != want {
				t.Errorf("schema file %q, want schemaFile: %s", vf.SchemaName, want)
			}
			res, err := validation.Run(context.Background(), vf, validation.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range res.Warnings {
				t.Errorf("warning: %s", w)
			}
			if res.Status != validation.Passed {
				t.Errorf("status %s: %s", res.Status, res.Error)
			}
			for _, a := range res.Failures() {
				t.Errorf("%s:%d: %s %s: got %s %s\n%s", f, a.Line, a.Kind, a.Text, a.Got, a.Error, a.Explanation)
			}
			passed, failed := res.Counts()
			if passed+failed != len(vf.Assertions) || failed != 0 {
				t.Errorf("%d passed, %d failed, of %d assertions", passed, failed, len(vf.Assertions))
			}
			// Every row of the seed's tables is asserted both ways: each
			// `# row` comment heads some assertTrue and some assertFalse
			// entries.
			rows := assertionRows(t, f)
			for row, kinds := range rows {
				if !kinds["assertTrue"] || !kinds["assertFalse"] {
					t.Errorf("row %q is asserted only as %v", row, kinds)
				}
			}
			if len(rows) == 0 {
				t.Errorf("no commented assertion rows")
			}
		})
	}
}

var rowComment = regexp.MustCompile(`^    # (.+)$`)

// assertionRows reads the `# row` comments of a validation file's assertion
// blocks: for each, the blocks (assertTrue, assertFalse) where it heads
// entries.
func assertionRows(t *testing.T, path string) map[string]map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]map[string]bool{}
	block, row := "", ""
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "  assertTrue:" || line == "  assertFalse:":
			block, row = strings.TrimSuffix(strings.TrimSpace(line), ":"), ""
		case block != "" && !strings.HasPrefix(line, "    "):
			block = ""
		case block != "":
			if m := rowComment.FindStringSubmatch(line); m != nil {
				row = m[1]
			} else if strings.HasPrefix(line, "    - ") && row != "" {
				if rows[row] == nil {
					rows[row] = map[string]bool{}
				}
				rows[row][block] = true
			}
		}
	}
	return rows
}

// TestEverySeedModelled checks that each seed of ../shared/seeds/INDEX.md
// has its model, and that each model names its seed file in its first
// line. It skips when ../shared is absent (a clean clone).
func TestEverySeedModelled(t *testing.T) {
	for file, name := range seeds {
		src, err := os.ReadFile(name + ".zed")
		if err != nil {
			t.Errorf("seed %s: %v", file, err)
			continue
		}
		first, _, _ := strings.Cut(string(src), "\n")
		if !strings.Contains(first, "seeds/"+file) {
			t.Errorf("%s.zed: first line %q does not name seeds/%s", name, first, file)
		}
	}
	index, err := os.ReadFile(filepath.Join("..", "..", "shared", "seeds", "INDEX.md"))
	if os.IsNotExist(err) {
		corpus.Absent(t, "../shared/seeds is absent")
	}
	if err != nil {
		t.Fatal(err)
	}
	listed := regexp.MustCompile(`\| (\d{3}_[0-9a-f]+\.txt) \|`).FindAllStringSubmatch(string(index), -1)
	var got []string
	for _, m := range listed {
		got = append(got, m[1])
		if _, ok := seeds[m[1]]; !ok {
			t.Errorf("seed %s of INDEX.md has no model", m[1])
		}
	}
	sort.Strings(got)
	if len(got) != len(seeds) {
		t.Errorf("INDEX.md lists %v, want the %d seeds modelled here", got, len(seeds))
	}
}

var coverageLine = regexp.MustCompile("^- (.+) — allowed at `([a-z_]+\\.yaml):(\\d+)`, denied at `([a-z_]+\\.yaml):(\\d+)`$")

// TestReadmeCoverage checks the coverage lists of README.md: each entry
// names a row and the lines of its comment in the assertTrue and
// assertFalse blocks of a validation file, and every row of every
// validation file has its entry.
func TestReadmeCoverage(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string][]string{} // file -> its lines
	listed := map[string]map[string]bool{}
	entries := 0
	for i, l := range strings.Split(string(readme), "\n") {
		m := coverageLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		entries++
		row := m[1]
		for _, at := range [][2]string{{m[2], m[3]}, {m[4], m[5]}} {
			file := at[0]
			if lines[file] == nil {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("README.md:%d: %v", i+1, err)
				}
				lines[file] = strings.Split(string(data), "\n")
			}
			n, _ := strconv.Atoi(at[1])
			if n < 1 || n >= len(lines[file]) || lines[file][n-1] != "    # "+row || !strings.HasPrefix(lines[file][n], "    - ") {
				t.Errorf("README.md:%d: %s:%d is not the comment of row %q followed by assertions", i+1, file, n, row)
			}
			if listed[file] == nil {
				listed[file] = map[string]bool{}
			}
			listed[file][row] = true
		}
		// The first line is in assertTrue, the second in assertFalse.
		if f := lines[m[2]]; f != nil {
			a, _ := strconv.Atoi(m[3])
			b, _ := strconv.Atoi(m[5])
			if !(a < b) || blockOf(f, a) != "assertTrue" || blockOf(f, b) != "assertFalse" {
				t.Errorf("README.md:%d: row %q: want its assertTrue line then its assertFalse line", i+1, row)
			}
		}
	}
	if entries == 0 {
		t.Fatal("README.md has no coverage list")
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for row := range assertionRows(t, f) {
			if !listed[f][row] {
				t.Errorf("README.md: no coverage entry for %s row %q", f, row)
			}
		}
	}
}

// blockOf returns the assertion block (assertTrue, assertFalse) that line n
// (1-based) of a validation file is in.
func blockOf(lines []string, n int) string {
	for i := n - 1; i >= 0; i-- {
		switch lines[i] {
		case "  assertTrue:":
			return "assertTrue"
		case "  assertFalse:":
			return "assertFalse"
		}
	}
	return ""
}

// The seed models are kept in the canonical form `reach schema fmt` prints,
// so that formatting one of them never produces a diff.
func TestSeedSchemasCanonical(t *testing.T) {
	files, err := filepath.Glob("*.zed")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ast, diags := schema.Parse(f, src)
		if len(diags) > 0 {
			t.Fatalf("%s: %v", f, diags)
		}
		if got := schema.Format(ast); got != string(src) {
			t.Errorf("%s is not in canonical form: run reach schema fmt -w %s", f, f)
		}
	}
}
