package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const failZed = `caveat over(a int) { a + 1 > 0 }

definition user {}

definition doc {
	relation parent: doc
	relation viewer: user | user with over
	permission view = viewer + parent->view
}

definition neg {
	relation parent: neg
	relation viewer: user
	permission view = viewer - parent->view
}
`

// failRels: a chain of documents deeper than the default depth limit (50),
// two neg documents each the other's parent (a negative cycle), and a
// caveat that overflows when evaluated.
func failRels() string {
	var b strings.Builder
	for i := range 55 {
		fmt.Fprintf(&b, "doc:c%d#parent@doc:c%d\n", i, i+1)
	}
	b.WriteString("neg:a#parent@neg:b\nneg:b#parent@neg:a\nneg:a#viewer@user:u\nneg:b#viewer@user:u\n")
	b.WriteString("doc:k#parent@doc:k2\n")
	b.WriteString(`doc:k2#viewer@user:ana[over:{"a":"9223372036854775807"}]` + "\n")
	return b.String()
}

// A check that fails explains itself with --explain, locally and from
// reach serve alike (the server sends the trace in the error's details,
// as SpiceDB does): the steps down to the failure, then the error on
// stderr and status 3. Without --explain only the error.
func TestCheckExplainFailure(t *testing.T) {
	t.Setenv("REACH_ENDPOINT", "")
	t.Setenv("REACH_TOKEN", "")
	addr := startRemote(t)
	dir, files := t.TempDir(), t.TempDir()
	zed, rels := filepath.Join(files, "fail.zed"), filepath.Join(files, "rels.txt")
	if err := os.WriteFile(zed, []byte(failZed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rels, []byte(failRels()), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []remoteStep{
		{args: "schema write " + zed, stderr: true},
		{args: "tuple import --progress none " + rels, stderr: true},
	}
	checks := []struct {
		check string
		want  []string // lines of the tree
		err   string   // in the error
	}{
		{"doc:c0 view user:u", []string{
			"failed      doc:c0#view (permission)\n",
			"  failed      union\n",
			"    denied      doc:c0#viewer (relation)\n",
			"    failed      arrow parent->view\n",
			"      failed      doc:c0#parent@doc:c1\n",
			"failed      doc:c49#viewer (relation, failed here)\n",
		}, "maximum depth exceeded (50)"},
		{"neg:a view user:u", []string{
			"failed      neg:a#view (permission)\n",
			"failed      neg:b#view (permission)\n",
			"failed      exclusion (failed here)\n",
			"denied      neg:a#view (cycle: already being checked)\n",
		}, "depends on itself through an exclusion"},
		{"doc:k view user:ana", []string{
			"failed      doc:k#view (permission)\n",
			"failed      doc:k2#view (permission)\n",
			"failed      doc:k2#viewer (relation)\n",
			`failed      doc:k2#viewer@user:ana[over:{"a":"9223372036854775807"}] (failed here)` + "\n",
		}, "caveat"},
	}
	for _, c := range checks {
		for _, format := range []string{"", " --format dot", " -o json", " -o json --format dot"} {
			steps = append(steps, remoteStep{args: "check " + c.check + " --explain" + format, stderr: true})
		}
		steps = append(steps, remoteStep{args: "check " + c.check, stderr: true})
	}
	compareRemote(t, dir, addr, steps)

	for _, c := range checks {
		args := append([]string{"check"}, strings.Fields(c.check)...)
		for _, where := range [][]string{{"--data-dir", dir}, {"--endpoint", addr, "--token", remoteTestKey}} {
			code, out, stderr := reach(t, "", append(append([]string{}, where...), append(args, "--explain")...)...)
			if code != exitError3 || !strings.Contains(stderr, c.err) {
				t.Errorf("%v %s --explain: exit %d, stderr %q; want 3 and %q", where, c.check, code, stderr, c.err)
			}
			for _, line := range c.want {
				if !strings.Contains(out, line) {
					t.Errorf("%v %s --explain: the explanation lacks %q:\n%s", where, c.check, line, out)
				}
			}
			code, out, stderr = reach(t, "", append(append([]string{"-o", "json"}, where...), append(args, "--explain")...)...)
			var j checkFailureJSON
			if err := json.Unmarshal([]byte(out), &j); err != nil || code != exitError3 {
				t.Fatalf("%v -o json %s --explain: exit %d, %v: %s%s", where, c.check, code, err, out, stderr)
			}
			if !strings.Contains(j.Error, c.err) || j.Explanation == nil || j.Explanation.Result != "failed" {
				t.Errorf("%v -o json %s --explain: %s", where, c.check, out)
			}
			// Not asked for, no explanation.
			code, out, stderr = reach(t, "", append(append([]string{}, where...), args...)...)
			if code != exitError3 || out != "" || !strings.Contains(stderr, c.err) {
				t.Errorf("%v %s: exit %d, stdout %q, stderr %q; want 3, nothing, the error", where, c.check, code, out, stderr)
			}
		}
	}
}
