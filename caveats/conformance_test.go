package caveats

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/reach-authz/reach/internal/corpus"
	"github.com/reach-authz/reach/schema"
)

// The caveat files of SpiceDB's integration tests (../shared/conformance/
// spicedb/*caveat*.yaml, and the truth tables SpiceDB computed over the same
// data, matrix/*caveat*.matrix.yaml, with the checks their lookups files
// record as conditional) as a data source: every caveat in them must
// compile, and every assertion must hold when its answer is computed from
// the file's relationships by a small reference checker written here (no
// engine: relations, unions, intersections, exclusions, arrows, subject sets
// and wildcards), which evaluates each caveated relationship with this
// package and combines the results with And, Or and Not, as SpiceDB
// combines caveat expressions. It checks Evaluate (context merging, type
// conversion, partial results) and the combinators against SpiceDB's
// recorded answers, and shows the engine how to use them.

type confFile struct {
	Schema        string              `yaml:"schema"`
	Relationships string              `yaml:"relationships"`
	Assertions    map[string][]string `yaml:"assertions"`
}

type confRel struct {
	resType, resID, rel  string
	subType, subID, sRel string
	caveat               string
	ctx                  map[string]any
}

func conformanceFiles(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "conformance")
	corpus.Dir(t, dir)
	files, err := filepath.Glob(filepath.Join(dir, "spicedb", "*caveat*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	// The two other source files with caveats (README.md).
	for _, name := range []string{"multipleslashes.yaml", "quay.yaml"} {
		files = append(files, filepath.Join(dir, "spicedb", name))
	}
	return files
}

// matrixFiles returns the truth tables SpiceDB computed over the same data
// (matrix/X.matrix.yaml, same format, every check asked).
func matrixFiles(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "conformance", "matrix")
	files, err := filepath.Glob(filepath.Join(dir, "*caveat*.matrix.yaml"))
	require.NoError(t, err)
	for _, name := range []string{"multipleslashes.matrix.yaml", "quay.matrix.yaml"} {
		files = append(files, filepath.Join(dir, name))
	}
	return files
}

func TestConformanceCaveats(t *testing.T) {
	var compiled, assertions int
	for _, path := range append(conformanceFiles(t), matrixFiles(t)...) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			var f confFile
			require.NoError(t, yaml.Unmarshal(data, &f))
			prog, diags, err := schema.Compile(filepath.Base(path), []byte(f.Schema))
			require.NoError(t, err, "%v", diags)

			cks := &refChecker{t: t, prog: prog, caveats: map[string]*Caveat{}}
			for _, sc := range prog.Caveats() {
				c, err := Compile(sc)
				require.NoError(t, err, "caveat %s", sc.Name)
				cks.caveats[sc.Name] = c
				compiled++
			}
			require.NotEmpty(t, cks.caveats)
			cks.rels = parseConfRels(t, f.Relationships)

			for kind, want := range map[string]Outcome{"assertTrue": True, "assertFalse": False, "assertCaveated": Partial} {
				asserted := f.Assertions[kind]
				if kind == "assertCaveated" {
					asserted = append(slices.Clone(asserted), conditionalChecks(t, path)...)
				}
				for _, a := range asserted {
					res, perm, sub, ctx := parseConfAssertion(t, a)
					cks.reqCtx = ctx
					got := cks.check(res[0], res[1], perm, sub, 0)
					require.Equal(t, want, got.Outcome, "%s: %s gave %s", kind, a, got)
					if got.Outcome == Partial {
						require.NotEmpty(t, got.Missing, a)
					}
					assertions++
				}
			}
		})
	}
	t.Logf("%d caveats compiled, %d assertions checked", compiled, assertions)
}

// conditionalChecks returns, for a matrix file, the checks its lookups file
// (X.lookups.yaml) records as answered CONDITIONAL_PERMISSION by SpiceDB
// without context.
func conditionalChecks(t *testing.T, matrixPath string) []string {
	t.Helper()
	if !strings.HasSuffix(matrixPath, ".matrix.yaml") {
		return nil
	}
	data, err := os.ReadFile(strings.TrimSuffix(matrixPath, ".matrix.yaml") + ".lookups.yaml")
	require.NoError(t, err)
	var l struct {
		ConditionalChecks []string `yaml:"conditionalChecks"`
	}
	require.NoError(t, yaml.Unmarshal(data, &l))
	return l.ConditionalChecks
}

type refChecker struct {
	t       *testing.T
	prog    *schema.Program
	caveats map[string]*Caveat
	rels    []confRel
	reqCtx  map[string]any
}

func (c *refChecker) caveat(r confRel) Result {
	if r.caveat == "" {
		return Result{Outcome: True}
	}
	cv := c.caveats[r.caveat]
	require.NotNil(c.t, cv, "caveat %s", r.caveat)
	res, err := cv.Evaluate(r.ctx, c.reqCtx)
	require.NoError(c.t, err)
	return res
}

// check answers whether sub (type, id, relation) has perm on typ:id.
func (c *refChecker) check(typ, id, perm string, sub [3]string, depth int) Result {
	require.Less(c.t, depth, 50, "recursion too deep")
	if typ == sub[0] && id == sub[1] && perm == sub[2] {
		return Result{Outcome: True}
	}
	rel := c.prog.Lookup(typ, perm)
	require.NotNil(c.t, rel, "%s#%s", typ, perm)
	if rel.Kind == schema.KindPermission {
		return c.rewrite(typ, id, rel.Rewrite, sub, depth)
	}
	out := Result{Outcome: False}
	for _, r := range c.rels {
		if r.resType != typ || r.resID != id || r.rel != perm {
			continue
		}
		switch {
		case r.subType == sub[0] && r.subID == sub[1] && r.sRel == sub[2]:
			out = Or(out, c.caveat(r))
		case r.subType == sub[0] && r.subID == "*" && sub[2] == "":
			out = Or(out, c.caveat(r))
		case r.sRel != "":
			out = Or(out, And(c.caveat(r), c.check(r.subType, r.subID, r.sRel, sub, depth+1)))
		}
	}
	return out
}

func (c *refChecker) rewrite(typ, id string, rw *schema.Rewrite, sub [3]string, depth int) Result {
	switch rw.Op {
	case schema.OpNil:
		return Result{Outcome: False}
	case schema.OpComputed:
		return c.check(typ, id, rw.Relation, sub, depth+1)
	case schema.OpUnion, schema.OpIntersection:
		out := c.rewrite(typ, id, rw.Children[0], sub, depth)
		for _, ch := range rw.Children[1:] {
			if rw.Op == schema.OpUnion {
				out = Or(out, c.rewrite(typ, id, ch, sub, depth))
			} else {
				out = And(out, c.rewrite(typ, id, ch, sub, depth))
			}
		}
		return out
	case schema.OpExclusion:
		return And(c.rewrite(typ, id, rw.Children[0], sub, depth), Not(c.rewrite(typ, id, rw.Children[1], sub, depth)))
	case schema.OpArrow, schema.OpArrowAll:
		all := rw.Op == schema.OpArrowAll
		out := Result{Outcome: False}
		found := false
		for _, r := range c.rels {
			if r.resType != typ || r.resID != id || r.rel != rw.Relation {
				continue
			}
			if c.prog.Lookup(r.subType, rw.Target) == nil {
				continue
			}
			step := And(c.caveat(r), c.check(r.subType, r.subID, rw.Target, sub, depth+1))
			if all && found {
				out = And(out, step)
			} else if all {
				out = step
			} else {
				out = Or(out, step)
			}
			found = true
		}
		return out
	}
	c.t.Fatalf("unknown rewrite op %s", rw.Op)
	return Result{}
}

func splitObject(t *testing.T, s string) [3]string {
	t.Helper()
	obj, rel, _ := strings.Cut(s, "#")
	if rel == "..." {
		rel = "" // the subject itself
	}
	typ, id, ok := strings.Cut(obj, ":")
	require.True(t, ok, "object %q", s)
	return [3]string{typ, id, rel}
}

func parseConfRels(t *testing.T, text string) []confRel {
	t.Helper()
	var out []confRel
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "//") {
			continue
		}
		main, rest, _ := strings.Cut(line, "[")
		if rest != "" {
			rest = "[" + rest
		}
		resPart, subPart, ok := strings.Cut(main, "@")
		require.True(t, ok, line)
		res, sub := splitObject(t, resPart), splitObject(t, subPart)
		r := confRel{resType: res[0], resID: res[1], rel: res[2], subType: sub[0], subID: sub[1], sRel: sub[2]}
		expired := false
		for rest != "" {
			require.True(t, strings.HasPrefix(rest, "["), line)
			rest = rest[1:]
			end := strings.IndexAny(rest, ":]")
			require.GreaterOrEqual(t, end, 0, line)
			name := rest[:end]
			if rest[end] == ']' {
				r.caveat, rest = name, rest[end+1:]
				continue
			}
			rest = rest[end+1:]
			if name == "expiration" {
				stamp, after, _ := strings.Cut(rest, "]")
				ts, err := time.Parse(time.RFC3339, stamp)
				require.NoError(t, err, line)
				expired = !ts.After(time.Now())
				rest = after
				continue
			}
			dec := json.NewDecoder(strings.NewReader(rest))
			require.NoError(t, dec.Decode(&r.ctx), line)
			rest = strings.TrimPrefix(rest[dec.InputOffset():], "]")
			r.caveat = name
		}
		if !expired {
			out = append(out, r)
		}
	}
	return out
}

func parseConfAssertion(t *testing.T, a string) (res [3]string, perm string, sub [3]string, ctx map[string]any) {
	t.Helper()
	check, ctxText, hasCtx := strings.Cut(a, " with ")
	if hasCtx {
		require.NoError(t, json.Unmarshal([]byte(ctxText), &ctx), a)
	}
	resPart, subPart, ok := strings.Cut(strings.TrimSpace(check), "@")
	require.True(t, ok, a)
	res = splitObject(t, resPart)
	sub = splitObject(t, subPart)
	return res, res[2], sub, ctx
}

// TestConformanceCaveatExpressions evaluates, one by one, caveats of the
// corpus with a stored context and a request context taken from the same
// file, where the assertion's answer is that of the one relationship
// (paired by hand). The expected outcome is the assertion's.
func TestConformanceCaveatExpressions(t *testing.T) {
	files := conformanceFiles(t)
	dir := filepath.Dir(files[0])
	tcs := []struct {
		file, caveat, relCtx, assertion string
		want                            Outcome
	}{
		{"basiccaveat.yaml", "some_caveat", `{"somecondition":41}`, `document:firstdoc#view@user:fred with {"somecondition": 42}`, False},
		{"basiccaveat.yaml", "some_caveat", `{"somecondition":42}`, `document:firstdoc#view@user:tom with {"somecondition": 41}`, True},
		{"basiccaveat.yaml", "some_caveat", ``, `document:firstdoc#view@user:sarah`, Partial},
		{"caveatip.yaml", "is_valid_ip", `{"cidr":"10.0.0.0/8"}`, `document:firstdoc#view@user:tom with {"user_ip": "10.2.3.4"}`, True},
		{"caveatip.yaml", "is_valid_ip", `{"cidr":"10.1.0.0/16"}`, `document:firstdoc#view@user:sarah with {"user_ip": "10.2.3.4"}`, False},
		{"caveatip.yaml", "is_valid_ip", `{"cidr":"10.1.0.0/16"}`, `document:firstdoc#view@user:sarah`, Partial},
		{"caveatexpiration.yaml", "is_not_expired", `{"expiration":"2023-12-01T00:00:00Z"}`, `document:firstdoc#view@user:tom with {"current_time":"2023-12-01T00:01:00Z"}`, False},
		{"caveatlist.yaml", "some_caveat", ``, `document:firstdoc#view@user:sarah with {"somelist":[]}`, True},
		{"caveatlist.yaml", "some_caveat", ``, `document:firstdoc#view@user:sarah with {"somelist":[12]}`, False},
		{"caveatmap.yaml", "some_caveat", ``, `document:firstdoc#view@user:sarah with {"somemap":{"foo": 42, "bar": -2}}`, True},
		{"caveatmap.yaml", "some_caveat", ``, `document:firstdoc#view@user:sarah with {"somemap":{"foo": 42, "bar": 56}}`, False},
	}
	for _, tc := range tcs {
		t.Run(tc.file+"/"+tc.assertion, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			require.NoError(t, err)
			var f confFile
			require.NoError(t, yaml.Unmarshal(data, &f))
			// The pairing must come from the file.
			stored := fmt.Sprintf("[%s]", tc.caveat)
			if tc.relCtx != "" {
				stored = fmt.Sprintf("[%s:%s]", tc.caveat, tc.relCtx)
			}
			require.Contains(t, f.Relationships, stored)
			kind := map[Outcome]string{True: "assertTrue", False: "assertFalse", Partial: "assertCaveated"}[tc.want]
			require.Contains(t, f.Assertions[kind], tc.assertion)

			prog, _, err := schema.Compile(tc.file, []byte(f.Schema))
			require.NoError(t, err)
			c, err := Compile(prog.Caveat(tc.caveat))
			require.NoError(t, err)
			var relCtx map[string]any
			if tc.relCtx != "" {
				require.NoError(t, json.Unmarshal([]byte(tc.relCtx), &relCtx))
			}
			_, _, _, reqCtx := parseConfAssertion(t, tc.assertion)
			got, err := c.Evaluate(relCtx, reqCtx)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Outcome, got.String())
		})
	}
}
