package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/internal/golden"

	"github.com/reach-authz/reach/tuples"
)

const tdir = "testdata/tuple/"

// timings masks the figures of `tuple import` that vary from run to run.
var timings = regexp.MustCompile(`[0-9.]+s, [0-9,]+/s\)`)

// TestTupleSession runs a scripted session on one store and compares the
// transcript (commands, exit statuses, standard output and error) with
// testdata/tuple/session.golden.
func TestTupleSession(t *testing.T) {
	dir := t.TempDir()
	steps := []struct {
		stdin string
		args  string
	}{
		{"", "schema read"},
		{"", "tuple write document:q3#viewer@user:ana"},
		{"", "schema write " + tdir + "broken.zed"},
		{"", "schema write " + tdir + "docs.zed"},
		{"", "schema read"},
		{"", "tuple write document:q3#owner@user:ana document:q3#viewer@group:eng#member"},
		{"group:eng#member@user:bo\n\n# a comment\ngroup:eng#member@user:cy\n", "tuple write -"},
		{"", "tuple write --create group:eng#member@user:bo"},
		{"", "tuple write document:q3#editor@user:ana"},
		{"", "tuple write document:q3#owner@group:eng#member"},
		{"", "tuple write document:q3#viewer@user:a!"},
		{"group:eng#member@user:bo\ngroup:eng#member@user:b o\n", "tuple write -"},
		{"", "tuple write --must-not-match document:q3#owner document:q3#viewer@user:dan"},
		{"", "tuple write --must-match document:q3#owner document:q3#viewer@user:dan"},
		{"", "tuple read"},
		{"", "tuple read document:q3#viewer"},
		{"", "tuple read @group:eng#member"},
		{"", "tuple read --limit 2 group"},
		{"", "tuple read document:q3#Viewer"},
		{"", "tuple read --revision AQI"},
		{"", "schema write " + tdir + "orphaning.zed"},
		{"", "tuple delete document:q3#viewer@group:eng#member"},
		{"", "schema write " + tdir + "orphaning.zed"},
		{"", "schema write " + tdir + "docs.zed"},
		{"", "tuple import " + tdir + "rels.txt"},
		{"", "tuple import --batch-size 2 " + tdir + "bad.txt"},
		{"", "tuple import --skip-invalid " + tdir + "bad.txt"},
		{"", "tuple import " + tdir + "model.yaml"},
		{"", "tuple export"},
		{"", "tuple export document:q4"},
		{"", "tuple delete --filter document:a* --limit 4"},
		{"", "tuple delete --filter document:a*"},
		{"", "tuple delete --filter @user:*"},
		{"", "tuple delete"},
		{"", "tuple delete --filter document x"},
		{"", "tuple delete --filter document:q*#"},
		{"", "-o json tuple read document:q4"},
		{"", "-o json tuple delete --filter document:y1"},
	}
	var b strings.Builder
	for _, st := range steps {
		args := append([]string{"--data-dir", dir}, strings.Fields(st.args)...)
		code, stdout, stderr := reach(t, st.stdin, args...)
		stdout, stderr = strings.ReplaceAll(stdout, dir, "DATA"), strings.ReplaceAll(stderr, dir, "DATA")
		fmt.Fprintf(&b, "$ reach %s\n", st.args)
		if st.stdin != "" {
			fmt.Fprintf(&b, "(stdin)\n%s", st.stdin)
		}
		if stdout != "" {
			fmt.Fprintf(&b, "(stdout)\n%s", timings.ReplaceAllString(stdout, "TIME)"))
		}
		if stderr != "" {
			fmt.Fprintf(&b, "(stderr)\n%s", stderr)
		}
		fmt.Fprintf(&b, "(exit %d)\n\n", code)
	}
	tupleGolden(t, "session.golden", b.String())
}

// tupleGolden compares got with testdata/tuple/NAME, or rewrites it with
// -update (go test ./cmd/reach -run TestTupleSession -update).
func tupleGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, tdir+name, got)
}

// storeWith returns a data directory holding docs.zed and rels.txt.
func storeWith(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"schema", "write", tdir + "docs.zed"},
		{"tuple", "import", "--progress", "none", tdir + "rels.txt"},
	} {
		if code, _, stderr := reach(t, "", append([]string{"--data-dir", dir}, args...)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	return dir
}

func TestTupleExitStatus(t *testing.T) {
	dir := storeWith(t)
	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		has   string // in stderr
	}{
		{"write ok", "", []string{"tuple", "write", "document:q9#viewer@user:ana"}, exitOK, ""},
		{"write nothing", "", []string{"tuple", "write"}, exitUsage, "requires at least 1 arg"},
		{"write stdin twice", "", []string{"tuple", "write", "-", "-"}, exitUsage, "only argument"},
		{"write empty stdin", "# nothing\n", []string{"tuple", "write", "-"}, exitUsage, "no relationships"},
		{"write malformed", "", []string{"tuple", "write", "document:q9#viewer@user"}, exitUsage, "argument 1: invalid relationship"},
		{"write refused", "", []string{"tuple", "write", "document:q9#nothing@user:ana"}, exitNo, "nothing was written"},
		{"write bad precondition", "", []string{"tuple", "write", "--must-match", "Doc", "document:q9#viewer@user:ana"}, exitUsage, "invalid filter"},
		{"delete both", "", []string{"tuple", "delete", "--filter", "document", "document:q9#viewer@user:ana"}, exitUsage, "not both"},
		{"delete limit without filter", "", []string{"tuple", "delete", "--limit", "3", "document:q9#viewer@user:ana"}, exitUsage, "--limit goes with --filter"},
		{"read bad cursor", "", []string{"tuple", "read", "--cursor", "!!"}, exitUsage, "invalid cursor"},
		{"read bad token", "", []string{"tuple", "read", "--revision", "xyz"}, exitUsage, "invalid consistency token"},
		{"read future", "", []string{"tuple", "read", "--revision", tuples.Revision(1000).Token()}, exitError3, "beyond the head"},
		{"read two filters", "", []string{"tuple", "read", "document", "group"}, exitUsage, "accepts at most 1 arg"},
		{"import missing file", "", []string{"tuple", "import", tdir + "nope.txt"}, exitError3, "no such file"},
		{"import bad format", "", []string{"tuple", "import", "--format", "csv", tdir + "rels.txt"}, exitUsage, "--format"},
		{"import bad progress", "", []string{"tuple", "import", "--progress", "loud", tdir + "rels.txt"}, exitUsage, "--progress"},
		{"import stdin", "document:s1#viewer@user:ana\n", []string{"tuple", "import", "--progress", "none", "-"}, exitOK, ""},
		{"import stdin bad", "document:s1#viewer@user:ana\ndocument:s1#viewer\n", []string{"tuple", "import", "-"}, exitNo, "<stdin>:2: invalid relationship"},
		{"schema write missing", "", []string{"schema", "write", tdir + "nope.zed"}, exitError3, "no such file"},
		{"schema write stdin", "definition user {}\n", []string{"schema", "write", "-"}, exitNo, "relationship"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, tt.stdin, append([]string{"--data-dir", dir}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.has) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.has)
			}
		})
	}
}

// TestTupleWriteLimit checks the 1,000-relationship limit of one write.
func TestTupleWriteLimit(t *testing.T) {
	dir := storeWith(t)
	var b strings.Builder
	for i := range 1001 {
		fmt.Fprintf(&b, "document:many#viewer@user:u%d\n", i)
	}
	code, _, stderr := reach(t, b.String(), "--data-dir", dir, "tuple", "write", "-")
	if code != exitUsage || !strings.Contains(stderr, "reach tuple import") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestTupleReadPages pages through everything two at a time, following the
// cursor printed on the standard error, while writes happen in between.
func TestTupleReadPages(t *testing.T) {
	dir := storeWith(t)
	_, all, _ := reach(t, "", "--data-dir", dir, "tuple", "read")
	var got strings.Builder
	args := []string{"--data-dir", dir, "tuple", "read", "--limit", "2"}
	for page := 0; ; page++ {
		code, stdout, stderr := reach(t, "", args...)
		if code != 0 || strings.Count(stdout, "\n") > 2 {
			t.Fatalf("page %d: exit %d, stdout %q, stderr %q", page, code, stdout, stderr)
		}
		got.WriteString(stdout)
		reach(t, "", "--data-dir", dir, "tuple", "write", fmt.Sprintf("document:p%d#viewer@user:ana", page))
		c, ok := strings.CutPrefix(strings.TrimSpace(stderr), "more: --cursor ")
		if !ok {
			break
		}
		args = []string{"--data-dir", dir, "tuple", "read", "--limit", "2", "--cursor", c}
	}
	if got.String() != all {
		t.Errorf("pages:\n%s\nwant:\n%s", got.String(), all)
	}
}

func TestTupleJSON(t *testing.T) {
	dir := storeWith(t)
	code, stdout, _ := reach(t, "", "--data-dir", dir, "-o", "json", "tuple", "write", "document:j1#viewer@user:ana[only_weekdays:{\"tz\":\"UTC\"}]")
	var w struct {
		Revision string
		Written  int
	}
	if err := json.Unmarshal([]byte(stdout), &w); err != nil || code != 0 || w.Written != 1 {
		t.Fatalf("write: exit %d, %q, %v", code, stdout, err)
	}
	if _, err := tuples.ParseToken(w.Revision); err != nil {
		t.Errorf("revision %q: %v", w.Revision, err)
	}
	_, stdout, _ = reach(t, "", "--data-dir", dir, "-o", "json", "tuple", "read", "document:j1")
	var r struct {
		Revision      string
		Relationships []struct {
			Relationship  string
			Caveat        string
			CaveatContext map[string]any `json:"caveat_context"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.Revision != w.Revision || len(r.Relationships) != 1 ||
		r.Relationships[0].Caveat != "only_weekdays" || r.Relationships[0].CaveatContext["tz"] != "UTC" {
		t.Errorf("read: %q, %v", stdout, err)
	}
	_, stdout, _ = reach(t, "", "--data-dir", dir, "-o", "json", "tuple", "import", "--skip-invalid", "--progress", "none", tdir+"bad.txt")
	var imp struct {
		Imported, Skipped int
		Invalid           []string
	}
	if err := json.Unmarshal([]byte(stdout), &imp); err != nil || imp.Imported != 4 || imp.Skipped != 2 || len(imp.Invalid) != 2 {
		t.Errorf("import: %q, %v", stdout, err)
	}
	_, stdout, _ = reach(t, "", "--data-dir", dir, "-o", "json", "schema", "read")
	var sch struct{ Revision, File, Schema string }
	src, _ := os.ReadFile(tdir + "docs.zed")
	if err := json.Unmarshal([]byte(stdout), &sch); err != nil || sch.Schema != string(src) || sch.File != tdir+"docs.zed" {
		t.Errorf("schema read: %q, %v", stdout, err)
	}
}

// TestTupleExportImport exports one store and imports it into another.
func TestTupleExportImport(t *testing.T) {
	src := storeWith(t)
	code, exported, _ := reach(t, "", "--data-dir", src, "tuple", "export")
	if code != 0 || !strings.HasPrefix(exported, "# relationships exported by reach at revision ") {
		t.Fatalf("export: exit %d: %q", code, exported)
	}
	dst := t.TempDir()
	reach(t, "", "--data-dir", dst, "schema", "write", tdir+"docs.zed")
	if code, _, stderr := reach(t, exported, "--data-dir", dst, "tuple", "import", "-"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	_, a, _ := reach(t, "", "--data-dir", src, "tuple", "read")
	_, b, _ := reach(t, "", "--data-dir", dst, "tuple", "read")
	if a != b || a == "" {
		t.Errorf("after the round trip:\n%s\nwant:\n%s", b, a)
	}
}

func TestImportProgress(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start
	var out strings.Builder
	p := &importProgress{w: &out, mode: "bar", total: 1000, start: start, now: func() time.Time { return clock }}
	for i, st := range []tuples.ImportStats{
		{Imported: 100, Bytes: 100},
		{Imported: 200, Bytes: 200}, // within 100ms: not drawn
		{Imported: 500000, Bytes: 500},
		{Imported: 1000000, Bytes: 1000},
	} {
		if i != 1 {
			clock = clock.Add(time.Second)
		}
		p.update(st)
	}
	p.finish()
	want := "\r[===>                          ]  10%  100 relationships  100/s" +
		"\r[===============>              ]  50%  500,000 relationships  250,000/s" +
		"\r[==============================] 100%  1,000,000 relationships  333,333/s\n"
	if out.String() != want {
		t.Errorf("bar:\n%q\nwant\n%q", out.String(), want)
	}

	out.Reset()
	clock = start
	p = &importProgress{w: &out, mode: "counts", start: start, now: func() time.Time { return clock }}
	// Nothing in the first second; then a line at most once a second.
	for _, st := range []tuples.ImportStats{{Imported: 10, Lines: 12}, {Imported: 20, Lines: 24}, {Imported: 30, Lines: 36}, {Imported: 40, Lines: 48}} {
		p.update(st)
		clock = clock.Add(500 * time.Millisecond)
	}
	clock = clock.Add(time.Second)
	p.update(tuples.ImportStats{Imported: 1234567, Lines: 1234570})
	p.finish()
	if want := "imported 30 relationships (36 lines read)\nimported 1,234,567 relationships (1,234,570 lines read)\n"; out.String() != want {
		t.Errorf("counts:\n%q\nwant\n%q", out.String(), want)
	}

	out.Reset()
	p = &importProgress{w: &out, mode: "bar", start: start, now: func() time.Time { return start.Add(2 * time.Second) }}
	p.update(tuples.ImportStats{Imported: 5000, Lines: 5001})
	if want := "\r5,000 relationships  5,001 lines  2,500/s"; out.String() != want {
		t.Errorf("bar of unknown size: %q, want %q", out.String(), want)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPlural(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		noun string
		want string
	}{{0, "line", "0 lines"}, {1, "batch", "1 batch"}, {2, "batch", "2 batches"}, {1500, "relationship", "1,500 relationships"}} {
		if got := plural(tt.n, tt.noun); got != tt.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
		}
	}
}
