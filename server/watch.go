package server

import (
	"context"
	"errors"
	"slices"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/tuples"
)

// watchService implements authzed.api.v1.WatchService.
type watchService struct {
	v1.UnimplementedWatchServiceServer
	s *Server
}

// Watch streams the relationship changes after the start token (the head
// when none is given), one response per revision, until the client goes
// away or the server shuts down. As SpiceDB, a CREATE is reported as TOUCH.
func (w *watchService) Watch(req *v1.WatchRequest, stream grpc.ServerStreamingServer[v1.WatchResponse]) error {
	s := w.s
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	stop := context.AfterFunc(s.closingCtx, cancel)
	defer stop()

	for _, k := range req.GetOptionalUpdateKinds() {
		if k == v1.WatchKind_WATCH_KIND_INCLUDE_SCHEMA_UPDATES || k == v1.WatchKind_WATCH_KIND_INCLUDE_CHECKPOINTS {
			return status.Errorf(codes.Unimplemented, "watch kind %v is not supported", k)
		}
	}
	if len(req.GetOptionalObjectTypes()) > 0 && len(req.GetOptionalRelationshipFilters()) > 0 {
		return invalidArgument("cannot specify both object types and relationship filters")
	}
	var filters []tuples.Filter
	for _, f := range req.GetOptionalRelationshipFilters() {
		if err := checkFilter(f); err != nil {
			return err
		}
		filters = append(filters, filterFromProto(f))
	}
	types := req.GetOptionalObjectTypes()
	match := func(r tuples.Relationship) bool {
		switch {
		case len(types) > 0:
			return slices.Contains(types, r.ResourceType)
		case len(filters) > 0:
			return slices.ContainsFunc(filters, func(f tuples.Filter) bool { return f.Matches(r) })
		}
		return true
	}

	var after tuples.Revision
	if tok := req.GetOptionalStartCursor(); tok != nil {
		rev, err := tuples.ParseToken(tok.GetToken())
		if err != nil {
			return s.status(ctx, err)
		}
		after = rev
	} else {
		head, err := s.store.HeadRevision()
		if err != nil {
			return s.status(ctx, err)
		}
		after = head
	}
	s.metrics.watchers.Inc()
	defer s.metrics.watchers.Dec()
	err := s.store.Watch(ctx, after, func(cs tuples.ChangeSet) error {
		resp := &v1.WatchResponse{ChangesThrough: zedToken(cs.Revision)}
		for _, c := range cs.Changes {
			if !match(c.Relationship) {
				continue
			}
			op := v1.RelationshipUpdate_OPERATION_TOUCH
			if c.Op == tuples.Delete {
				op = v1.RelationshipUpdate_OPERATION_DELETE
			}
			r, err := relationshipToProto(c.Relationship)
			if err != nil {
				return err
			}
			resp.Updates = append(resp.Updates, &v1.RelationshipUpdate{Operation: op, Relationship: r})
		}
		if len(resp.Updates) == 0 {
			return nil
		}
		return stream.Send(resp)
	})
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
