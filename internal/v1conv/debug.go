package v1conv

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// A check's explanation crosses the wire as SpiceDB's CheckDebugTrace (the
// debug_trace of CheckPermissionResponse), so that zed's `permission check
// --explain`, the SDKs and `reach --endpoint ... check --explain` all see
// the same proof.
//
// Every step of the explanation is one trace node, in the same order:
//
//   - resource is the step's object: the permission's or relation's for the
//     permission, relation, identity, cycle and undefined steps, the
//     relationship's resource for a relationship step, and the enclosing
//     permission's for the operator steps (union, intersection, exclusion,
//     arrow, nil);
//   - permission is the permission or relation evaluated, or for the other
//     steps what the step is: "union", "intersection", "exclusion", "nil",
//     the arrow as the schema spells it ("parent->view",
//     "parent.all(view)"), or a relationship without its resource
//     ("viewer@group:eng#member", "parent" when none was found);
//   - permission_type is PERMISSION or RELATION (the API allows no other):
//     an operator step takes its permission's, a relationship step is a
//     RELATION;
//   - subject is the subject checked, the same on every node (as in
//     SpiceDB);
//   - result is the step's result; a conditional step, and a relationship
//     whose caveat was evaluated, carry caveat_evaluation_info;
//   - source is "reach:" and the step's rule (reach:permission,
//     reach:union, reach:relationship, ...), which is what lets a client
//     read the explanation back exactly (TraceToExplanation);
//   - trace_operation_id names the step: a step reached twice in one
//     explanation (a shared sub-problem) is sent in full once, and then as
//     a node with the same trace_operation_id and was_cached_result set, as
//     SpiceDB marks work shared between traces;
//   - duration is set on the root only: the time of the whole check.
//
// A check that failed (engine.ExplainedError) is explained up to the
// failure: its failed steps are nodes whose source ends in FailedSuffix
// ("reach:permission:failed") and whose result is NO_PERMISSION, as
// SpiceDB sends the dispatches an error cut short (they have no result). A
// relationship whose caveat could not be evaluated carries a caveat
// evaluation with result UNEVALUATED (when the server gives one). Such a
// trace travels in the error, not in a response: see
// DebugTraceErrorDetailsKey.

// SourcePrefix begins the source of every trace node reach sends.
const SourcePrefix = "reach:"

// FailedSuffix ends the source of a node of a failed step.
const FailedSuffix = ":failed"

// TraceOptions carry what a trace needs beyond the explanation.
type TraceOptions struct {
	// Resource and Subject are those of the check (Resource is the fallback
	// resource of an operator step that has no enclosing permission).
	Resource engine.Object
	Subject  engine.Subject
	// Missing is the check's missing caveat context (for a conditional
	// step whose caveats give no list of their own).
	Missing []string
	// Duration is the time the check took (0: none).
	Duration time.Duration
	// Caveat, when set, is called for each relationship step whose
	// relationship has a caveat (and was not found false), and returns its
	// evaluation (nil: none known).
	Caveat func(r tuples.Relationship) *v1.CaveatEvalInfo
	// Expression, when set, returns the expression of the named caveat (for
	// a caveat found false).
	Expression func(caveat string) string
	// PermissionType, when set, says whether Type#Relation is a permission
	// or a relation, for the identity, cycle and undefined steps (default:
	// RELATION).
	PermissionType func(typ, relation string) v1.CheckDebugTrace_PermissionType
}

// ExplanationToTrace converts an explanation into a CheckDebugTrace (nil
// for nil).
func ExplanationToTrace(x *engine.Explanation, o TraceOptions) *v1.CheckDebugTrace {
	if x == nil {
		return nil
	}
	w := &traceWriter{o: o, ids: map[*engine.Explanation]string{}}
	t := w.node(x, o.Resource, v1.CheckDebugTrace_PERMISSION_TYPE_PERMISSION)
	if o.Duration > 0 {
		t.Duration = durationpb.New(o.Duration)
	}
	return t
}

type traceWriter struct {
	o   TraceOptions
	ids map[*engine.Explanation]string
}

func (w *traceWriter) node(x *engine.Explanation, enclosing engine.Object, ptype v1.CheckDebugTrace_PermissionType) *v1.CheckDebugTrace {
	t := &v1.CheckDebugTrace{
		Subject: &v1.SubjectReference{
			Object:           &v1.ObjectReference{ObjectType: w.o.Subject.Type, ObjectId: w.o.Subject.ID},
			OptionalRelation: w.o.Subject.Relation,
		},
		Result: TraceResultToProto(x.Result),
		Source: SourcePrefix + x.Rule,
	}
	if x.Failed {
		t.Result = v1.CheckDebugTrace_PERMISSIONSHIP_NO_PERMISSION
		t.Source += FailedSuffix
	}
	resource := enclosing
	var rel *tuples.Relationship
	switch x.Rule {
	case engine.RulePermission, engine.RuleRelation:
		resource, t.Permission = x.Resource, x.Relation
		ptype = v1.CheckDebugTrace_PERMISSION_TYPE_RELATION
		if x.Rule == engine.RulePermission {
			ptype = v1.CheckDebugTrace_PERMISSION_TYPE_PERMISSION
		}
	case engine.RuleIdentity, engine.RuleCycle, engine.RuleUndefined:
		resource, t.Permission = x.Resource, x.Relation
		ptype = v1.CheckDebugTrace_PERMISSION_TYPE_RELATION
		if w.o.PermissionType != nil {
			if p := w.o.PermissionType(x.Resource.Type, x.Relation); p != v1.CheckDebugTrace_PERMISSION_TYPE_UNSPECIFIED {
				ptype = p
			}
		}
	case engine.RuleRelationship:
		ptype = v1.CheckDebugTrace_PERMISSION_TYPE_RELATION
		if obj, rest, ok := splitRelationship(x.Relationship); ok {
			resource, t.Permission = obj, rest
		} else {
			t.Permission = x.Relationship // not expected: the engine writes type:id#...
		}
		if r, err := tuples.Parse(x.Relationship); err == nil {
			rel = &r
		}
	case engine.RuleArrow:
		t.Permission = x.Arrow
	case engine.RuleArrowAll:
		t.Permission = arrowAll(x.Arrow)
	default: // union, intersection, exclusion, nil
		t.Permission = x.Rule
	}
	t.Resource = &v1.ObjectReference{ObjectType: resource.Type, ObjectId: resource.ID}
	t.PermissionType = ptype

	switch {
	case x.CaveatFalse != "":
		info := &v1.CaveatEvalInfo{CaveatName: x.CaveatFalse, Result: v1.CaveatEvalInfo_RESULT_FALSE}
		if w.o.Expression != nil {
			info.Expression = w.o.Expression(x.CaveatFalse)
		}
		if rel != nil && rel.Caveat != nil && w.o.Caveat != nil {
			if got := w.o.Caveat(*rel); got != nil && got.GetResult() == v1.CaveatEvalInfo_RESULT_FALSE {
				info = got
			}
		}
		t.CaveatEvaluationInfo = info
	case rel != nil && rel.Caveat != nil && w.o.Caveat != nil:
		t.CaveatEvaluationInfo = w.o.Caveat(*rel)
	}

	if id, seen := w.ids[x]; seen {
		// A shared step, sent in full where it first appears.
		t.TraceOperationId = id
		t.Resolution = &v1.CheckDebugTrace_WasCachedResult{WasCachedResult: true}
		w.conditional(t, nil)
		return t
	}
	t.TraceOperationId = strconv.Itoa(len(w.ids))
	w.ids[x] = t.TraceOperationId

	var subs []*v1.CheckDebugTrace
	for _, c := range x.Children {
		if c != nil {
			subs = append(subs, w.node(c, resource, ptype))
		}
	}
	if len(subs) > 0 {
		t.Resolution = &v1.CheckDebugTrace_SubProblems_{SubProblems: &v1.CheckDebugTrace_SubProblems{Traces: subs}}
	} else {
		t.Resolution = &v1.CheckDebugTrace_WasCachedResult{WasCachedResult: false}
	}
	w.conditional(t, subs)
	return t
}

// conditional gives a conditional step without a caveat evaluation of its
// own one that lists the context missing below it (zed reads the caveat
// evaluation of every conditional node).
func (w *traceWriter) conditional(t *v1.CheckDebugTrace, subs []*v1.CheckDebugTrace) {
	if t.GetResult() != v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION || t.GetCaveatEvaluationInfo() != nil {
		return
	}
	var missing []string
	for _, s := range subs {
		if s.GetResult() == v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
			missing = append(missing, s.GetCaveatEvaluationInfo().GetPartialCaveatInfo().GetMissingRequiredContext()...)
		}
	}
	if len(missing) == 0 {
		missing = w.o.Missing
	}
	slices.Sort(missing)
	t.CaveatEvaluationInfo = &v1.CaveatEvalInfo{
		Result:            v1.CaveatEvalInfo_RESULT_MISSING_SOME_CONTEXT,
		PartialCaveatInfo: &v1.PartialCaveatInfo{MissingRequiredContext: slices.Compact(missing)},
	}
}

// splitRelationship splits "type:id#rest" into the object and rest.
func splitRelationship(s string) (engine.Object, string, bool) {
	obj, rest, ok := strings.Cut(s, "#")
	if !ok {
		return engine.Object{}, "", false
	}
	typ, id, ok := strings.Cut(obj, ":")
	if !ok || typ == "" || id == "" {
		return engine.Object{}, "", false
	}
	return engine.Object{Type: typ, ID: id}, rest, true
}

// arrowAll spells the arrow "rel->perm" of an arrow-all step as the schema
// does, "rel.all(perm)"; fromArrowAll reverses it.
func arrowAll(arrow string) string {
	rel, perm, ok := strings.Cut(arrow, "->")
	if !ok {
		return arrow
	}
	return rel + ".all(" + perm + ")"
}

func fromArrowAll(s string) string {
	rel, perm, ok := strings.Cut(s, ".all(")
	if !ok || !strings.HasSuffix(perm, ")") {
		return s
	}
	return rel + "->" + strings.TrimSuffix(perm, ")")
}

// TraceResultToProto converts a step's result.
func TraceResultToProto(p engine.Permissionship) v1.CheckDebugTrace_Permissionship {
	switch p {
	case engine.Allowed:
		return v1.CheckDebugTrace_PERMISSIONSHIP_HAS_PERMISSION
	case engine.Conditional:
		return v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION
	}
	return v1.CheckDebugTrace_PERMISSIONSHIP_NO_PERMISSION
}

// TraceResultFromProto converts a node's result; unspecified (SpiceDB's
// mixed result of a batched node) reads as denied.
func TraceResultFromProto(p v1.CheckDebugTrace_Permissionship) engine.Permissionship {
	switch p {
	case v1.CheckDebugTrace_PERMISSIONSHIP_HAS_PERMISSION:
		return engine.Allowed
	case v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION:
		return engine.Conditional
	}
	return engine.Denied
}

// TraceToExplanation converts a CheckDebugTrace back into an explanation
// (nil for nil). A trace sent by reach (every node's source begins with
// SourcePrefix) comes back exactly as the server's engine explained the
// check, shared steps included, so that it prints the same. A trace from
// another server (SpiceDB) becomes a tree of permission and relation steps,
// one a node: a conditional node whose caveat was evaluated reads as
// allowed (true) or denied (false), as zed shows it.
func TraceToExplanation(t *v1.CheckDebugTrace) (*engine.Explanation, error) {
	if t == nil {
		return nil, nil
	}
	r := &traceReader{ids: map[string]*engine.Explanation{}}
	return r.node(t, 0)
}

// maxTraceDepth bounds the nesting of a trace read back (a server could
// send anything).
const maxTraceDepth = 10000

type traceReader struct {
	ids map[string]*engine.Explanation
}

func (r *traceReader) node(t *v1.CheckDebugTrace, depth int) (*engine.Explanation, error) {
	if depth > maxTraceDepth {
		return nil, fmt.Errorf("debug trace nested deeper than %d", maxTraceDepth)
	}
	rule, ours := strings.CutPrefix(t.GetSource(), SourcePrefix)
	rule, failed := strings.CutSuffix(rule, FailedSuffix)
	if !ours || !knownRule(rule) {
		return r.foreign(t, depth)
	}
	if t.GetWasCachedResult() {
		if x, ok := r.ids[t.GetTraceOperationId()]; ok {
			return x, nil
		}
	}
	res := t.GetResource()
	x := &engine.Explanation{Rule: rule, Result: TraceResultFromProto(t.GetResult()), Failed: failed}
	if failed {
		x.Result = engine.Denied // (the engine's zero result: a failed step has none)
	}
	switch rule {
	case engine.RulePermission, engine.RuleRelation, engine.RuleIdentity, engine.RuleCycle, engine.RuleUndefined:
		x.Resource = engine.Object{Type: res.GetObjectType(), ID: res.GetObjectId()}
		x.Relation = t.GetPermission()
	case engine.RuleRelationship:
		x.Relationship = res.GetObjectType() + ":" + res.GetObjectId() + "#" + t.GetPermission()
		if info := t.GetCaveatEvaluationInfo(); info.GetResult() == v1.CaveatEvalInfo_RESULT_FALSE {
			x.CaveatFalse = info.GetCaveatName()
		}
	case engine.RuleArrow:
		x.Arrow = t.GetPermission()
	case engine.RuleArrowAll:
		x.Arrow = fromArrowAll(t.GetPermission())
	}
	if id := t.GetTraceOperationId(); id != "" && !t.GetWasCachedResult() {
		r.ids[id] = x
	}
	for _, s := range t.GetSubProblems().GetTraces() {
		c, err := r.node(s, depth+1)
		if err != nil {
			return nil, err
		}
		x.Children = append(x.Children, c)
	}
	return x, nil
}

func knownRule(rule string) bool {
	switch rule {
	case engine.RulePermission, engine.RuleRelation, engine.RuleRelationship, engine.RuleUnion,
		engine.RuleIntersection, engine.RuleExclusion, engine.RuleArrow, engine.RuleArrowAll,
		engine.RuleNil, engine.RuleIdentity, engine.RuleCycle, engine.RuleUndefined:
		return true
	}
	return false
}

// foreign reads a node of a trace reach did not write: a permission or
// relation step.
func (r *traceReader) foreign(t *v1.CheckDebugTrace, depth int) (*engine.Explanation, error) {
	x := &engine.Explanation{
		Rule:     engine.RulePermission,
		Resource: engine.Object{Type: t.GetResource().GetObjectType(), ID: t.GetResource().GetObjectId()},
		Relation: t.GetPermission(),
		Result:   TraceResultFromProto(t.GetResult()),
	}
	if t.GetPermissionType() == v1.CheckDebugTrace_PERMISSION_TYPE_RELATION {
		x.Rule = engine.RuleRelation
	}
	if x.Result == engine.Conditional {
		switch t.GetCaveatEvaluationInfo().GetResult() {
		case v1.CaveatEvalInfo_RESULT_TRUE:
			x.Result = engine.Allowed
		case v1.CaveatEvalInfo_RESULT_FALSE:
			x.Result = engine.Denied
		}
	}
	for _, s := range t.GetSubProblems().GetTraces() {
		c, err := r.node(s, depth+1)
		if err != nil {
			return nil, err
		}
		x.Children = append(x.Children, c)
	}
	return x, nil
}
