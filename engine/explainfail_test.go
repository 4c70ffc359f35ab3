package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reach-authz/reach/caveats"
)

// negCycleSchema: a document's viewers view it, unless its parent's
// viewers do; two documents each the other's parent make view depend on
// itself through the exclusion (ErrNegativeCycle).
const negCycleSchema = `
definition user {}
definition doc {
	relation parent: doc
	relation viewer: user
	permission view = viewer - parent->view
}`

// overflowSchema: a caveat whose evaluation fails (an integer overflow)
// for the relationship below, reached through a group.
const overflowSchema = `
caveat over(a int) { a + 1 > 0 }
definition user {}
definition group {
	relation member: user | user with over
}
definition doc {
	relation viewer: user | group#member
	permission view = viewer
}`

var overflowRels = []string{
	"doc:d#viewer@group:g#member",
	`group:g#member@user:ana[over:{"a":"9223372036854775807"}]`,
}

// isErr is errors.Is(err, want) as a predicate.
func isErr(want error) func(error) bool {
	return func(err error) bool { return errors.Is(err, want) }
}

func isEvalError(err error) bool {
	var ee *caveats.EvaluationError
	return errors.As(err, &ee)
}

// explainedFailure checks q, explained, and returns the error, which must
// be what want accepts and carry an explanation, and the explanation as a
// tree.
func explainedFailure(t *testing.T, e *Engine, q string, want func(error) bool) (*ExplainedError, string) {
	t.Helper()
	req := checkReq(t, q)
	req.Explain = true
	_, err := e.Check(context.Background(), req)
	if !want(err) {
		t.Fatalf("%s: unexpected error %v", q, err)
	}
	var xe *ExplainedError
	if !errors.As(err, &xe) || xe.Explanation == nil {
		t.Fatalf("%s: %v carries no explanation", q, err)
	}
	if xe.Error() != xe.Err.Error() {
		t.Errorf("the message changed: %q, want %q", xe.Error(), xe.Err.Error())
	}
	var b strings.Builder
	if err := xe.Explanation.WriteTree(&b); err != nil {
		t.Fatal(err)
	}
	// Unexplained, the same error and none attached.
	req.Explain = false
	_, plain := e.Check(context.Background(), req)
	if !want(plain) || errors.As(plain, new(*ExplainedError)) {
		t.Errorf("%s unexplained: %v (%T), want the same error without an explanation", q, plain, plain)
	}
	if plain != nil && plain.Error() != err.Error() {
		t.Errorf("%s: message %q explained, %q not", q, err, plain)
	}
	return xe, b.String()
}

// failedPath is the chain of failed steps from the top down to where the
// check failed: each failed step has exactly one failed child but the last.
func failedPath(t *testing.T, x *Explanation) []*Explanation {
	t.Helper()
	var path []*Explanation
	for x != nil {
		if !x.Failed {
			t.Fatalf("step %q on the failed path is not failed", x.Label())
		}
		path = append(path, x)
		var next *Explanation
		for _, c := range x.Children {
			if c.Failed {
				if next != nil {
					t.Fatalf("step %q has two failed children", x.Label())
				}
				next = c
			}
		}
		x = next
	}
	return path
}

// An explained check that fails explains itself up to the failure: the
// steps from the top permission down to the one that failed, each with the
// branches it tried before (issue: a check that fails still explains
// itself, as in SpiceDB).
func TestExplainFailure(t *testing.T) {
	t.Run("max depth", func(t *testing.T) {
		const max = 5
		st := newTestStore(t, chainSchema, chainRels(10)...)
		xe, tree := explainedFailure(t, New(st, Options{MaxDepth: max}), "doc:pc0#view@user:u", isErr(ErrMaxDepth))
		t.Logf("\n%s", tree)
		path := failedPath(t, xe.Explanation)
		top, last := path[0], path[len(path)-1]
		if top.Rule != RulePermission || top.Resource != (Object{"doc", "pc0"}) || top.Relation != "view" {
			t.Errorf("top step %q, want doc:pc0#view (permission)", top.Label())
		}
		// pc0#view nests pc1#view ... pc4#view, and pc4's viewer relation
		// is the check past the limit (its parent->view too, but the first
		// operand's failure is the one kept).
		if last.Rule != RuleRelation || last.Resource != (Object{"doc", "pc4"}) || last.Relation != "viewer" || !last.FailedHere() {
			t.Errorf("failed at %q, want doc:pc4#viewer", last.Label())
		}
		for _, want := range []string{
			"failed      doc:pc0#view (permission)\n",
			"  failed      union\n",
			"    denied      doc:pc0#viewer (relation)\n",
			"      failed      doc:pc0#parent@doc:pc1\n",
			"failed      doc:pc4#viewer (relation, failed here)\n",
		} {
			if !strings.Contains(tree, want) {
				t.Errorf("tree lacks %q:\n%s", want, tree)
			}
		}
		if xe.Revision == 0 {
			t.Error("no revision")
		}
	})
	t.Run("negative cycle", func(t *testing.T) {
		st := newTestStore(t, negCycleSchema, "doc:a#parent@doc:b", "doc:b#parent@doc:a", "doc:a#viewer@user:u", "doc:b#viewer@user:u")
		xe, tree := explainedFailure(t, New(st, Options{}), "doc:a#view@user:u", isErr(ErrNegativeCycle))
		t.Logf("\n%s", tree)
		path := failedPath(t, xe.Explanation)
		last := path[len(path)-1]
		if last.Rule != RuleExclusion || !strings.Contains(tree, "failed      exclusion (failed here)\n") {
			t.Errorf("failed at %q, want the exclusion:\n%s", last.Label(), tree)
		}
		// doc:b's exclusion is the one that depends on doc:a, still being
		// checked: its subtracted side is the cycle.
		if !strings.Contains(tree, "doc:a#view (cycle: already being checked)") {
			t.Errorf("tree lacks the cycle:\n%s", tree)
		}
	})
	t.Run("caveat", func(t *testing.T) {
		st := newTestStore(t, overflowSchema, overflowRels...)
		xe, tree := explainedFailure(t, New(st, Options{}), "doc:d#view@user:ana", isEvalError)
		t.Logf("\n%s", tree)
		path := failedPath(t, xe.Explanation)
		last := path[len(path)-1]
		if last.Rule != RuleRelationship || !strings.HasPrefix(last.Relationship, "group:g#member@user:ana[over") {
			t.Errorf("failed at %q, want the caveated relationship", last.Label())
		}
		if path[0].Resource != (Object{"doc", "d"}) || path[0].Relation != "view" {
			t.Errorf("top step %q, want doc:d#view", path[0].Label())
		}
	})
}

// A branch that fails but does not decide leaves no trace in the
// explanation of a check that another branch answers.
func TestExplainFailedBranchNotDeciding(t *testing.T) {
	rels := append(chainRels(10), "doc:pc0#viewer@user:v")
	st := newTestStore(t, parentFirstSchema, rels...)
	req := checkReq(t, "doc:pc0#view@user:v")
	req.Explain = true
	res, err := New(st, Options{MaxDepth: 5}).Check(context.Background(), req)
	if err != nil || res.Permissionship != Allowed {
		t.Fatalf("%v, %v; want allowed", res.Permissionship, err)
	}
	var walk func(x *Explanation)
	walk = func(x *Explanation) {
		if x.Failed {
			t.Errorf("failed step %q in the proof", x.Label())
		}
		for _, c := range x.Children {
			walk(c)
		}
	}
	walk(res.Explanation)
}
