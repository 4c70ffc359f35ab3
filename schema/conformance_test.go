package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/reach-authz/reach/internal/corpus"
	"gopkg.in/yaml.v3"
)

// sharedDir is ../shared relative to the module root (the schema package
// lives one level below it); tests that need it skip when it is absent.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared")
	corpus.Dir(t, dir)
	return dir
}

// validationFile is the part of a `zed validate` file this package reads.
type validationFile struct {
	Schema     string `yaml:"schema"`
	SchemaFile string `yaml:"schemaFile"`
}

// conformanceSchemas returns the schema text of every file in the SpiceDB
// conformance corpus, keyed by file name; the test skips when the corpus is
// absent.
func conformanceSchemas(t testing.TB) map[string]string {
	t.Helper()
	dir := sharedDir(t)
	out, err := readConformanceSchemas(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		corpus.Absent(t, "no conformance files")
	}
	return out
}

// readConformanceSchemas reads the `schema:` (or `schemaFile:`) of every
// validation file in shared/conformance/spicedb.
func readConformanceSchemas(shared string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(shared, "conformance", "spicedb", "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var vf validationFile
		if err := yaml.Unmarshal(data, &vf); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		src := vf.Schema
		if vf.SchemaFile != "" {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(path), vf.SchemaFile))
			if err != nil {
				return nil, fmt.Errorf("%s: schemaFile: %w", path, err)
			}
			src = string(b)
		}
		out[filepath.Base(path)] = src
	}
	return out, nil
}

// TestConformanceSchemasCompile: every schema in SpiceDB's own test corpus
// is valid SpiceDB, so it must compile without error (warnings allowed:
// zed validate reports lint warnings without failing).
func TestConformanceSchemasCompile(t *testing.T) {
	for name, src := range conformanceSchemas(t) {
		t.Run(name, func(t *testing.T) {
			prog, diags, err := Compile(name, []byte(src))
			if err != nil {
				t.Fatalf("compile failed:\n%v", err)
			}
			for _, d := range diags {
				t.Logf("%s", d)
			}
			if len(prog.Definitions()) == 0 {
				t.Errorf("no definitions compiled")
			}
			// The canonical text compiles to the same model.
			again, _, err := Compile(name, []byte(prog.Source()))
			if err != nil {
				t.Fatalf("canonical text does not compile:\n%v\n%s", err, prog.Source())
			}
			if again.Hash() != prog.Hash() {
				t.Errorf("hash changed after formatting:\n%s", prog.Source())
			}
			if again.Source() != prog.Source() {
				t.Errorf("formatting is not idempotent:\n%s\n---\n%s", prog.Source(), again.Source())
			}
		})
	}
}
