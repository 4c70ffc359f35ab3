package v1conv

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/testdatastore"
	"github.com/reach-authz/reach/tuples"
)

// traceSchema has every step an explanation can hold: relations and
// permissions, union, intersection, exclusion, nil, both arrows, subject
// sets, wildcards, cycles, identity, undefined targets and caveats.
const traceSchema = `caveat on_net(ip string, net string) {
	ip == net
}

definition user {}

definition group {
	relation member: user | group#member | user with on_net
}

definition folder {
	relation parent: folder
	relation viewer: user | user:* | group#member
	permission view = viewer + parent->view
}

definition doc {
	relation parent: folder | user
	relation reader: user | user:* | group#member | user with on_net
	relation approver: user | group#member
	relation blocked: user
	permission view = reader + parent->view
	permission all_view = parent.all(view)
	permission review = reader & approver
	permission open = reader - blocked
	permission nothing = nil
	permission twice = reader + approver
}
`

var traceData = []string{
	"group:eng#member@user:ana",
	"group:eng#member@group:core#member",
	"group:core#member@user:cy",
	"group:ring#member@group:loop#member",
	"group:loop#member@group:ring#member",
	"folder:root#viewer@group:eng#member",
	"folder:sub#parent@folder:root",
	"doc:d1#parent@folder:sub",
	"doc:d1#reader@user:*",
	"doc:d1#blocked@user:bo",
	"doc:d1#approver@group:eng#member",
	"doc:d2#parent@user:ana",
	"doc:d2#parent@folder:root",
	"doc:d3#reader@group:eng#member",
	"doc:d3#approver@group:eng#member",
	`doc:d4#reader@user:eve[on_net:{"net":"10.0.0.0"}]`,
	`group:eng#member@user:fay[on_net:{"net":"10.0.0.0"}]`,
}

// The explanation of each check survives the trip to a CheckDebugTrace,
// through protobuf and JSON, and back: it prints the same, as a tree and
// as Graphviz.
func TestExplanationTraceRoundTrip(t *testing.T) {
	st := testdatastore.Open(t, testdatastore.Options{})
	ctx := context.Background()
	if _, _, err := st.WriteSchema(ctx, "trace.zed", []byte(traceSchema)); err != nil {
		t.Fatal(err)
	}
	var ups []tuples.Update
	for _, s := range traceData {
		r, err := tuples.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, tuples.Update{Op: tuples.Touch, Relationship: r})
	}
	if _, err := st.Write(ctx, ups); err != nil {
		t.Fatal(err)
	}
	e := engine.New(st, engine.Options{})
	for _, q := range []struct {
		check string
		ctx   map[string]any
	}{
		{check: "doc:d1#view@user:ana"},              // arrows through a group
		{check: "doc:d1#view@user:zed"},              // the wildcard
		{check: "doc:d2#view@user:zed"},              // denied: every branch
		{check: "doc:d2#all_view@user:ana"},          // .all over a user (undefined view)
		{check: "doc:d1#review@user:cy"},             // intersection, nested groups
		{check: "doc:d1#open@user:bo"},               // exclusion
		{check: "doc:d1#nothing@user:ana"},           // nil
		{check: "group:ring#member@user:nobody"},     // a cycle
		{check: "group:eng#member@group:eng#member"}, // identity
		{check: "doc:d3#twice@user:nobody"},          // the same group twice
		{check: "doc:d4#view@user:eve"},              // conditional
		{check: "doc:d4#view@user:eve", ctx: map[string]any{"ip": "10.0.0.0"}},
		{check: "doc:d4#view@user:eve", ctx: map[string]any{"ip": "10.9.9.9"}}, // caveat false
		{check: "doc:d3#view@user:fay"},                                        // conditional through a group
	} {
		t.Run(q.check, func(t *testing.T) {
			rel, err := tuples.Parse(q.check)
			if err != nil {
				t.Fatal(err)
			}
			req := engine.CheckRequest{
				Resource: engine.Object{Type: rel.ResourceType, ID: rel.ResourceID}, Permission: rel.Relation,
				Subject:     engine.Subject{Type: rel.SubjectType, ID: rel.SubjectID, Relation: rel.SubjectRelation},
				Consistency: engine.Consistency{Mode: engine.FullyConsistent}, Explain: true, Context: q.ctx,
			}
			res, err := e.Check(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			trace := ExplanationToTrace(res.Explanation, TraceOptions{
				Resource: req.Resource, Subject: req.Subject, Missing: res.Missing, Duration: time.Millisecond,
			})
			requireSameExplanation(t, res.Explanation, roundTrip(t, trace))
			requireTraceShape(t, trace, req)
		})
	}
}

// Shared steps (a sub-problem met twice, even one that leads back to
// itself) come back shared: the dot output names each step once.
func TestExplanationTraceSharing(t *testing.T) {
	leaf := &engine.Explanation{Rule: engine.RuleRelationship, Relationship: "group:eng#member@user:ana", Result: engine.Allowed}
	group := &engine.Explanation{Rule: engine.RuleRelation, Resource: engine.Object{Type: "group", ID: "eng"}, Relation: "member",
		Result: engine.Allowed, Children: []*engine.Explanation{leaf}}
	root := &engine.Explanation{Rule: engine.RulePermission, Resource: engine.Object{Type: "doc", ID: "d"}, Relation: "view",
		Result: engine.Allowed, Children: []*engine.Explanation{
			{Rule: engine.RuleUnion, Result: engine.Allowed, Children: []*engine.Explanation{
				{Rule: engine.RuleRelationship, Relationship: "doc:d#reader@group:eng#member", Result: engine.Allowed, Children: []*engine.Explanation{group}},
				{Rule: engine.RuleRelationship, Relationship: "doc:d#approver@group:eng#member", Result: engine.Allowed, Children: []*engine.Explanation{group, leaf}},
			}},
		}}
	group.Children = append(group.Children, root) // a cycle of pointers
	trace := ExplanationToTrace(root, TraceOptions{Subject: engine.Subject{Type: "user", ID: "ana"}})
	back := roundTrip(t, trace)
	requireSameExplanation(t, root, back)
	if u := back.Children[0]; u.Children[0].Children[0] != u.Children[1].Children[0] {
		t.Error("the shared step came back as two")
	}
}

// A trace from SpiceDB (no reach: source) reads as permission and relation
// steps.
func TestForeignTrace(t *testing.T) {
	subj := &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "ana"}}
	trace := &v1.CheckDebugTrace{
		Resource: &v1.ObjectReference{ObjectType: "doc", ObjectId: "d"}, Permission: "view",
		PermissionType: v1.CheckDebugTrace_PERMISSION_TYPE_PERMISSION, Subject: subj,
		Result: v1.CheckDebugTrace_PERMISSIONSHIP_HAS_PERMISSION, Source: "spicedb:dispatch",
		Resolution: &v1.CheckDebugTrace_SubProblems_{SubProblems: &v1.CheckDebugTrace_SubProblems{Traces: []*v1.CheckDebugTrace{
			{
				Resource: &v1.ObjectReference{ObjectType: "doc", ObjectId: "d"}, Permission: "reader",
				PermissionType: v1.CheckDebugTrace_PERMISSION_TYPE_RELATION, Subject: subj,
				Result:               v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION,
				CaveatEvaluationInfo: &v1.CaveatEvalInfo{Result: v1.CaveatEvalInfo_RESULT_TRUE},
				Resolution:           &v1.CheckDebugTrace_WasCachedResult{WasCachedResult: true},
			},
		}}},
	}
	x, err := TraceToExplanation(trace)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := x.WriteTree(&b); err != nil {
		t.Fatal(err)
	}
	want := "allowed     doc:d#view (permission)\n  allowed     doc:d#reader (relation)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// roundTrip sends a trace through protobuf and through JSON (the HTTP
// gateway's form), requires both to agree, and reads it back.
func roundTrip(t *testing.T, trace *v1.CheckDebugTrace) *engine.Explanation {
	t.Helper()
	buf, err := proto.Marshal(&v1.DebugInformation{Check: trace})
	if err != nil {
		t.Fatal(err)
	}
	var wire v1.DebugInformation
	if err := proto.Unmarshal(buf, &wire); err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(&wire)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON v1.DebugInformation
	if err := protojson.Unmarshal(js, &fromJSON); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&wire, &fromJSON) {
		t.Fatal("the trace differs after JSON")
	}
	x, err := TraceToExplanation(wire.GetCheck())
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func requireSameExplanation(t *testing.T, want, got *engine.Explanation) {
	t.Helper()
	var wt, gt, wd, gd strings.Builder
	for _, f := range []func() error{
		func() error { return want.WriteTree(&wt) }, func() error { return got.WriteTree(&gt) },
		func() error { return want.WriteDot(&wd) }, func() error { return got.WriteDot(&gd) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	if wt.String() != gt.String() {
		t.Errorf("tree differs\n--- sent:\n%s--- received:\n%s", wt.String(), gt.String())
	}
	if wd.String() != gd.String() {
		t.Errorf("dot differs\n--- sent:\n%s--- received:\n%s", wd.String(), gd.String())
	}
}

// requireTraceShape checks what zed and the API's validation rely on:
// every node has a resource, a subject (the one checked), a permission
// type and a result, and a conditional node has a caveat evaluation (with
// its missing context when some is missing).
func requireTraceShape(t *testing.T, trace *v1.CheckDebugTrace, req engine.CheckRequest) {
	t.Helper()
	if trace.GetDuration() == nil {
		t.Error("the root has no duration")
	}
	if got := trace.GetResource().GetObjectType() + ":" + trace.GetResource().GetObjectId() + "#" + trace.GetPermission(); got != req.Resource.String()+"#"+req.Permission {
		t.Errorf("root is %s", got)
	}
	var walk func(*v1.CheckDebugTrace)
	walk = func(n *v1.CheckDebugTrace) {
		if err := n.Validate(); err != nil {
			t.Errorf("%s: %v", n.GetSource(), err)
		}
		if n.GetSubject().GetObject().GetObjectType() != req.Subject.Type || n.GetSubject().GetObject().GetObjectId() != req.Subject.ID {
			t.Errorf("%s: subject %v", n.GetSource(), n.GetSubject())
		}
		if !strings.HasPrefix(n.GetSource(), SourcePrefix) || n.GetTraceOperationId() == "" {
			t.Errorf("node %v: no source or operation id", n)
		}
		if n.GetResult() == v1.CheckDebugTrace_PERMISSIONSHIP_CONDITIONAL_PERMISSION {
			info := n.GetCaveatEvaluationInfo()
			if info == nil || (info.GetResult() == v1.CaveatEvalInfo_RESULT_MISSING_SOME_CONTEXT && info.GetPartialCaveatInfo() == nil) {
				t.Errorf("%s %s: conditional without a caveat evaluation: %v", n.GetSource(), n.GetPermission(), info)
			}
		}
		for _, s := range n.GetSubProblems().GetTraces() {
			walk(s)
		}
	}
	walk(trace)
}
