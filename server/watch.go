package server

import (
	"context"
	"errors"
	"slices"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/tuples"
)

// watchService implements authzed.api.v1.WatchService.
type watchService struct {
	v1.UnimplementedWatchServiceServer
	s *Server
}

// watchPage is how many revisions Watch reads from the change log at a time.
const watchPage = 1000

// Watch streams the changes after the start token (the head when none is
// given), in revision order, until the client goes away or the server shuts
// down. As SpiceDB (internal/services/v1/watch.go and the memdb datastore's
// watch):
//
//   - relationship updates are always streamed, one response per revision
//     (after the filters; none when nothing of the revision matches), a
//     CREATE reported as TOUCH;
//   - with WATCH_KIND_INCLUDE_SCHEMA_UPDATES, a schema write is reported as a
//     response with schema_updated at the schema's revision;
//   - with WATCH_KIND_INCLUDE_CHECKPOINTS, every revision seen is followed by
//     a response with is_checkpoint at that revision (whether or not
//     anything of it matched the filters): everything up to changes_through
//     has then been sent.
//
// Differences: reach keeps only the latest schema, so several schema writes
// that land between two reads of the change log are reported once, at the
// latest one's revision; and reach sends no checkpoint while no revision is
// committed (SpiceDB's SQL datastores send one on a timer), as its revisions
// only advance with writes.
func (w *watchService) Watch(req *v1.WatchRequest, stream grpc.ServerStreamingServer[v1.WatchResponse]) error {
	s := w.s
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(s.closingCtx, cancel)
	defer stop()

	kinds := req.GetOptionalUpdateKinds()
	wantSchema := slices.Contains(kinds, v1.WatchKind_WATCH_KIND_INCLUDE_SCHEMA_UPDATES)
	wantCheckpoints := slices.Contains(kinds, v1.WatchKind_WATCH_KIND_INCLUDE_CHECKPOINTS)
	// SpiceDB refuses both kinds of filter only when the request asks for
	// relationship updates explicitly or by default.
	askRels := len(kinds) == 0 || slices.Contains(kinds, v1.WatchKind_WATCH_KIND_UNSPECIFIED) ||
		slices.Contains(kinds, v1.WatchKind_WATCH_KIND_INCLUDE_RELATIONSHIP_UPDATES)
	if askRels && len(req.GetOptionalObjectTypes()) > 0 && len(req.GetOptionalRelationshipFilters()) > 0 {
		return invalidArgument("cannot specify both object types and relationship filters")
	}
	var filters []tuples.Filter
	for _, f := range req.GetOptionalRelationshipFilters() {
		if err := checkFilter(f); err != nil {
			return err
		}
		filters = append(filters, v1conv.FilterFromProto(f))
	}
	types := req.GetOptionalObjectTypes()
	match := func(r tuples.Relationship) bool {
		if len(types) > 0 && !slices.Contains(types, r.ResourceType) {
			return false
		}
		return len(filters) == 0 || slices.ContainsFunc(filters, func(f tuples.Filter) bool { return f.Matches(r) })
	}

	var after tuples.Revision
	if tok := req.GetOptionalStartCursor(); tok != nil {
		rev, err := tuples.ParseToken(tok.GetToken())
		if err != nil {
			return s.status(ctx, err)
		}
		after = rev
	} else {
		head, err := s.store.HeadRevision(ctx)
		if err != nil {
			return s.status(ctx, err)
		}
		after = head
	}
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()

	wt := &watcher{s: s, stream: stream, match: match, checkpoints: wantCheckpoints, schema: wantSchema}
	err := wt.run(ctx, after)
	switch {
	case err == nil:
		return nil
	case s.closingCtx.Err() != nil && errors.Is(err, context.Canceled):
		return status.Error(codes.Unavailable, "server is shutting down")
	case errors.Is(err, tuples.ErrClosed):
		return status.Error(codes.Unavailable, "server is shutting down")
	}
	return s.status(ctx, err)
}

// watcher is one Watch stream's state.
type watcher struct {
	s                   *Server
	stream              grpc.ServerStreamingServer[v1.WatchResponse]
	match               func(tuples.Relationship) bool
	checkpoints, schema bool
	lastCheckpoint      tuples.Revision
}

// run streams the changes after `after` until ctx ends or the store closes.
func (w *watcher) run(ctx context.Context, after tuples.Revision) error {
	w.lastCheckpoint = after
	for {
		sets, upto, err := w.s.store.Changes(ctx, after, watchPage)
		if err != nil {
			return err
		}
		// The schema write to report, if any: the latest one, when it is
		// in the range read.
		var schemaRev tuples.Revision
		if w.schema {
			_, _, rev, err := w.s.store.SchemaSource(ctx)
			if err != nil {
				return err
			}
			if rev > after && rev <= upto {
				schemaRev = rev
			}
		}
		for _, cs := range sets {
			if schemaRev != 0 && schemaRev < cs.Revision {
				if err := w.sendRevision(tuples.ChangeSet{Revision: schemaRev}, true); err != nil {
					return err
				}
				schemaRev = 0
			}
			withSchema := schemaRev == cs.Revision
			if withSchema {
				schemaRev = 0
			}
			if err := w.sendRevision(cs, withSchema); err != nil {
				return err
			}
		}
		if schemaRev != 0 {
			if err := w.sendRevision(tuples.ChangeSet{Revision: schemaRev}, true); err != nil {
				return err
			}
		}
		// Revisions that changed no relationship (schema writes, empty
		// deletes) still move the checkpoint.
		if len(sets) < watchPage && upto > w.lastCheckpoint {
			if err := w.checkpoint(upto); err != nil {
				return err
			}
		}
		after = upto
		if len(sets) == watchPage {
			continue
		}
		if err := w.s.store.WaitForRevision(ctx, after+1); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// sendRevision sends what the stream wants of one revision: its matching
// relationship updates, the schema change (withSchema), then the checkpoint.
func (w *watcher) sendRevision(cs tuples.ChangeSet, withSchema bool) error {
	token := zedToken(cs.Revision)
	resp := &v1.WatchResponse{ChangesThrough: token}
	for _, c := range cs.Changes {
		if !w.match(c.Relationship) {
			continue
		}
		op := v1.RelationshipUpdate_OPERATION_TOUCH
		if c.Op == tuples.Delete {
			op = v1.RelationshipUpdate_OPERATION_DELETE
		}
		r, err := v1conv.RelationshipToProto(c.Relationship)
		if err != nil {
			return err
		}
		resp.Updates = append(resp.Updates, &v1.RelationshipUpdate{Operation: op, Relationship: r})
	}
	if len(resp.Updates) > 0 {
		if err := w.stream.Send(resp); err != nil {
			return err
		}
	}
	if withSchema {
		if err := w.stream.Send(&v1.WatchResponse{SchemaUpdated: true, ChangesThrough: token}); err != nil {
			return err
		}
	}
	return w.checkpoint(cs.Revision)
}

// checkpoint reports, when asked for, that everything up to rev was sent.
func (w *watcher) checkpoint(rev tuples.Revision) error {
	if rev <= w.lastCheckpoint {
		return nil
	}
	w.lastCheckpoint = rev
	if !w.checkpoints {
		return nil
	}
	return w.stream.Send(&v1.WatchResponse{IsCheckpoint: true, ChangesThrough: zedToken(rev)})
}
