package datastore

import (
	"context"
	"io"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// TracerName is the instrumentation name of the spans Traced makes.
const TracerName = "github.com/reach-authz/reach/datastore"

// Traced wraps d so that every call, and every read through one of its
// snapshots, is an OpenTelemetry span of tp: datastore.HeadRevision,
// datastore.Write, ... and, for a snapshot's reads (which take no
// context), datastore.Get, datastore.Subjects and datastore.Resources,
// children of the span in the context the snapshot was opened with (the
// request's). A wrapper rather than code in each driver, as SpiceDB's
// observable proxy: every driver is traced the same way.
func Traced(d Datastore, tp trace.TracerProvider) Datastore {
	return &traced{d: d, tr: tp.Tracer(TracerName)}
}

type traced struct {
	d  Datastore
	tr trace.Tracer
}

func (t *traced) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return t.tr.Start(ctx, "datastore."+name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
}

// end records err on span and ends it.
func end(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func revAttr(rev tuples.Revision) attribute.KeyValue {
	return attribute.Int64("reach.revision", int64(rev))
}

func (t *traced) HeadRevision(ctx context.Context) (tuples.Revision, error) {
	ctx, span := t.start(ctx, "HeadRevision")
	rev, err := t.d.HeadRevision(ctx)
	span.SetAttributes(revAttr(rev))
	end(span, err)
	return rev, err
}

func (t *traced) Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error) {
	sctx, span := t.start(ctx, "Snapshot", revAttr(rev))
	snap, err := t.d.Snapshot(sctx, rev)
	end(span, err)
	if err != nil {
		return nil, err
	}
	return &tracedSnapshot{Snapshot: snap, ctx: ctx, t: t}, nil
}

func (t *traced) Write(ctx context.Context, updates []tuples.Update, preconditions ...tuples.Precondition) (tuples.Revision, error) {
	ctx, span := t.start(ctx, "Write", attribute.Int("reach.updates", len(updates)), attribute.Int("reach.preconditions", len(preconditions)))
	rev, err := t.d.Write(ctx, updates, preconditions...)
	span.SetAttributes(revAttr(rev))
	end(span, err)
	return rev, err
}

func (t *traced) DeleteWhere(ctx context.Context, f tuples.Filter, limit int, preconditions ...tuples.Precondition) (tuples.DeleteResult, error) {
	ctx, span := t.start(ctx, "DeleteWhere", attribute.String("reach.resource_type", f.ResourceType), attribute.Int("reach.limit", limit))
	res, err := t.d.DeleteWhere(ctx, f, limit, preconditions...)
	end(span, err)
	return res, err
}

func (t *traced) Import(ctx context.Context, r io.Reader, opts tuples.ImportOptions) (tuples.ImportResult, error) {
	ctx, span := t.start(ctx, "Import")
	res, err := t.d.Import(ctx, r, opts)
	end(span, err)
	return res, err
}

func (t *traced) MaxBatch() int { return t.d.MaxBatch() }

func (t *traced) ReadRelationships(ctx context.Context, f tuples.Filter, opts tuples.ReadOptions) (tuples.ReadResult, error) {
	ctx, span := t.start(ctx, "ReadRelationships", attribute.String("reach.resource_type", f.ResourceType))
	res, err := t.d.ReadRelationships(ctx, f, opts)
	end(span, err)
	return res, err
}

func (t *traced) ForEach(ctx context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error) {
	ctx, span := t.start(ctx, "ForEach", attribute.String("reach.resource_type", f.ResourceType), revAttr(rev))
	n := 0
	got, err := t.d.ForEach(ctx, rev, f, func(r tuples.Relationship) (bool, error) {
		n++
		return fn(r)
	})
	span.SetAttributes(attribute.Int("reach.results", n))
	end(span, err)
	return got, err
}

func (t *traced) Export(ctx context.Context, w io.Writer, opts tuples.ExportOptions) (tuples.Revision, int64, error) {
	ctx, span := t.start(ctx, "Export")
	rev, n, err := t.d.Export(ctx, w, opts)
	span.SetAttributes(revAttr(rev), attribute.Int64("reach.results", n))
	end(span, err)
	return rev, n, err
}

func (t *traced) WriteSchema(ctx context.Context, filename string, src []byte) (tuples.Revision, []schema.Diagnostic, error) {
	ctx, span := t.start(ctx, "WriteSchema")
	rev, diags, err := t.d.WriteSchema(ctx, filename, src)
	span.SetAttributes(revAttr(rev))
	end(span, err)
	return rev, diags, err
}

func (t *traced) Schema(ctx context.Context) (*schema.Program, tuples.Revision, error) {
	ctx, span := t.start(ctx, "Schema")
	p, rev, err := t.d.Schema(ctx)
	span.SetAttributes(revAttr(rev))
	end(span, err)
	return p, rev, err
}

func (t *traced) SchemaSource(ctx context.Context) (string, []byte, tuples.Revision, error) {
	ctx, span := t.start(ctx, "SchemaSource")
	name, src, rev, err := t.d.SchemaSource(ctx)
	span.SetAttributes(revAttr(rev))
	end(span, err)
	return name, src, rev, err
}

func (t *traced) Changes(ctx context.Context, after tuples.Revision, limit int) ([]tuples.ChangeSet, tuples.Revision, error) {
	ctx, span := t.start(ctx, "Changes", attribute.Int64("reach.after", int64(after)))
	sets, rev, err := t.d.Changes(ctx, after, limit)
	span.SetAttributes(revAttr(rev), attribute.Int("reach.results", len(sets)))
	end(span, err)
	return sets, rev, err
}

func (t *traced) WaitForRevision(ctx context.Context, rev tuples.Revision) error {
	ctx, span := t.start(ctx, "WaitForRevision", revAttr(rev))
	err := t.d.WaitForRevision(ctx, rev)
	end(span, err)
	return err
}

func (t *traced) GCWindow() time.Duration { return t.d.GCWindow() }

func (t *traced) Close() error { return t.d.Close() }

// tracedSnapshot makes a span of each read, in the context the snapshot
// was opened with.
type tracedSnapshot struct {
	tuples.Snapshot
	ctx context.Context
	t   *traced
}

func (s *tracedSnapshot) Get(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation string) (tuples.Relationship, bool, error) {
	_, span := s.t.start(s.ctx, "Get", revAttr(s.Revision()),
		attribute.String("reach.resource_type", resourceType), attribute.String("reach.relation", relation))
	r, ok, err := s.Snapshot.Get(resourceType, resourceID, relation, subjectType, subjectID, subjectRelation)
	span.SetAttributes(attribute.Bool("reach.found", ok))
	end(span, err)
	return r, ok, err
}

func (s *tracedSnapshot) Subjects(resourceType, resourceID, relation, subjectType, subjectRelation string, fn func(tuples.Relationship) bool) error {
	_, span := s.t.start(s.ctx, "Subjects", revAttr(s.Revision()),
		attribute.String("reach.resource_type", resourceType), attribute.String("reach.relation", relation))
	n := 0
	err := s.Snapshot.Subjects(resourceType, resourceID, relation, subjectType, subjectRelation, func(r tuples.Relationship) bool {
		n++
		return fn(r)
	})
	span.SetAttributes(attribute.Int("reach.results", n))
	end(span, err)
	return err
}

func (s *tracedSnapshot) Resources(subjectType, subjectID, subjectRelation, resourceType, relation string, fn func(tuples.Relationship) bool) error {
	_, span := s.t.start(s.ctx, "Resources", revAttr(s.Revision()),
		attribute.String("reach.resource_type", resourceType), attribute.String("reach.relation", relation))
	n := 0
	err := s.Snapshot.Resources(subjectType, subjectID, subjectRelation, resourceType, relation, func(r tuples.Relationship) bool {
		n++
		return fn(r)
	})
	span.SetAttributes(attribute.Int("reach.results", n))
	end(span, err)
	return err
}
