package server

import (
	"context"
	"errors"
	"strconv"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/tuples"
)

// permissionsService implements authzed.api.v1.PermissionsService.
type permissionsService struct {
	v1.UnimplementedPermissionsServiceServer
	s *Server
	// checkInfo and checkHandler are what handleCheck gives the
	// interceptor (see newPermissionsService).
	checkInfo    *grpc.UnaryServerInfo
	checkHandler grpc.UnaryHandler
}

func (p *permissionsService) CheckPermission(ctx context.Context, req *v1.CheckPermissionRequest) (*v1.CheckPermissionResponse, error) {
	r := new(checkReply)
	if err := p.check(ctx, req, r); err != nil {
		return nil, err
	}
	return &r.CheckPermissionResponse, nil
}

// check answers a CheckPermissionRequest into r.
func (p *permissionsService) check(ctx context.Context, req *v1.CheckPermissionRequest, r *checkReply) error {
	s := p.s
	cons, err := consistency(req.GetConsistency())
	if err != nil {
		return err
	}
	trace, trailer := debugRequested(ctx, req.GetWithTracing())
	creq := engine.CheckRequest{
		Resource:    objectFromProto(req.GetResource()),
		Permission:  req.GetPermission(),
		Subject:     subjectFromProto(req.GetSubject()),
		Consistency: cons,
		Context:     contextFromProto(req.GetContext()),
		Explain:     trace,
	}
	start := time.Now()
	res, err := s.eng.Check(ctx, creq)
	if err != nil {
		st := s.status(ctx, err)
		if trace {
			// A check that failed explains itself in the error.
			st = s.withFailedTrace(ctx, st, creq, err, time.Since(start))
		}
		return st
	}
	took := time.Since(start)
	s.metrics.observeCheck(res.Permissionship)
	r.tok.Token = s.token(res.Revision)
	out := &r.CheckPermissionResponse
	out.CheckedAt = &r.tok
	out.Permissionship = v1conv.PermissionshipToProto(res.Permissionship)
	if res.Permissionship == engine.Conditional {
		out.PartialCaveatInfo = partialCaveatInfo(res.Missing)
	}
	if trace {
		out.DebugTrace = s.debugInformation(ctx, creq, res, took)
		if trailer {
			s.setDebugTrailer(ctx, out.DebugTrace)
		}
	}
	return nil
}

func (p *permissionsService) CheckBulkPermissions(ctx context.Context, req *v1.CheckBulkPermissionsRequest) (*v1.CheckBulkPermissionsResponse, error) {
	s := p.s
	if n, max := len(req.GetItems()), s.cfg.Limits.MaxCheckItems; n > max {
		return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_CHECKS_IN_REQUEST,
			map[string]string{"check_count": strconv.Itoa(n), "maximum_checks_allowed": strconv.Itoa(max)},
			"check count of %d is greater than maximum allowed of %d", n, max)
	}
	cons, err := consistency(req.GetConsistency())
	if err != nil {
		return nil, err
	}
	// SpiceDB answers every item at one revision and reports a fault of one
	// item (an unknown type, say) as that pair's error, not the call's. The
	// engine's CheckBulk fails the whole call on the first bad item, so the
	// items are first checked one by one for faults at a fixed revision.
	trace, _ := debugRequested(ctx, req.GetWithTracing())
	reqs := make([]engine.CheckRequest, len(req.GetItems()))
	for i, it := range req.GetItems() {
		reqs[i] = engine.CheckRequest{
			Resource:    objectFromProto(it.GetResource()),
			Permission:  it.GetPermission(),
			Subject:     subjectFromProto(it.GetSubject()),
			Consistency: cons,
			Context:     contextFromProto(it.GetContext()),
			Explain:     trace,
		}
	}
	out := &v1.CheckBulkPermissionsResponse{Pairs: make([]*v1.CheckBulkPermissionsPair, len(reqs))}
	if len(reqs) == 0 {
		rev, err := s.resolve(ctx, cons)
		if err != nil {
			return nil, s.status(ctx, err)
		}
		out.CheckedAt = zedToken(rev)
		return out, nil
	}
	results, err := s.eng.CheckBulk(ctx, reqs)
	if err != nil {
		if isCallError(err) {
			return nil, s.status(ctx, err)
		}
		// Some item is at fault: answer item by item at the revision of
		// the first answer, so that the others still get theirs.
		return p.checkEach(ctx, req, reqs)
	}
	for i, r := range results {
		s.metrics.observeCheck(r.Permissionship)
		item := &v1.CheckBulkPermissionsResponseItem{Permissionship: v1conv.PermissionshipToProto(r.Permissionship)}
		if r.Permissionship == engine.Conditional {
			item.PartialCaveatInfo = partialCaveatInfo(r.Missing)
		}
		if trace {
			item.DebugTrace = s.debugInformation(ctx, reqs[i], r, 0)
		}
		out.Pairs[i] = &v1.CheckBulkPermissionsPair{
			Request:  req.GetItems()[i],
			Response: &v1.CheckBulkPermissionsPair_Item{Item: item},
		}
		out.CheckedAt = zedToken(r.Revision)
	}
	return out, nil
}

// isCallError reports whether err concerns the whole call (its consistency
// or its context) rather than one item.
func isCallError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, tuples.ErrBadToken) || errors.Is(err, tuples.ErrRevisionTooOld) ||
		errors.Is(err, tuples.ErrRevisionInFuture) || errors.Is(err, tuples.ErrClosed)
}

// checkEach answers a bulk check one item at a time at one revision, each
// fault becoming its pair's error.
func (p *permissionsService) checkEach(ctx context.Context, req *v1.CheckBulkPermissionsRequest, reqs []engine.CheckRequest) (*v1.CheckBulkPermissionsResponse, error) {
	s := p.s
	rev, err := s.resolve(ctx, reqs[0].Consistency)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	exact := engine.Consistency{Mode: engine.AtExactSnapshot, Token: rev.Token()}
	out := &v1.CheckBulkPermissionsResponse{CheckedAt: zedToken(rev), Pairs: make([]*v1.CheckBulkPermissionsPair, len(reqs))}
	for i, r := range reqs {
		r.Consistency = exact
		pair := &v1.CheckBulkPermissionsPair{Request: req.GetItems()[i]}
		res, err := s.eng.Check(ctx, r)
		switch {
		case err != nil && isCallError(err):
			return nil, s.status(ctx, err)
		case err != nil:
			st, _ := status.FromError(s.status(ctx, err))
			pair.Response = &v1.CheckBulkPermissionsPair_Error{Error: st.Proto()}
		default:
			s.metrics.observeCheck(res.Permissionship)
			item := &v1.CheckBulkPermissionsResponseItem{Permissionship: v1conv.PermissionshipToProto(res.Permissionship)}
			if res.Permissionship == engine.Conditional {
				item.PartialCaveatInfo = partialCaveatInfo(res.Missing)
			}
			if r.Explain {
				item.DebugTrace = s.debugInformation(ctx, r, res, 0)
			}
			pair.Response = &v1.CheckBulkPermissionsPair_Item{Item: item}
		}
		out.Pairs[i] = pair
	}
	return out, nil
}

func (p *permissionsService) ExpandPermissionTree(ctx context.Context, req *v1.ExpandPermissionTreeRequest) (*v1.ExpandPermissionTreeResponse, error) {
	s := p.s
	cons, err := consistency(req.GetConsistency())
	if err != nil {
		return nil, err
	}
	tree, rev, err := s.eng.Expand(ctx, objectFromProto(req.GetResource()), req.GetPermission(), cons)
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return &v1.ExpandPermissionTreeResponse{ExpandedAt: zedToken(rev), TreeRoot: expandToProto(tree)}, nil
}

func (p *permissionsService) WriteRelationships(ctx context.Context, req *v1.WriteRelationshipsRequest) (*v1.WriteRelationshipsResponse, error) {
	s := p.s
	if n, max := len(req.GetOptionalPreconditions()), s.cfg.Limits.MaxPreconditions; n > max {
		return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST,
			map[string]string{"precondition_count": strconv.Itoa(n), "maximum_updates_allowed": strconv.Itoa(max)},
			"precondition count of %d is greater than maximum allowed of %d", n, max)
	}
	if n, max := len(req.GetUpdates()), s.store.MaxBatch(); n > max {
		return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST,
			map[string]string{"update_count": strconv.Itoa(n), "maximum_updates_allowed": strconv.Itoa(max)},
			"update count of %d is greater than maximum allowed of %d", n, max)
	}
	pre, err := preconditionsFromProto(req.GetOptionalPreconditions())
	if err != nil {
		return nil, err
	}
	updates := make([]tuples.Update, len(req.GetUpdates()))
	for i, u := range req.GetUpdates() {
		r, err := relationshipFromProto(u.GetRelationship())
		if err != nil {
			return nil, err
		}
		var op tuples.UpdateOp
		switch u.GetOperation() {
		case v1.RelationshipUpdate_OPERATION_CREATE:
			op = tuples.Create
		case v1.RelationshipUpdate_OPERATION_TOUCH:
			op = tuples.Touch
		case v1.RelationshipUpdate_OPERATION_DELETE:
			op = tuples.Delete
		default:
			return nil, invalidArgument("update %d: unknown operation %v", i, u.GetOperation())
		}
		updates[i] = tuples.Update{Op: op, Relationship: r}
	}
	rev, err := s.store.Write(ctx, updates, pre...)
	if err != nil {
		return nil, s.writeStatus(ctx, err)
	}
	s.metrics.writes.Add(float64(len(updates)))
	return &v1.WriteRelationshipsResponse{WrittenAt: zedToken(rev)}, nil
}

// writeStatus is status for the errors of a write, refining a relationship
// the schema refuses with the schema in force.
func (s *Server) writeStatus(ctx context.Context, err error) error {
	var ve *tuples.ValidationError
	if errors.As(err, &ve) {
		p, _, serr := s.store.Schema(ctx)
		if serr == nil {
			return classifyInvalid(p, ve.Relationship, err)
		}
	}
	return s.status(ctx, err)
}

func (p *permissionsService) DeleteRelationships(ctx context.Context, req *v1.DeleteRelationshipsRequest) (*v1.DeleteRelationshipsResponse, error) {
	s := p.s
	if err := checkFilter(req.GetRelationshipFilter()); err != nil {
		return nil, err
	}
	if n, max := len(req.GetOptionalPreconditions()), s.cfg.Limits.MaxPreconditions; n > max {
		return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_PRECONDITIONS_IN_REQUEST,
			map[string]string{"precondition_count": strconv.Itoa(n), "maximum_updates_allowed": strconv.Itoa(max)},
			"precondition count of %d is greater than maximum allowed of %d", n, max)
	}
	limit := int(req.GetOptionalLimit())
	if err := checkLimit(limit, s.cfg.Limits.MaxDeleteLimit); err != nil {
		return nil, err
	}
	pre, err := preconditionsFromProto(req.GetOptionalPreconditions())
	if err != nil {
		return nil, err
	}
	f := v1conv.FilterFromProto(req.GetRelationshipFilter())
	if f.ResourceType == "" && (f.Subject == nil || f.Subject.Type == "") {
		return nil, invalidArgument("the relationship filter provided is not valid: it must name a resource type or a subject type")
	}
	if limit > 0 && !req.GetOptionalAllowPartialDeletions() {
		// SpiceDB refuses to delete part of the matches unless partial
		// deletion was allowed. Counted at the head first; a write racing
		// in between can still make the delete below partial (reported as
		// such).
		n := 0
		if _, err := s.store.ForEach(ctx, 0, f, func(tuples.Relationship) (bool, error) {
			n++
			return n <= limit, nil
		}); err != nil {
			return nil, s.status(ctx, err)
		}
		if n > limit {
			return nil, withReason(codes.InvalidArgument, v1.ErrorReason_ERROR_REASON_TOO_MANY_RELATIONSHIPS_FOR_TRANSACTIONAL_DELETE,
				map[string]string{"limit": strconv.Itoa(limit), "filter_resource_type": f.ResourceType},
				"found more than %d relationships to be deleted and partial deletion was not requested", limit)
		}
	}
	res, err := s.store.DeleteWhere(ctx, f, limit, pre...)
	if err != nil {
		return nil, s.writeStatus(ctx, err)
	}
	progress := v1.DeleteRelationshipsResponse_DELETION_PROGRESS_COMPLETE
	if !res.Complete {
		progress = v1.DeleteRelationshipsResponse_DELETION_PROGRESS_PARTIAL
	}
	return &v1.DeleteRelationshipsResponse{
		DeletedAt:                 zedToken(res.Revision),
		DeletionProgress:          progress,
		RelationshipsDeletedCount: uint64(res.Deleted),
	}, nil
}

func (p *permissionsService) ReadRelationships(req *v1.ReadRelationshipsRequest, stream grpc.ServerStreamingServer[v1.ReadRelationshipsResponse]) error {
	s := p.s
	ctx := stream.Context()
	if err := checkFilter(req.GetRelationshipFilter()); err != nil {
		return err
	}
	limit := int(req.GetOptionalLimit())
	if err := checkLimit(limit, s.cfg.Limits.MaxReadLimit); err != nil {
		return err
	}
	start, err := s.pageStart(ctx, req.GetOptionalCursor(), req.GetConsistency())
	if err != nil {
		return err
	}
	token := zedToken(start.Revision)
	return s.readPages(ctx, v1conv.FilterFromProto(req.GetRelationshipFilter()), start, limit, func(r tuples.Relationship, after pageCursor) error {
		pr, err := v1conv.RelationshipToProto(r)
		if err != nil {
			return err
		}
		return stream.Send(&v1.ReadRelationshipsResponse{ReadAt: token, Relationship: pr, AfterResultCursor: after.encode()})
	})
}

// readPage is how many relationships the server reads from the store at a
// time when streaming without a limit.
const readPage = 1000

// readPages streams the relationships matching f from start, at most limit
// of them (0: all), calling send with each and the cursor that continues
// after it.
func (s *Server) readPages(ctx context.Context, f tuples.Filter, start pageCursor, limit int, send func(tuples.Relationship, pageCursor) error) error {
	if start.Revision == 0 && start.Store == "" {
		// A read at revision 0 (a token naming it, or the head of an
		// empty store) reads the empty store, if still readable; the
		// store takes revision 0 for the head.
		sn, err := s.store.Snapshot(ctx, 0)
		if err != nil {
			return s.status(ctx, err)
		}
		sn.Close()
		return nil
	}
	cur := start
	sent := 0
	for {
		want := readPage
		if limit > 0 && limit-sent < want {
			want = limit - sent
		}
		if want == 0 {
			return nil
		}
		opts := tuples.ReadOptions{Revision: cur.Revision, Limit: cur.Skip + want, Cursor: cur.Store}
		res, err := s.store.ReadRelationships(ctx, f, opts)
		if err != nil {
			return s.status(ctx, err)
		}
		rels := res.Relationships
		if cur.Skip > len(rels) {
			rels = nil
		} else {
			rels = rels[cur.Skip:]
		}
		for i, r := range rels {
			after := pageCursor{Revision: cur.Revision, Store: cur.Store, Skip: cur.Skip + i + 1}
			if i == len(rels)-1 && res.Cursor != "" {
				after = pageCursor{Revision: cur.Revision, Store: res.Cursor}
			}
			if err := send(r, after); err != nil {
				return err
			}
			sent++
		}
		if res.Cursor == "" {
			return nil
		}
		cur = pageCursor{Revision: cur.Revision, Store: res.Cursor}
	}
}

func (p *permissionsService) LookupResources(req *v1.LookupResourcesRequest, stream grpc.ServerStreamingServer[v1.LookupResourcesResponse]) error {
	s := p.s
	ctx := stream.Context()
	limit := int(req.GetOptionalLimit())
	if err := checkLimit(limit, s.cfg.Limits.MaxLookupLimit); err != nil {
		return err
	}
	var cur lookupCursor
	if req.GetOptionalCursor() != nil {
		c, err := decodeLookupCursor(req.GetOptionalCursor())
		if err != nil {
			return s.status(ctx, err)
		}
		cur = c
	} else {
		rev, err := s.startRevision(ctx, req.GetConsistency())
		if err != nil {
			return err
		}
		cur = lookupCursor{Revision: rev}
	}
	token := zedToken(cur.Revision)
	sent := 0
	var sendErr error
	// The engine returns resources in id order; a page continues after the
	// last id sent, at the cursor's revision.
	_, err := s.eng.LookupResources(ctx, engine.LookupResourcesRequest{
		ResourceType: req.GetResourceObjectType(),
		Permission:   req.GetPermission(),
		Subject:      subjectFromProto(req.GetSubject()),
		Consistency:  engine.Consistency{Mode: engine.AtExactSnapshot, Token: cur.Revision.Token()},
		Context:      contextFromProto(req.GetContext()),
	}, func(r engine.LookupResult) bool {
		if cur.After != "" && r.ResourceID <= cur.After {
			return true
		}
		after := lookupCursor{Revision: cur.Revision, After: r.ResourceID}
		resp := &v1.LookupResourcesResponse{
			LookedUpAt:        token,
			ResourceObjectId:  r.ResourceID,
			Permissionship:    v1conv.LookupPermissionshipToProto(r.Permissionship),
			AfterResultCursor: after.encode(),
		}
		if r.Permissionship == engine.Conditional {
			resp.PartialCaveatInfo = partialCaveatInfo(r.Missing)
		}
		if sendErr = stream.Send(resp); sendErr != nil {
			return false
		}
		sent++
		return limit == 0 || sent < limit
	})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return s.status(ctx, err)
	}
	return nil
}

func (p *permissionsService) LookupSubjects(req *v1.LookupSubjectsRequest, stream grpc.ServerStreamingServer[v1.LookupSubjectsResponse]) error {
	s := p.s
	ctx := stream.Context()
	if req.GetOptionalConcreteLimit() != 0 {
		// As SpiceDB (internal/services/v1/permissions.go, LookupSubjects):
		// a concrete limit is refused with Unimplemented before anything
		// else; a cursor alone is accepted and ignored (every subject is
		// streamed, without cursors).
		return status.Error(codes.Unimplemented, "concrete limit is not yet supported")
	}
	// The revision is picked first: every response carries it, and the
	// first is sent as soon as the engine finds a subject.
	rev, err := s.startRevision(ctx, req.GetConsistency())
	if err != nil {
		return err
	}
	token := zedToken(rev)
	var sendErr error
	_, err = s.eng.LookupSubjectsStream(ctx, engine.LookupSubjectsRequest{
		Resource:        objectFromProto(req.GetResource()),
		Permission:      req.GetPermission(),
		SubjectType:     req.GetSubjectObjectType(),
		SubjectRelation: normRelation(req.GetOptionalSubjectRelation()),
		Consistency:     engine.Consistency{Mode: engine.AtExactSnapshot, Token: rev.Token()},
		Context:         contextFromProto(req.GetContext()),
	}, func(f engine.FoundSubject) bool {
		if f.ID == "*" && req.GetWildcardOption() == v1.LookupSubjectsRequest_WILDCARD_OPTION_EXCLUDE_WILDCARDS {
			return true
		}
		perm := v1conv.LookupPermissionshipToProto(f.Permissionship)
		resp := &v1.LookupSubjectsResponse{
			LookedUpAt:         token,
			SubjectObjectId:    f.ID,
			ExcludedSubjectIds: f.Excluded,
			Permissionship:     perm,
			Subject:            &v1.ResolvedSubject{SubjectObjectId: f.ID, Permissionship: perm},
		}
		if f.Permissionship == engine.Conditional {
			resp.PartialCaveatInfo = partialCaveatInfo(f.Missing)
			resp.Subject.PartialCaveatInfo = partialCaveatInfo(f.Missing)
		}
		for _, x := range f.Excluded {
			resp.ExcludedSubjects = append(resp.ExcludedSubjects, &v1.ResolvedSubject{
				SubjectObjectId: x,
				Permissionship:  v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION,
			})
		}
		sendErr = stream.Send(resp)
		return sendErr == nil
	})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return s.status(ctx, err)
	}
	return nil
}

// normRelation maps SpiceDB's "..." (no relation) to reach's "".
func normRelation(rel string) string {
	if rel == tuples.Ellipsis {
		return ""
	}
	return rel
}

// partialCaveatInfo reports a conditional answer's missing caveat context,
// as SpiceDB's missing_required_context.
func partialCaveatInfo(missing []string) *v1.PartialCaveatInfo {
	return &v1.PartialCaveatInfo{MissingRequiredContext: missing}
}
