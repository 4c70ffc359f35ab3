package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/reach-authz/reach/internal/golden"
)

const vdir = "testdata/validate/"

func TestValidateExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"passing file", []string{vdir + "pass.yaml"}, exitOK},
		{"matrix and lookups", []string{vdir + "groups.matrix.yaml", vdir + "groups.lookups.yaml"}, exitOK},
		{"failing file", []string{vdir + "pass.yaml", vdir + "fail.yaml"}, exitNo},
		{"invalid file", []string{vdir + "invalid.yaml"}, exitError3},
		{"invalid before failing", []string{vdir + "fail.yaml", vdir + "invalid.yaml"}, exitError3},
		{"missing file", []string{vdir + "nope.yaml"}, exitError3},
		{"caveats evaluated", []string{vdir + "caveat.yaml"}, exitOK},
		{"caveats with --skip-unsupported", []string{"--skip-unsupported", vdir + "caveat.yaml", vdir + "pass.yaml"}, exitOK},
		{"no file", nil, exitUsage},
		{"bad output", []string{"-o", "xml", vdir + "pass.yaml"}, exitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"validate"}, tt.args...)...)
			if code != tt.want {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.want, stdout, stderr)
			}
		})
	}
}

// TestValidateGolden compares the text and JSON reports on the testdata
// files (one passing, one failing, one invalid, one with caveats, a
// matrix and its lookups) with testdata/validate/*.golden.
func TestValidateGolden(t *testing.T) {
	files, err := filepath.Glob(vdir + "*.yaml")
	if err != nil || len(files) != 6 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	tests := []struct {
		golden string
		args   []string
	}{
		{"report.txt.golden", files},
		{"report-skip.txt.golden", append([]string{"--skip-unsupported"}, files...)},
		{"report.json.golden", append([]string{"-o", "json"}, files...)},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"validate"}, tt.args...)...)
			if code != exitError3 {
				t.Errorf("exit %d, want %d (an invalid file)", code, exitError3)
			}
			if stderr != "" {
				t.Errorf("stderr: %s", stderr)
			}
			golden := vdir + tt.golden
			goldenfile.Check(t, golden, stdout)
		})
	}
}

func TestValidateJSON(t *testing.T) {
	code, stdout, _ := reach(t, "", "validate", "-o", "json", "--skip-unsupported", vdir+"pass.yaml", vdir+"caveat.yaml", vdir+"groups.lookups.yaml")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	var doc struct {
		Files []struct {
			File, Kind, Status string
			Assertions         int
			Unsupported        []string
		}
		Summary validateSummary
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	if len(doc.Files) != 3 || doc.Files[0].Status != "passed" || doc.Files[0].Assertions != 6 ||
		doc.Files[1].Status != "passed" || doc.Files[1].Assertions != 3 ||
		doc.Files[2].Kind != "lookups" || doc.Files[2].Assertions != 4 {
		t.Errorf("files %+v", doc.Files)
	}
	if s := doc.Summary; !s.OK || s.Passed != 3 || s.Unsupported != 0 || s.Assertions != 13 {
		t.Errorf("summary %+v", s)
	}
}

// The warnings of a schema (lint) go to stderr and do not fail the file.
func TestValidateWarnings(t *testing.T) {
	dir := t.TempDir()
	src := `schema: |-
  definition user {}
  definition folder {
    relation viewer: user
  }
  definition document {
    relation parent: folder
    permission view = parent->viewer
  }
relationships: |-
  document:doc#parent@folder:top
  folder:top#viewer@user:tom
assertions:
  assertTrue:
    - document:doc#view@user:tom
`
	path := filepath.Join(dir, "warn.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := reach(t, "", "validate", path)
	if code != exitOK || !strings.Contains(stdout, "passed (1 assertion)") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "warn.yaml:8:") || !strings.Contains(stderr, "warning") {
		t.Errorf("stderr %q, want the lint warning with its YAML line", stderr)
	}
}

// TestValidateSchemaFile: a bare schema file is validated as zed validate
// does, not read as YAML.
func TestValidateSchemaFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.zed")
	if err := os.WriteFile(bad, []byte("definition user {}\ndefinition doc {\n\trelation viewer: usr\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file   string
		code   int
		stdout string
	}{
		{"testdata/validate/model.zed", exitOK, "testdata/validate/model.zed: passed (a valid schema; no relationships or assertions)\n1 file: 1 passed"},
		{bad, exitError3, bad + ":3:19: unknown definition \"usr\" (did you mean \"user\"?)\n" + bad + ": INVALID (not a valid schema)\n"},
		{filepath.Join(dir, "nosuch.zed"), exitError3, "no such file"},
	}
	for _, tt := range tests {
		code, stdout, stderr := reach(t, "", "validate", tt.file)
		if code != tt.code || !strings.Contains(stdout, tt.stdout) {
			t.Errorf("validate %s: exit %d, stdout %q (stderr %q)\nwant exit %d and %q", tt.file, code, stdout, stderr, tt.code, tt.stdout)
		}
		if strings.Contains(stdout+stderr, "yaml") {
			t.Errorf("validate %s: read as YAML: %s%s", tt.file, stdout, stderr)
		}
	}
	// A schema file beside validation files: each checked as what it is.
	if code, stdout, _ := reach(t, "", "validate", "testdata/validate/model.zed", "testdata/validate/pass.yaml"); code != exitOK || !strings.Contains(stdout, "2 files: 2 passed") {
		t.Errorf("model.zed and pass.yaml: exit %d, stdout %q", code, stdout)
	}
}
