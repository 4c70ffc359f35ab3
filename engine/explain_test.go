package engine

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/reach-authz/reach/internal/golden"
)

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	goldenfile.Check(t, filepath.Join("testdata", name), got)
}

// The explanations of a few checks, allowed and denied, as indented trees
// and as Graphviz, against golden files.
func TestExplain(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	checks := []string{
		"doc:d3#read@user:vera",             // arrows, two levels
		"doc:d2#read@user:carl",             // nested groups
		"doc:d3#read@user:zed",              // denied: every branch tried
		"doc:pub#not_blocked@user:bob",      // wildcard minus a user
		"doc:d6#all_folders@user:bert",      // .all, one folder short
		"group:ca#member@user:nobody",       // a cycle
		"doc:d5#review@user:ivan",           // intersection
		"doc:d10#read@user:vic",             // arrow over a subject-set tuple
		"group:eng#member@group:eng#member", // identity
	}
	var tree, dot strings.Builder
	for _, q := range checks {
		req := checkReq(t, q)
		req.Explain = true
		res, err := e.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Explanation == nil {
			t.Fatalf("%s: no explanation", q)
		}
		if res.Explanation.Result != res.Permissionship {
			t.Errorf("%s: explanation says %s, the check %s", q, res.Explanation.Result, res.Permissionship)
		}
		fmt.Fprintf(&tree, "# %s: %s\n", q, res.Permissionship)
		if err := res.Explanation.WriteTree(&tree); err != nil {
			t.Fatal(err)
		}
		tree.WriteString("\n")
		fmt.Fprintf(&dot, "// %s\n", q)
		if err := res.Explanation.WriteDot(&dot); err != nil {
			t.Fatal(err)
		}
		// Without Explain there is no explanation, and the same answer.
		req.Explain = false
		plain, err := e.Check(context.Background(), req)
		if err != nil || plain.Explanation != nil || plain.Permissionship != res.Permissionship {
			t.Errorf("%s unexplained: %s, %v, explanation %v", q, plain.Permissionship, err, plain.Explanation)
		}
	}
	golden(t, "explain.txt", tree.String())
	golden(t, "explain.dot", dot.String())
}

// An allowed explanation is a proof: every step in it is allowed, down to
// relationships that exist.
func TestExplainAllowedIsAProof(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	for _, q := range []string{"doc:d3#read@user:vera", "doc:d2#read@user:carl", "doc:d9#read@user:cyd", "doc:d12#layered@user:lena", "doc:d11#read@user:wanda"} {
		req := checkReq(t, q)
		req.Explain = true
		res, err := e.Check(context.Background(), req)
		if err != nil || res.Permissionship != Allowed {
			t.Fatalf("%s: %v %v", q, res.Permissionship, err)
		}
		// Under the subtracted side of an exclusion, steps are (rightly)
		// denied: only the rest must be allowed.
		var walk func(x *Explanation)
		walk = func(x *Explanation) {
			if x.Result != Allowed {
				var b bytes.Buffer
				res.Explanation.WriteTree(&b)
				t.Errorf("%s: step %q is %s in the proof:\n%s", q, x.Label(), x.Result, b.String())
			}
			for i, c := range x.Children {
				if x.Rule != RuleExclusion || i == 0 {
					walk(c)
				}
			}
		}
		walk(res.Explanation)
	}
}

// A relationship whose caveat is false is explained as such, not as a
// relationship that does not exist, wherever the walk meets it: a direct
// relationship, a subject set, an arrow, an .all arrow.
func TestExplainCaveatFalse(t *testing.T) {
	st := newTestStore(t, caveatSchema, caveatRels...)
	e := New(st, Options{})
	sunday := map[string]any{"day": "sunday"}
	tests := []struct {
		check string
		ctx   map[string]any
		want  string // a line of the tree
	}{
		{"doc:1#view@user:ana", sunday, "denied      doc:1#viewer@user:ana[weekday] (caveat weekday was false)"},
		{"doc:2#view@user:cy", sunday, "denied      doc:2#viewer@team:t#member[weekday] (caveat weekday was false)"},
		{"doc:3#teamview@user:cy", sunday, "denied      doc:3#team@team:t[weekday] (caveat weekday was false)"},
		{"doc:4#allview@user:cy", sunday, "denied      doc:4#team@team:t[weekday] (caveat weekday was false)"},
		// Absent is still absent; undecided is conditional, not false.
		{"doc:8#view@user:bob", sunday, "denied      no relationship doc:8#viewer@user:bob"},
		{"doc:1#view@user:ana", nil, "conditional doc:1#viewer@user:ana[weekday]\n"},
	}
	for _, tt := range tests {
		req := checkReq(t, tt.check)
		req.Explain, req.Context = true, tt.ctx
		res, err := e.Check(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := res.Explanation.WriteTree(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tt.want) {
			t.Errorf("%s with %v: no line %q in\n%s", tt.check, tt.ctx, tt.want, b.String())
		}
		if tt.ctx == nil && strings.Contains(b.String(), "was false") {
			t.Errorf("%s without context: a caveat reads false:\n%s", tt.check, b.String())
		}
	}
}
