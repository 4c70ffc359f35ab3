package v1conv

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/testdatastore"
	"github.com/reach-authz/reach/tuples"
)

// The explanation of a failed check (a chain past the depth limit, an
// exclusion that depends on itself) survives the trip to a trace and back:
// its failed steps are nodes whose source ends in FailedSuffix, with no
// result (NO_PERMISSION, as SpiceDB sends a dispatch an error cut short),
// and it prints the same.
func TestFailedExplanationTraceRoundTrip(t *testing.T) {
	st := testdatastore.Open(t, testdatastore.Options{})
	ctx := context.Background()
	src := `definition user {}
definition doc {
	relation parent: doc
	relation viewer: user
	permission view = viewer + parent->view
	permission neg = viewer - parent->neg
}`
	if _, _, err := st.WriteSchema(ctx, "fail.zed", []byte(src)); err != nil {
		t.Fatal(err)
	}
	var ups []tuples.Update
	for _, s := range []string{"doc:c0#parent@doc:c1", "doc:c1#parent@doc:c2", "doc:c2#parent@doc:c3", "doc:c3#parent@doc:c4",
		"doc:a#parent@doc:b", "doc:b#parent@doc:a", "doc:a#viewer@user:u", "doc:b#viewer@user:u"} {
		r, err := tuples.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, tuples.Update{Op: tuples.Touch, Relationship: r})
	}
	if _, err := st.Write(ctx, ups); err != nil {
		t.Fatal(err)
	}
	e := engine.New(st, engine.Options{MaxDepth: 3})
	for _, q := range []struct{ res, perm string }{{"c0", "view"}, {"a", "neg"}} {
		req := engine.CheckRequest{
			Resource: engine.Object{Type: "doc", ID: q.res}, Permission: q.perm, Subject: engine.Subject{Type: "user", ID: "u"},
			Consistency: engine.Consistency{Mode: engine.FullyConsistent}, Explain: true,
		}
		_, err := e.Check(ctx, req)
		var xe *engine.ExplainedError
		if !errors.As(err, &xe) {
			t.Fatalf("%s#%s: %v, want an explained error", q.res, q.perm, err)
		}
		trace := ExplanationToTrace(xe.Explanation, TraceOptions{Resource: req.Resource, Subject: req.Subject})
		if trace.GetSource() != "reach:permission:failed" || trace.GetResult() != v1.CheckDebugTrace_PERMISSIONSHIP_NO_PERMISSION {
			t.Errorf("root: source %q, result %s", trace.GetSource(), trace.GetResult())
		}
		var walk func(n *v1.CheckDebugTrace)
		walk = func(n *v1.CheckDebugTrace) {
			if err := n.Validate(); err != nil {
				t.Errorf("%s: %v", n.GetSource(), err)
			}
			for _, s := range n.GetSubProblems().GetTraces() {
				walk(s)
			}
		}
		walk(trace)
		back := roundTrip(t, trace)
		requireSameExplanation(t, xe.Explanation, back)
		var b strings.Builder
		if err := back.WriteTree(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "failed here") {
			t.Errorf("%s#%s: no step failed here:\n%s", q.res, q.perm, b.String())
		}
	}
}

// WithErrorMetadata adds to the first ErrorInfo only, keeping the rest of
// the status; DebugInformationFromError reads it back, as zed does.
func TestErrorMetadata(t *testing.T) {
	info := &errdetails.ErrorInfo{Reason: "ERROR_REASON_MAXIMUM_DEPTH_EXCEEDED", Domain: "authzed.com", Metadata: map[string]string{"k": "v"}}
	retry := &errdetails.RetryInfo{}
	st, err := status.New(codes.FailedPrecondition, "too deep").WithDetails(retry, info, &errdetails.ErrorInfo{Reason: "second"})
	if err != nil {
		t.Fatal(err)
	}
	debug := &v1.DebugInformation{SchemaUsed: "definition user {}", Check: &v1.CheckDebugTrace{
		Resource: &v1.ObjectReference{ObjectType: "doc", ObjectId: "d"}, Permission: "view", Source: "reach:permission:failed",
	}}
	text, err := DebugInformationText(debug)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := WithErrorMetadata(st.Err(), DebugTraceErrorDetailsKey, text)
	if !ok {
		t.Fatal("not added")
	}
	gs := status.Convert(got)
	if gs.Code() != codes.FailedPrecondition || gs.Message() != "too deep" || len(gs.Details()) != 3 {
		t.Fatalf("status changed: %v", gs.Proto())
	}
	if !proto.Equal(gs.Details()[0].(proto.Message), retry) || gs.Details()[2].(*errdetails.ErrorInfo).GetReason() != "second" {
		t.Errorf("other details changed: %v", gs.Details())
	}
	gi := gs.Details()[1].(*errdetails.ErrorInfo)
	if gi.GetReason() != info.GetReason() || gi.GetMetadata()["k"] != "v" || gi.GetMetadata()[DebugTraceErrorDetailsKey] != text {
		t.Errorf("ErrorInfo %v", gi)
	}
	var zed v1.DebugInformation // as zed reads it
	if err := prototext.Unmarshal([]byte(gi.GetMetadata()["debug_trace_proto_text"]), &zed); err != nil || !proto.Equal(&zed, debug) {
		t.Errorf("read as zed does: %v, %v", &zed, err)
	}
	back, err := DebugInformationFromError(got)
	if err != nil || !proto.Equal(back, debug) {
		t.Errorf("DebugInformationFromError: %v, %v", back, err)
	}
	if info.GetMetadata()[DebugTraceErrorDetailsKey] != "" {
		t.Error("the original ErrorInfo was modified")
	}

	// Nothing to add to: as it was.
	plain := status.Error(codes.Internal, "boom")
	if got, ok := WithErrorMetadata(plain, DebugTraceErrorDetailsKey, text); ok || got != plain {
		t.Errorf("a status without ErrorInfo: %v, %v", got, ok)
	}
	other := errors.New("not a status")
	if got, ok := WithErrorMetadata(other, DebugTraceErrorDetailsKey, text); ok || got != other {
		t.Errorf("not a status: %v, %v", got, ok)
	}
	for _, e := range []error{plain, other, st.Err(), nil} {
		if d, err := DebugInformationFromError(e); d != nil || err != nil {
			t.Errorf("%v: %v, %v; want none", e, d, err)
		}
	}
	bad, _ := WithErrorMetadata(st.Err(), DebugTraceErrorDetailsKey, "check: {")
	if _, err := DebugInformationFromError(bad); err == nil {
		t.Error("unparsable text: no error")
	}
}
