package server

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/authzed/authzed-go/pkg/requestmeta"
	"github.com/authzed/authzed-go/pkg/responsemeta"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// A check explains itself over the API as SpiceDB's do (see
// v1conv.ExplanationToTrace for the form): CheckPermission fills
// debug_trace when the request sets with_tracing, or carries the request
// header io.spicedb.requestdebuginfo (SpiceDB's older way, which zed still
// sends beside with_tracing). Before SpiceDB 1.30 the answer to the header
// came as JSON in the trailer io.spicedb.respmeta.debuginfo; since 1.30
// SpiceDB puts it in the response only (zed reads the response first, the
// trailer when the response has none). So a request with the header but
// without with_tracing, an older client's, also gets the trailer, when it
// fits in maxDebugTrailerBytes (some clients refuse larger metadata).
// CheckBulkPermissions fills each item's debug_trace the same way.
//
// A check that fails (too deep, an exclusion that depends on itself, a
// caveat that cannot be evaluated) explains itself too, as SpiceDB's does:
// with the trace asked for either way, the status's ErrorInfo carries the
// DebugInformation of the check up to the failure, as protobuf text under
// the metadata key debug_trace_proto_text (see v1conv.WithErrorMetadata
// and withFailedTrace). Without tracing asked for, the error is as it was.
// The status's details travel in a trailer, where a check that tried many
// branches before failing could send megabytes (grpc-go's clients refuse
// more than 16 MiB of metadata, and drop the call): past
// maxDebugErrorBytes the trace keeps only the path of failed steps (and
// what is under the step where it failed), and past that again it is left
// out. A check past the default depth limit sends about 90 KB.

// maxDebugTrailerBytes bounds the JSON sent in the debug trailer.
const maxDebugTrailerBytes = 16 << 10

// maxDebugErrorBytes bounds the debug information sent in an error (a
// variable for the tests).
var maxDebugErrorBytes = 256 << 10

// debugRequested reports whether a check asked for its explanation, and
// whether it asked the old way only (then the answer goes in the trailer
// too).
func debugRequested(ctx context.Context, withTracing bool) (trace, trailer bool) {
	header := hasIncoming(ctx, string(requestmeta.RequestDebugInformation))
	return withTracing || header, header && !withTracing
}

// debugInformation is the DebugInformation of an explained check: the
// trace, with the caveats evaluated against the schema at the revision the
// check read, and that schema.
func (s *Server) debugInformation(ctx context.Context, req engine.CheckRequest, res engine.CheckResult, took time.Duration) *v1.DebugInformation {
	opts := v1conv.TraceOptions{Resource: req.Resource, Subject: req.Subject, Missing: res.Missing, Duration: took}
	info := &v1.DebugInformation{}
	if prog := s.programAt(ctx, res.Revision); prog != nil {
		ev := newCaveatEvaluator(prog, req.Context)
		opts.Caveat, opts.Expression = ev.info, ev.expression
		opts.PermissionType = func(typ, rel string) v1.CheckDebugTrace_PermissionType {
			if r := prog.Lookup(typ, rel); r != nil && r.Kind == schema.KindPermission {
				return v1.CheckDebugTrace_PERMISSION_TYPE_PERMISSION
			}
			return v1.CheckDebugTrace_PERMISSION_TYPE_RELATION
		}
		info.SchemaUsed = prog.Source()
	}
	info.Check = v1conv.ExplanationToTrace(res.Explanation, opts)
	return info
}

// withFailedTrace adds to st, the status answering a check that failed
// with err, the engine's explanation of the check up to the failure, when
// err carries one (engine.ExplainedError) and st has an ErrorInfo to carry
// it (as SpiceDB appends it to an ErrorInfo only: a status without one,
// Internal or Unavailable say, goes as it is).
func (s *Server) withFailedTrace(ctx context.Context, st error, req engine.CheckRequest, err error, took time.Duration) error {
	var xe *engine.ExplainedError
	if !errors.As(err, &xe) || xe.Explanation == nil {
		return st
	}
	var text string
	for _, x := range []*engine.Explanation{xe.Explanation, failedPath(xe.Explanation)} {
		info := s.debugInformation(ctx, req, engine.CheckResult{Revision: xe.Revision, Explanation: x}, took)
		t, err := v1conv.DebugInformationText(info)
		if err != nil {
			s.log.Warn("debug information of a failed check", "err", err)
			return st
		}
		if len(t) <= maxDebugErrorBytes {
			text = t
			break
		}
		s.log.Debug("debug information of a failed check too large: trimmed to the failed steps", "bytes", len(t), "max", maxDebugErrorBytes)
	}
	if text == "" {
		s.log.Debug("debug information of a failed check left out: too large")
		return st
	}
	out, _ := v1conv.WithErrorMetadata(st, v1conv.DebugTraceErrorDetailsKey, text)
	return out
}

// failedPath is x, a failed check's explanation, with only the steps that
// failed: each with its failed child alone, down to the step where it
// failed, which keeps what is under it.
func failedPath(x *engine.Explanation) *engine.Explanation {
	if x == nil || x.FailedHere() {
		return x
	}
	c := *x
	c.Children = nil
	for _, ch := range x.Children {
		if ch != nil && ch.Failed {
			c.Children = []*engine.Explanation{failedPath(ch)}
			break
		}
	}
	return &c
}

// programAt is the schema in force at rev (nil if none, or unreadable: the
// trace then goes without caveat details).
func (s *Server) programAt(ctx context.Context, rev tuples.Revision) *schema.Program {
	snap, err := s.store.Snapshot(ctx, rev)
	if err != nil {
		return nil
	}
	defer snap.Close()
	return snap.Schema()
}

// setDebugTrailer answers the old debug header: the DebugInformation as
// JSON in the trailer, when small enough.
func (s *Server) setDebugTrailer(ctx context.Context, info *v1.DebugInformation) {
	buf, err := protojson.Marshal(info)
	if err != nil {
		s.log.Warn("debug trailer", "err", err)
		return
	}
	if len(buf) > maxDebugTrailerBytes {
		s.log.Debug("debug trailer left out: the trace is in the response", "bytes", len(buf), "max", maxDebugTrailerBytes)
		return
	}
	if err := grpc.SetTrailer(ctx, metadata.Pairs(string(responsemeta.DebugInformation), string(buf))); err != nil {
		s.log.Debug("debug trailer", "err", err)
	}
}

// caveatEvaluator evaluates the caveats of the relationships in a trace,
// each caveat compiled once.
type caveatEvaluator struct {
	prog     *schema.Program
	reqCtx   map[string]any
	compiled map[string]*caveats.Caveat
}

func newCaveatEvaluator(prog *schema.Program, reqCtx map[string]any) *caveatEvaluator {
	return &caveatEvaluator{prog: prog, reqCtx: reqCtx, compiled: map[string]*caveats.Caveat{}}
}

func (e *caveatEvaluator) caveat(name string) *caveats.Caveat {
	c, ok := e.compiled[name]
	if !ok {
		if def := e.prog.Caveat(name); def != nil {
			c, _ = caveats.Compile(def)
		}
		e.compiled[name] = c
	}
	return c
}

func (e *caveatEvaluator) expression(name string) string {
	if def := e.prog.Caveat(name); def != nil {
		return def.Expr
	}
	return ""
}

// info evaluates r's caveat with the request's context under the
// relationship's, as the engine did: its expression, its result, the
// values it was given and, when partial, the context it lacked.
func (e *caveatEvaluator) info(r tuples.Relationship) *v1.CaveatEvalInfo {
	c := e.caveat(r.Caveat.Name)
	if c == nil {
		return nil
	}
	res, err := c.Evaluate(r.Caveat.Context, e.reqCtx)
	out := &v1.CaveatEvalInfo{Expression: c.Expr(), CaveatName: c.Name()}
	switch {
	case err != nil:
		// The caveat a failed check could not evaluate.
		out.Result = v1.CaveatEvalInfo_RESULT_UNEVALUATED
	case res.Outcome == caveats.True:
		out.Result = v1.CaveatEvalInfo_RESULT_TRUE
	case res.Outcome == caveats.False:
		out.Result = v1.CaveatEvalInfo_RESULT_FALSE
	default:
		out.Result = v1.CaveatEvalInfo_RESULT_MISSING_SOME_CONTEXT
		out.PartialCaveatInfo = &v1.PartialCaveatInfo{MissingRequiredContext: res.Missing}
	}
	merged := maps.Clone(e.reqCtx)
	if merged == nil {
		merged = map[string]any{}
	}
	maps.Copy(merged, r.Caveat.Context)
	used := map[string]any{}
	for _, p := range c.Params() {
		if v, ok := merged[p.Name]; ok {
			used[p.Name] = v
		}
	}
	if len(used) > 0 {
		if st, err := structpb.NewStruct(used); err == nil {
			out.Context = st
		}
	}
	return out
}
