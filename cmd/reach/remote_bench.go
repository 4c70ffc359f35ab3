package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"

	"github.com/reach-authz/reach/bench"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/tuples"
)

// benchTarget runs `reach bench --endpoint` through the authzed.api.v1 API:
// it implements bench.Target over a remoteClient. Tokens are passed through
// as the server gives them, so it works against any server of the API.
type benchTarget struct{ *remoteClient }

var _ bench.Target = benchTarget{}

// Bulk import sizes: relationships per message, and per
// ImportBulkRelationships call (SpiceDB writes one call in one transaction).
const (
	importMessage = 1_000
	importCall    = 100_000
)

// newBenchTargets connects to the servers at endpoints: one target, or, for
// several (reach bench --endpoint a,b,c: nodes of one service), a target
// that spreads the requests over them in turn.
func newBenchTargets(endpoints []string) (closingTarget, error) {
	var ts []benchTarget
	for _, ep := range endpoints {
		c, err := dialEndpoint(ep)
		if err != nil {
			for _, t := range ts {
				t.Close()
			}
			return nil, err
		}
		c.foreignTokens = true
		ts = append(ts, benchTarget{c})
	}
	if len(ts) == 1 {
		return ts[0], nil
	}
	return &roundRobin{targets: ts}, nil
}

// closingTarget is a bench.Target with connections to close.
type closingTarget interface {
	bench.Target
	Close() error
}

// roundRobin is a bench.Target over several nodes of one service: the load
// and the schema go through the first, and each query or write to the next
// node in turn, so a write on one node is often followed by a read of its
// token on another.
type roundRobin struct {
	targets []benchTarget
	next    atomic.Uint64
}

func (r *roundRobin) pick() benchTarget {
	return r.targets[(r.next.Add(1)-1)%uint64(len(r.targets))]
}

func (r *roundRobin) Name() string {
	names := make([]string, len(r.targets))
	for i, t := range r.targets {
		names[i] = t.Name()
	}
	return strings.Join(names, ",")
}

func (r *roundRobin) Close() error {
	var errs []error
	for _, t := range r.targets {
		errs = append(errs, t.Close())
	}
	return errors.Join(errs...)
}

func (r *roundRobin) WriteSchema(ctx context.Context, name string, src []byte) error {
	return r.targets[0].WriteSchema(ctx, name, src)
}

func (r *roundRobin) Import(ctx context.Context, generate func(emit func(tuples.Relationship) error) error, progress func(int64)) (int64, int, error) {
	return r.targets[0].Import(ctx, generate, progress)
}

func (r *roundRobin) Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error) {
	return r.pick().Check(ctx, req)
}

func (r *roundRobin) CheckBulk(ctx context.Context, reqs []engine.CheckRequest) ([]engine.CheckResult, error) {
	return r.pick().CheckBulk(ctx, reqs)
}

func (r *roundRobin) LookupResources(ctx context.Context, req engine.LookupResourcesRequest, fn func(engine.LookupResult) bool) (string, error) {
	return r.pick().LookupResources(ctx, req, fn)
}

func (r *roundRobin) LookupSubjects(ctx context.Context, req engine.LookupSubjectsRequest) ([]engine.FoundSubject, tuples.Revision, error) {
	return r.pick().LookupSubjects(ctx, req)
}

func (r *roundRobin) Write(ctx context.Context, updates []tuples.Update) (string, error) {
	return r.pick().Write(ctx, updates)
}

func (t benchTarget) Name() string { return t.endpoint }

func (t benchTarget) WriteSchema(ctx context.Context, _ string, src []byte) error {
	_, err := t.client.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: string(src)})
	return t.fromStatus(err)
}

// Import streams the relationships through ImportBulkRelationships, in
// calls of importCall relationships.
func (t benchTarget) Import(ctx context.Context, generate func(emit func(tuples.Relationship) error) error, progress func(int64)) (int64, int, error) {
	var (
		written, inCall int64
		calls           int
		msg             []*v1.Relationship
		stream          v1.PermissionsService_ImportBulkRelationshipsClient
	)
	send := func() error {
		if len(msg) == 0 {
			return nil
		}
		if stream == nil {
			var err error
			if stream, err = t.client.ImportBulkRelationships(ctx); err != nil {
				return t.fromStatus(err)
			}
		}
		if err := stream.Send(&v1.ImportBulkRelationshipsRequest{Relationships: msg}); err != nil {
			if errors.Is(err, io.EOF) { // the server ended the call: its status says why
				_, err = stream.CloseAndRecv()
			}
			return t.fromStatus(err)
		}
		inCall += int64(len(msg))
		msg = msg[:0]
		return nil
	}
	closeCall := func() error {
		if err := send(); err != nil || stream == nil {
			return err
		}
		resp, err := stream.CloseAndRecv()
		stream = nil
		if err != nil {
			return t.fromStatus(err)
		}
		if resp.GetNumLoaded() != uint64(inCall) {
			return fmt.Errorf("the server loaded %d relationships of %d sent", resp.GetNumLoaded(), inCall)
		}
		written += inCall
		inCall = 0
		calls++
		if progress != nil {
			progress(written)
		}
		return nil
	}
	err := generate(func(r tuples.Relationship) error {
		p, err := v1conv.RelationshipToProto(r)
		if err != nil {
			return err
		}
		msg = append(msg, p)
		if len(msg) == importMessage {
			if err := send(); err != nil {
				return err
			}
		}
		if inCall+int64(len(msg)) >= importCall {
			return closeCall()
		}
		return nil
	})
	if err == nil {
		err = closeCall()
	}
	return written, calls, err
}

// CheckBulk asks CheckBulkPermissions; an item's error fails the call.
func (t benchTarget) CheckBulk(ctx context.Context, reqs []engine.CheckRequest) ([]engine.CheckResult, error) {
	items := make([]*v1.CheckBulkPermissionsRequestItem, len(reqs))
	for i, r := range reqs {
		cctx, err := contextStruct(r.Context)
		if err != nil {
			return nil, err
		}
		items[i] = &v1.CheckBulkPermissionsRequestItem{Resource: objectRef(r.Resource), Permission: r.Permission, Subject: subjectRef(r.Subject), Context: cctx}
	}
	var cons engine.Consistency
	if len(reqs) > 0 {
		cons = reqs[0].Consistency
	}
	resp, err := t.client.CheckBulkPermissions(ctx, &v1.CheckBulkPermissionsRequest{Consistency: toConsistency(cons), Items: items})
	if err != nil {
		return nil, t.fromStatus(err)
	}
	rev, _ := t.revisionOf(resp.GetCheckedAt())
	if len(resp.GetPairs()) != len(reqs) {
		return nil, fmt.Errorf("CheckBulkPermissions: %d answers to %d checks", len(resp.GetPairs()), len(reqs))
	}
	out := make([]engine.CheckResult, len(reqs))
	for i, p := range resp.GetPairs() {
		if e := p.GetError(); e != nil {
			return nil, fmt.Errorf("check %d: %s", i, e.GetMessage())
		}
		out[i] = engine.CheckResult{Permissionship: v1conv.PermissionshipFromProto(p.GetItem().GetPermissionship()), Revision: rev}
	}
	return out, nil
}

// Write applies the updates and returns the ZedToken as the server gave it.
func (t benchTarget) Write(ctx context.Context, updates []tuples.Update) (string, error) {
	req := &v1.WriteRelationshipsRequest{Updates: make([]*v1.RelationshipUpdate, len(updates))}
	for i, u := range updates {
		r, err := v1conv.RelationshipToProto(u.Relationship)
		if err != nil {
			return "", err
		}
		req.Updates[i] = &v1.RelationshipUpdate{Operation: updateOpProto(u.Op), Relationship: r}
	}
	resp, err := t.client.WriteRelationships(ctx, req)
	if err != nil {
		return "", t.fromStatus(err)
	}
	return resp.GetWrittenAt().GetToken(), nil
}
