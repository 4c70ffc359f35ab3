package engine

import (
	"fmt"
	"io"
	"strings"

	"github.com/reach-authz/reach/tuples"
)

// Rules name the steps of an Explanation.
const (
	// RulePermission and RuleRelation are the evaluation of
	// Resource#Relation; their children say how it was decided.
	RulePermission = "permission"
	RuleRelation   = "relation"
	// RuleRelationship is one relationship followed (Result Denied when it
	// is absent, or when what it leads to was not reached).
	RuleRelationship = "relationship"
	RuleUnion        = "union"
	RuleIntersection = "intersection"
	RuleExclusion    = "exclusion"
	RuleArrow        = "arrow"
	RuleArrowAll     = "arrow-all"
	RuleNil          = "nil"
	// RuleIdentity: the subject set is the object and relation asked about.
	RuleIdentity = "identity"
	// RuleCycle: the step was already being evaluated (a cycle in the
	// data); it counts as Denied along this path.
	RuleCycle = "cycle"
	// RuleUndefined: the object's type has no such relation or permission.
	RuleUndefined = "undefined"

	ruleList = "list" // internal: a list of children to splice into the parent
)

// Explanation is the proof of a check (Allowed: only the branches that
// prove it) or the branches tried (Denied), as a tree.
type Explanation struct {
	Rule string
	// Resource and Relation are set for the rules permission, relation,
	// identity, cycle and undefined.
	Resource Object
	Relation string
	// Relationship is the relationship of a RuleRelationship step.
	Relationship string
	// CaveatFalse is the caveat of a RuleRelationship step's relationship
	// when it evaluated to false: the relationship exists but counts as
	// absent.
	CaveatFalse string
	// Arrow is "tupleset->target" for the arrow rules.
	Arrow  string
	Result Permissionship
	// Failed marks a step of a check that failed (see ExplainedError): the
	// walk stopped inside it, so it has no result (Result is to be
	// ignored). Its Children are the steps it tried, among them the failed
	// one it was in. The failed step without a failed child is where the
	// check failed (FailedHere): the check that went past the depth limit,
	// the relationship whose caveat could not be evaluated, the exclusion
	// that depends on itself.
	Failed   bool
	Children []*Explanation
}

// FailedHere reports whether the check failed in this step itself: it
// failed, and none of its children did.
func (x *Explanation) FailedHere() bool {
	if !x.Failed {
		return false
	}
	for _, c := range x.Children {
		if c != nil && c.Failed {
			return false
		}
	}
	return true
}

// ResultString is the step's result as printed: its Result, or "failed".
func (x *Explanation) ResultString() string {
	if x.Failed {
		return "failed"
	}
	return x.Result.String()
}

// ExplainedError is the error of an explained check (CheckRequest.Explain)
// that failed during its walk (ErrMaxDepth, ErrNegativeCycle, a caveat that
// could not be evaluated, a store that failed): the error, unchanged
// (Error, errors.Is and errors.As see through to it), and the explanation
// of the check up to the failure: from the top permission down to the step
// where it failed, each step with the steps it had tried before. A check
// that fails before its walk (an unknown type or permission) has none.
type ExplainedError struct {
	Err         error
	Explanation *Explanation
	// Revision is the revision the check read (0: unknown).
	Revision tuples.Revision
}

func (e *ExplainedError) Error() string { return e.Err.Error() }
func (e *ExplainedError) Unwrap() error { return e.Err }

// Label is a one-line description of the step.
func (x *Explanation) Label() string {
	here := x.FailedHere()
	switch x.Rule {
	case RulePermission, RuleRelation:
		if here {
			return fmt.Sprintf("%s#%s (%s, failed here)", x.Resource, x.Relation, x.Rule)
		}
		return fmt.Sprintf("%s#%s (%s)", x.Resource, x.Relation, x.Rule)
	}
	l := x.label()
	if here {
		l += " (failed here)"
	}
	return l
}

func (x *Explanation) label() string {
	switch x.Rule {
	case RuleRelationship:
		if x.Failed {
			return x.Relationship
		}
		if x.CaveatFalse != "" {
			return fmt.Sprintf("%s (caveat %s was false)", x.Relationship, x.CaveatFalse)
		}
		if x.Result == Denied && len(x.Children) == 0 {
			return "no relationship " + x.Relationship
		}
		return x.Relationship
	case RuleArrow:
		return "arrow " + x.Arrow
	case RuleArrowAll:
		return "arrow " + strings.Replace(x.Arrow, "->", ".all(", 1) + ")"
	case RuleIdentity:
		return fmt.Sprintf("%s#%s is the subject", x.Resource, x.Relation)
	case RuleCycle:
		return fmt.Sprintf("%s#%s (cycle: already being checked)", x.Resource, x.Relation)
	case RuleUndefined:
		return fmt.Sprintf("%s#%s (not defined on %s)", x.Resource, x.Relation, x.Resource.Type)
	}
	return x.Rule
}

// WriteTree prints the explanation as an indented tree, one step a line,
// each prefixed with its result.
func (x *Explanation) WriteTree(w io.Writer) error {
	var b strings.Builder
	x.writeTree(&b, 0, map[*Explanation]bool{})
	_, err := io.WriteString(w, b.String())
	return err
}

func (x *Explanation) writeTree(b *strings.Builder, depth int, seen map[*Explanation]bool) {
	if x == nil {
		return
	}
	fmt.Fprintf(b, "%s%-11s %s", strings.Repeat("  ", depth), x.ResultString(), x.Label())
	if seen[x] && len(x.Children) > 0 {
		b.WriteString(" (as above)\n")
		return
	}
	seen[x] = true
	b.WriteByte('\n')
	for _, c := range x.Children {
		c.writeTree(b, depth+1, seen)
	}
}

// WriteDot prints the explanation as a Graphviz digraph: green steps were
// reached, red ones were not, orange ones are conditional, grey ones
// failed.
func (x *Explanation) WriteDot(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph explanation {\n  rankdir=BT;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n")
	ids := map[*Explanation]int{}
	var walk func(*Explanation) int
	walk = func(n *Explanation) int {
		if id, ok := ids[n]; ok {
			return id
		}
		id := len(ids)
		ids[n] = id
		color := map[Permissionship]string{Allowed: "#c8f7c5", Denied: "#f7c5c5", Conditional: "#f7e3c5"}[n.Result]
		if n.Failed {
			color = "#d9d9d9"
		}
		fmt.Fprintf(&b, "  n%d [label=%s, fillcolor=%q];\n", id, dotQuote(n.ResultString()+"\n"+n.Label()), color)
		for _, c := range n.Children {
			if c == nil {
				continue
			}
			cid := walk(c)
			fmt.Fprintf(&b, "  n%d -> n%d;\n", cid, id)
		}
		return id
	}
	if x != nil {
		walk(x)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotQuote quotes s as a Graphviz string: quotes and backslashes escaped,
// line breaks as \n (centred lines).
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
