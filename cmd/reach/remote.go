package main

// This file lets the commands work on a running server (reach serve, or any
// server of SpiceDB's authzed.api.v1 API) instead of the embedded store:
// with --endpoint HOST:PORT, the commands that read and write relationships
// and the schema (check, expand, lookup, schema write/read, tuple ...) and
// bench talk gRPC to the server through one of two small interfaces,
// queryBackend (what the engine answers) and storeBackend (what the store
// does), that *engine.Engine and *tuples.Store implement locally and
// remoteClient implements over the network. The commands call the
// interface and print the same output, with the same exit statuses.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/server"
	"github.com/reach-authz/reach/tuples"
)

// remoteOptions are the root flags that name a server.
type remoteOptions struct {
	endpoint string // HOST:PORT; "" works on the embedded store
	token    string // the API key (preshared key), sent as a bearer token
	insecure bool   // plaintext even to a non-loopback address
	caCert   string // PEM file of the CA that signed the server's certificate
}

var remoteFlags remoteOptions

// remoteCommands are the commands that work on a server with --endpoint
// (their paths without the leading "reach "). Every other command works on
// local data only and refuses an --endpoint flag as a usage error.
var remoteCommands = []string{
	"check", "expand", "lookup resources", "lookup subjects",
	"schema write", "schema read",
	"tuple write", "tuple delete", "tuple read", "tuple import", "tuple export",
	"bench",
}

// localOnlyHelp is appended to the help of the commands that say so.
const localOnlyHelp = "\n\nThis command works on local data only: it refuses --endpoint (exit status 2)."

// localOnlyCommands get localOnlyHelp in their long help.
var localOnlyCommands = []string{"matrix", "validate"}

// addRemoteFlags adds --endpoint, --token, --insecure and --ca-cert to
// root, and the check that refuses them on local-only commands.
func addRemoteFlags(root *cobra.Command) {
	remoteFlags = remoteOptions{}
	pf := root.PersistentFlags()
	pf.StringVar(&remoteFlags.endpoint, "endpoint", os.Getenv("REACH_ENDPOINT"),
		"work on the server at HOST:PORT (reach serve, or any authzed.api.v1 server) instead of --data-dir (env REACH_ENDPOINT; default: the context in use, see reach context)")
	pf.StringVar(&remoteFlags.token, "token", os.Getenv("REACH_TOKEN"), "the server's API key (preshared key), sent as a bearer token (env REACH_TOKEN)")
	pf.BoolVar(&remoteFlags.insecure, "insecure", false, "talk plaintext to the server (the default only for a loopback address; TLS otherwise)")
	pf.StringVar(&remoteFlags.caCert, "ca-cert", "", "PEM file of the certificate authority of the server's TLS certificate (default: the system's)")
	for _, c := range root.Commands() {
		if slices.Contains(localOnlyCommands, c.Name()) {
			c.Long += localOnlyHelp
		}
	}
	prev := root.PersistentPreRunE
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if prev != nil {
			if err := prev(cmd, args); err != nil {
				return err
			}
		}
		return checkRemoteFlags(cmd)
	}
}

// checkRemoteFlags refuses --endpoint on a local-only command (an endpoint
// from REACH_ENDPOINT is ignored there) and the connection flags without
// an endpoint.
func checkRemoteFlags(cmd *cobra.Command) error {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	flags := cmd.Flags()
	if path == "context set" {
		return nil // the server flags are the context's (contexts.go)
	}
	if !slices.Contains(remoteCommands, path) {
		if flags.Changed("endpoint") {
			return usagef("reach %s works on local data only; it does not take --endpoint", path)
		}
		remoteFlags.endpoint = ""
		return nil
	}
	if err := applyContext(cmd); err != nil { // the context in use, if any (contexts.go)
		return err
	}
	if remoteFlags.endpoint == "" {
		for _, f := range []string{"insecure", "ca-cert"} {
			if flags.Changed(f) {
				return usagef("--%s goes with --endpoint", f)
			}
		}
		if flags.Changed("token") {
			return usagef("--token is the API key of a server: it goes with --endpoint (for a consistency token, use --revision)")
		}
		return nil
	}
	eps := strings.Split(remoteFlags.endpoint, ",")
	if len(eps) > 1 && path != "bench" {
		return usagef("--endpoint %q: several endpoints (a,b,c) go only with reach bench", remoteFlags.endpoint)
	}
	for _, ep := range eps {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			return usagef("--endpoint %q: want HOST:PORT", ep)
		}
	}
	if remoteFlags.insecure && remoteFlags.caCert != "" {
		return usagef("--insecure and --ca-cert exclude each other")
	}
	return nil
}

// isRemote reports whether the commands work on a server.
func isRemote() bool { return remoteFlags.endpoint != "" }

// queryBackend answers checks, expansions and lookups: *engine.Engine, or a
// server.
type queryBackend interface {
	Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error)
	Expand(ctx context.Context, resource engine.Object, permission string, cons engine.Consistency) (*engine.ExpandNode, tuples.Revision, error)
	LookupResources(ctx context.Context, req engine.LookupResourcesRequest, fn func(engine.LookupResult) bool) (string, error)
	LookupSubjects(ctx context.Context, req engine.LookupSubjectsRequest) ([]engine.FoundSubject, tuples.Revision, error)
}

// storeBackend writes and reads relationships and the schema: *tuples.Store,
// or a server.
type storeBackend interface {
	Close() error
	MaxBatch() int
	HeadRevision(ctx context.Context) (tuples.Revision, error)
	Write(ctx context.Context, updates []tuples.Update, preconditions ...tuples.Precondition) (tuples.Revision, error)
	DeleteWhere(ctx context.Context, f tuples.Filter, limit int, preconditions ...tuples.Precondition) (tuples.DeleteResult, error)
	ReadRelationships(ctx context.Context, f tuples.Filter, opts tuples.ReadOptions) (tuples.ReadResult, error)
	ForEach(ctx context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error)
	Export(ctx context.Context, w io.Writer, opts tuples.ExportOptions) (tuples.Revision, int64, error)
	Import(ctx context.Context, r io.Reader, opts tuples.ImportOptions) (tuples.ImportResult, error)
	WriteSchema(ctx context.Context, filename string, src []byte) (tuples.Revision, []schema.Diagnostic, error)
	Schema(ctx context.Context) (*schema.Program, tuples.Revision, error)
	SchemaSource(ctx context.Context) (string, []byte, tuples.Revision, error)
}

var (
	_ queryBackend = (*engine.Engine)(nil)
	_ queryBackend = (*remoteClient)(nil)
	_ storeBackend = datastore.Datastore(nil)
	_ storeBackend = (*remoteClient)(nil)
)

// openStore opens what the relationship and schema commands work on: the
// server of --endpoint, or the local store of --datastore.
func openStore(ctx context.Context, a access) (storeBackend, error) {
	if isRemote() {
		return dialRemote()
	}
	return openLocalStore(ctx, a)
}

// storeName names where the commands' data is, for messages.
func storeName() string {
	if isRemote() {
		return "the server at " + remoteFlags.endpoint
	}
	return datastoreName()
}

// remoteClient is a connection to a server of the authzed.api.v1 API.
type remoteClient struct {
	endpoint string
	client   *authzed.Client
	// foreignTokens: a ZedToken that is not a reach revision reads as
	// revision 0 instead of failing (bench runs against any server).
	foreignTokens bool
}

// dialRemote connects to --endpoint: plaintext with --insecure or to a
// loopback address (unless --ca-cert is given), TLS otherwise. gRPC
// connects lazily: a server that cannot be reached shows at the first call.
func dialRemote() (*remoteClient, error) { return dialEndpoint(remoteFlags.endpoint) }

// dialEndpoint connects to one server with the connection flags.
func dialEndpoint(endpoint string) (*remoteClient, error) {
	if _, _, err := net.SplitHostPort(endpoint); err != nil {
		return nil, usagef("--endpoint %q: want HOST:PORT", endpoint)
	}
	// isLoopback is serve.go's.
	plaintext := remoteFlags.insecure || (isLoopback(endpoint) && remoteFlags.caCert == "")
	// reach's own client options: the server's codec and flow-control
	// windows, and the key (--token) as a bearer token.
	opts := server.ClientOptions(remoteFlags.token)
	if plaintext {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if remoteFlags.caCert != "" {
			pem, err := os.ReadFile(remoteFlags.caCert)
			if err != nil {
				return nil, fmt.Errorf("--ca-cert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", remoteFlags.caCert)
			}
			cfg.RootCAs = pool
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	c, err := authzed.NewClient(endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", endpoint, err)
	}
	return &remoteClient{endpoint: endpoint, client: c}, nil
}

func (c *remoteClient) Close() error { return c.client.Close() }

// remoteError is a call the server failed. Its message is the server's
// (with advice for the faults of the connection or the key); it unwraps to
// the tuples error of the same meaning, if any, so that the commands give
// the exit status they give locally.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

// statusReason is the ErrorInfo reason of a status ("" if none).
func statusReason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// fromStatus turns a gRPC error of the server into a remoteError.
func (c *remoteClient) fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg, reason := st.Message(), statusReason(st)
	var kind error
	switch st.Code() {
	case codes.Unauthenticated:
		return &remoteError{msg: fmt.Sprintf("the server at %s wants an API key: give --token KEY or set REACH_TOKEN (Unauthenticated: %s)", c.endpoint, msg)}
	case codes.PermissionDenied:
		return &remoteError{msg: fmt.Sprintf("the server at %s refused the API key: check --token or REACH_TOKEN (PermissionDenied: %s)", c.endpoint, msg)}
	case codes.Unavailable:
		return &remoteError{msg: fmt.Sprintf("cannot reach the server at %s (Unavailable: %s)", c.endpoint, msg)}
	case codes.AlreadyExists:
		kind = tuples.ErrAlreadyExists
	case codes.OutOfRange:
		kind = tuples.ErrRevisionTooOld
	case codes.InvalidArgument, codes.FailedPrecondition:
		switch reason {
		case "ERROR_REASON_WRITE_OR_DELETE_PRECONDITION_FAILURE":
			kind = tuples.ErrPreconditionFailed
		case "ERROR_REASON_TOO_MANY_UPDATES_IN_REQUEST":
			kind = tuples.ErrBatchTooLarge
		case "ERROR_REASON_UPDATES_ON_SAME_RELATIONSHIP":
			kind = tuples.ErrDuplicateUpdate
		case "ERROR_REASON_INVALID_CURSOR":
			kind = tuples.ErrBadCursor
		case "ERROR_REASON_SCHEMA_TYPE_ERROR", "ERROR_REASON_SCHEMA_PARSE_ERROR":
			kind = errSchemaRefused
		default:
			if strings.Contains(msg, "zedtoken") {
				kind = tuples.ErrBadToken
			} else {
				// A relationship the server refuses (unknown type or
				// relation, malformed id, ...).
				kind = tuples.ErrInvalidRelationship
			}
		}
	}
	return &remoteError{msg: msg, kind: kind}
}

// errSchemaRefused is the kind of a schema the server refuses (it would
// orphan relationships).
var errSchemaRefused = tuples.ErrOrphans

// ---- conversions between reach's types and the API's ----

func toConsistency(c engine.Consistency) *v1.Consistency {
	switch c.Mode {
	case engine.FullyConsistent:
		return &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
	case engine.AtLeastAsFresh:
		return &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: &v1.ZedToken{Token: c.Token}}}
	case engine.AtExactSnapshot:
		return &v1.Consistency{Requirement: &v1.Consistency_AtExactSnapshot{AtExactSnapshot: &v1.ZedToken{Token: c.Token}}}
	}
	return &v1.Consistency{Requirement: &v1.Consistency_MinimizeLatency{MinimizeLatency: true}}
}

// exactAt reads at rev exactly; rev 0 reads fully consistent.
func exactAt(rev tuples.Revision) *v1.Consistency {
	if rev == 0 {
		return toConsistency(engine.Consistency{Mode: engine.FullyConsistent})
	}
	return toConsistency(engine.Consistency{Mode: engine.AtExactSnapshot, Token: rev.Token()})
}

func objectRef(o engine.Object) *v1.ObjectReference {
	return &v1.ObjectReference{ObjectType: o.Type, ObjectId: o.ID}
}

func subjectRef(s engine.Subject) *v1.SubjectReference {
	return &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: s.Type, ObjectId: s.ID}, OptionalRelation: s.Relation}
}

func contextStruct(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("caveat context: %w", err)
	}
	return s, nil
}

// revisionOf is revisionOf, or 0 for a token that is not reach's when c
// accepts foreign tokens (bench against another server).
func (c *remoteClient) revisionOf(t *v1.ZedToken) (tuples.Revision, error) {
	rev, err := revisionOf(t)
	if err != nil && c.foreignTokens {
		return 0, nil
	}
	return rev, err
}

// revisionOf reads a ZedToken as a reach revision (0 for none). A token
// that is not reach's (another server's) is an error.
func revisionOf(t *v1.ZedToken) (tuples.Revision, error) {
	if t.GetToken() == "" {
		return 0, nil
	}
	rev, err := tuples.ParseToken(t.GetToken())
	if err != nil {
		return 0, fmt.Errorf("the server's ZedToken %q is not a reach revision: %w", t.GetToken(), err)
	}
	return rev, nil
}

func preconditionsProto(ps []tuples.Precondition) []*v1.Precondition {
	out := make([]*v1.Precondition, len(ps))
	for i, p := range ps {
		op := v1.Precondition_OPERATION_MUST_NOT_MATCH
		if p.MustMatch {
			op = v1.Precondition_OPERATION_MUST_MATCH
		}
		out[i] = &v1.Precondition{Operation: op, Filter: v1conv.FilterToProto(p.Filter)}
	}
	return out
}

func updateOpProto(op tuples.UpdateOp) v1.RelationshipUpdate_Operation {
	switch op {
	case tuples.Create:
		return v1.RelationshipUpdate_OPERATION_CREATE
	case tuples.Delete:
		return v1.RelationshipUpdate_OPERATION_DELETE
	}
	return v1.RelationshipUpdate_OPERATION_TOUCH
}

// expandOf converts the API's userset tree. The API carries neither arrow
// labels, nor caveat names, nor cycles (a cycle comes back as a leaf).
func expandOf(t *v1.PermissionRelationshipTree) *engine.ExpandNode {
	n := &engine.ExpandNode{Relation: t.GetExpandedRelation()}
	if o := t.GetExpandedObject(); o != nil {
		n.Resource = engine.Object{Type: o.GetObjectType(), ID: o.GetObjectId()}
	}
	if leaf := t.GetLeaf(); leaf != nil {
		n.Op = engine.ExpandLeaf
		for _, s := range leaf.GetSubjects() {
			rel := s.GetOptionalRelation()
			if rel == tuples.Ellipsis {
				rel = ""
			}
			n.Subjects = append(n.Subjects, engine.ExpandSubject{Subject: engine.Subject{
				Type: s.GetObject().GetObjectType(), ID: s.GetObject().GetObjectId(), Relation: rel}})
		}
		return n
	}
	set := t.GetIntermediate()
	switch set.GetOperation() {
	case v1.AlgebraicSubjectSet_OPERATION_INTERSECTION:
		n.Op = engine.ExpandIntersection
	case v1.AlgebraicSubjectSet_OPERATION_EXCLUSION:
		n.Op = engine.ExpandExclusion
	default:
		n.Op = engine.ExpandUnion
	}
	for _, c := range set.GetChildren() {
		n.Children = append(n.Children, expandOf(c))
	}
	return n
}

// ---- queryBackend ----

// Check asks CheckPermission. --explain asks for the server's trace
// (with_tracing) and reads it back as an explanation: from reach serve,
// the very explanation the local command prints; from SpiceDB, its tree of
// permission and relation steps.
func (c *remoteClient) Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error) {
	cctx, err := contextStruct(req.Context)
	if err != nil {
		return engine.CheckResult{}, err
	}
	resp, err := c.client.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: toConsistency(req.Consistency), Resource: objectRef(req.Resource),
		Permission: req.Permission, Subject: subjectRef(req.Subject), Context: cctx,
		WithTracing: req.Explain,
	})
	if err != nil {
		return engine.CheckResult{}, c.explainedFailure(err, req.Explain)
	}
	rev, err := c.revisionOf(resp.GetCheckedAt())
	if err != nil {
		return engine.CheckResult{}, err
	}
	res := engine.CheckResult{Permissionship: v1conv.PermissionshipFromProto(resp.GetPermissionship()), Revision: rev, Missing: resp.GetPartialCaveatInfo().GetMissingRequiredContext()}
	if req.Explain {
		trace := resp.GetDebugTrace().GetCheck()
		if trace == nil {
			return engine.CheckResult{}, &remoteError{msg: fmt.Sprintf("the server at %s sent no explanation (debug trace) with its answer", c.endpoint)}
		}
		if res.Explanation, err = v1conv.TraceToExplanation(trace); err != nil {
			return engine.CheckResult{}, fmt.Errorf("reading the explanation from the server at %s: %w", c.endpoint, err)
		}
	}
	return res, nil
}

// explainedFailure is the error of a failed check: with --explain, and
// the server's explanation of the failure in the status (SpiceDB's
// debug_trace_proto_text, see v1conv.DebugInformationFromError), an
// *engine.ExplainedError that carries it. A trace that does not parse is
// left aside: the server's error is what matters.
func (c *remoteClient) explainedFailure(err error, explain bool) error {
	rerr := c.fromStatus(err)
	if !explain {
		return rerr
	}
	info, derr := v1conv.DebugInformationFromError(err)
	if derr != nil || info.GetCheck() == nil {
		return rerr
	}
	x, xerr := v1conv.TraceToExplanation(info.GetCheck())
	if xerr != nil || x == nil {
		return rerr
	}
	return &engine.ExplainedError{Err: rerr, Explanation: x}
}

func (c *remoteClient) Expand(ctx context.Context, resource engine.Object, permission string, cons engine.Consistency) (*engine.ExpandNode, tuples.Revision, error) {
	resp, err := c.client.ExpandPermissionTree(ctx, &v1.ExpandPermissionTreeRequest{
		Consistency: toConsistency(cons), Resource: objectRef(resource), Permission: permission,
	})
	if err != nil {
		return nil, 0, c.fromStatus(err)
	}
	rev, err := c.revisionOf(resp.GetExpandedAt())
	return expandOf(resp.GetTreeRoot()), rev, err
}

// lookupPage is the largest optional_limit a SpiceDB server accepts by
// default.
const lookupPage = 1000

func (c *remoteClient) LookupResources(ctx context.Context, req engine.LookupResourcesRequest, fn func(engine.LookupResult) bool) (string, error) {
	cctx, err := contextStruct(req.Context)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &v1.LookupResourcesRequest{
		Consistency: toConsistency(req.Consistency), ResourceObjectType: req.ResourceType,
		Permission: req.Permission, Subject: subjectRef(req.Subject), Context: cctx,
	}
	if req.Limit > 0 && req.Limit < lookupPage {
		r.OptionalLimit = uint32(req.Limit + 1) // one more, to know whether more remain
	}
	if req.Cursor != "" {
		r.OptionalCursor = &v1.Cursor{Token: req.Cursor}
		r.Consistency = nil // the cursor carries its revision
	}
	stream, err := c.client.LookupResources(ctx, r)
	if err != nil {
		return "", c.fromStatus(err)
	}
	n, last := 0, ""
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", c.fromStatus(err)
		}
		if req.Limit > 0 && n == req.Limit {
			return last, nil // more remain: continue after the last one given
		}
		n++
		last = resp.GetAfterResultCursor().GetToken()
		if !fn(engine.LookupResult{ResourceID: resp.GetResourceObjectId(), Permissionship: v1conv.LookupPermissionshipFromProto(resp.GetPermissionship())}) {
			return "", nil
		}
	}
}

func (c *remoteClient) LookupSubjects(ctx context.Context, req engine.LookupSubjectsRequest) ([]engine.FoundSubject, tuples.Revision, error) {
	cctx, err := contextStruct(req.Context)
	if err != nil {
		return nil, 0, err
	}
	stream, err := c.client.LookupSubjects(ctx, &v1.LookupSubjectsRequest{
		Consistency: toConsistency(req.Consistency), Resource: objectRef(req.Resource), Permission: req.Permission,
		SubjectObjectType: req.SubjectType, OptionalSubjectRelation: req.SubjectRelation, Context: cctx,
	})
	if err != nil {
		return nil, 0, c.fromStatus(err)
	}
	var found []engine.FoundSubject
	var token *v1.ZedToken
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, c.fromStatus(err)
		}
		token = resp.GetLookedUpAt()
		s := resp.GetSubject()
		f := engine.FoundSubject{ID: s.GetSubjectObjectId(), Permissionship: v1conv.LookupPermissionshipFromProto(s.GetPermissionship())}
		for _, x := range resp.GetExcludedSubjects() {
			f.Excluded = append(f.Excluded, x.GetSubjectObjectId())
		}
		found = append(found, f)
	}
	// The server sends subjects as found; print them as the local command does.
	engine.SortFoundSubjects(found)
	if token == nil { // nothing found: the revision read is not sent; say the head
		rev, err := c.HeadRevision(ctx)
		return found, rev, err
	}
	rev, err := c.revisionOf(token)
	return found, rev, err
}

// ---- storeBackend ----

// MaxBatch is the most updates of one WriteRelationships (SpiceDB's and
// reach serve's default).
func (c *remoteClient) MaxBatch() int { return 1000 }

// HeadRevision is the revision ReadSchema reads at: the head (0 when no
// schema has been written: then there are no relationships either).
func (c *remoteClient) HeadRevision(ctx context.Context) (tuples.Revision, error) {
	_, _, rev, err := c.readSchema(ctx)
	return rev, err
}

func (c *remoteClient) readSchema(ctx context.Context) (src string, found bool, rev tuples.Revision, err error) {
	resp, err := c.client.ReadSchema(ctx, &v1.ReadSchemaRequest{})
	if status.Code(err) == codes.NotFound {
		return "", false, 0, nil
	}
	if err != nil {
		return "", false, 0, c.fromStatus(err)
	}
	rev, err = c.revisionOf(resp.GetReadAt())
	return resp.GetSchemaText(), true, rev, err
}

func (c *remoteClient) Write(ctx context.Context, updates []tuples.Update, preconditions ...tuples.Precondition) (tuples.Revision, error) {
	req := &v1.WriteRelationshipsRequest{Updates: make([]*v1.RelationshipUpdate, len(updates)), OptionalPreconditions: preconditionsProto(preconditions)}
	for i, u := range updates {
		r, err := v1conv.RelationshipToProto(u.Relationship)
		if err != nil {
			return 0, err
		}
		req.Updates[i] = &v1.RelationshipUpdate{Operation: updateOpProto(u.Op), Relationship: r}
	}
	resp, err := c.client.WriteRelationships(ctx, req)
	if err != nil {
		return 0, c.fromStatus(err)
	}
	return c.revisionOf(resp.GetWrittenAt())
}

// DeleteWhere asks DeleteRelationships; a limit allows partial deletion, as
// the local command does.
func (c *remoteClient) DeleteWhere(ctx context.Context, f tuples.Filter, limit int, preconditions ...tuples.Precondition) (tuples.DeleteResult, error) {
	if f.IsEmpty() {
		return tuples.DeleteResult{}, usagef("--filter: deleting every relationship needs a filter that names a type with --endpoint")
	}
	resp, err := c.client.DeleteRelationships(ctx, &v1.DeleteRelationshipsRequest{
		RelationshipFilter: v1conv.FilterToProto(f), OptionalPreconditions: preconditionsProto(preconditions),
		OptionalLimit: uint32(limit), OptionalAllowPartialDeletions: limit > 0,
	})
	if err != nil {
		return tuples.DeleteResult{}, c.fromStatus(err)
	}
	rev, err := c.revisionOf(resp.GetDeletedAt())
	return tuples.DeleteResult{
		Revision: rev, Deleted: int(resp.GetRelationshipsDeletedCount()),
		Complete: resp.GetDeletionProgress() != v1.DeleteRelationshipsResponse_DELETION_PROGRESS_PARTIAL,
	}, err
}

// resolve is rev, or the head when rev is 0, so that a read that finds
// nothing still names its revision.
func (c *remoteClient) resolve(rev tuples.Revision) (tuples.Revision, error) {
	if rev != 0 {
		return rev, nil
	}
	return c.HeadRevision(context.Background())
}

// ReadRelationships reads one page. The API has no read of everything, so
// an empty filter reads through ExportBulkRelationships.
func (c *remoteClient) ReadRelationships(ctx context.Context, f tuples.Filter, opts tuples.ReadOptions) (tuples.ReadResult, error) {
	var res tuples.ReadResult
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var cons *v1.Consistency
	var cursor *v1.Cursor
	if opts.Cursor != "" {
		cursor = &v1.Cursor{Token: opts.Cursor}
	} else {
		rev, err := c.resolve(opts.Revision)
		if err != nil {
			return res, err
		}
		res.Revision, cons = rev, exactAt(rev)
	}
	if f.IsEmpty() {
		return c.readAll(ctx, cons, cursor, opts.Limit, res)
	}
	req := &v1.ReadRelationshipsRequest{Consistency: cons, RelationshipFilter: v1conv.FilterToProto(f), OptionalCursor: cursor}
	if opts.Limit > 0 && opts.Limit < lookupPage {
		req.OptionalLimit = uint32(opts.Limit + 1)
	}
	stream, err := c.client.ReadRelationships(ctx, req)
	if err != nil {
		return res, c.fromStatus(err)
	}
	last := ""
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, c.fromStatus(err)
		}
		if res.Revision == 0 {
			if res.Revision, err = c.revisionOf(resp.GetReadAt()); err != nil {
				return res, err
			}
		}
		if opts.Limit > 0 && len(res.Relationships) == opts.Limit {
			res.Cursor = last
			return res, nil
		}
		res.Relationships = append(res.Relationships, v1conv.RelationshipFromProto(resp.GetRelationship()))
		last = resp.GetAfterResultCursor().GetToken()
	}
}

// readAll reads a page of every relationship through the export.
func (c *remoteClient) readAll(ctx context.Context, cons *v1.Consistency, cursor *v1.Cursor, limit int, res tuples.ReadResult) (tuples.ReadResult, error) {
	req := &v1.ExportBulkRelationshipsRequest{Consistency: cons, OptionalCursor: cursor}
	if limit > 0 {
		req.OptionalLimit = uint32(limit)
	}
	stream, err := c.client.ExportBulkRelationships(ctx, req)
	if err != nil {
		return res, c.fromStatus(err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			res.Cursor = ""
			return res, nil
		}
		if err != nil {
			return res, c.fromStatus(err)
		}
		if limit > 0 && len(res.Relationships) >= limit {
			return res, nil // more remain: res.Cursor continues
		}
		for _, r := range resp.GetRelationships() {
			res.Relationships = append(res.Relationships, v1conv.RelationshipFromProto(r))
		}
		res.Cursor = resp.GetAfterResultCursor().GetToken()
	}
}

// ForEach calls fn with every relationship f selects at rev (0: the head),
// through ExportBulkRelationships.
func (c *remoteClient) ForEach(ctx context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error) {
	rev, err := c.resolve(rev)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := &v1.ExportBulkRelationshipsRequest{Consistency: exactAt(rev)}
	if !f.IsEmpty() {
		req.OptionalRelationshipFilter = v1conv.FilterToProto(f)
	}
	stream, err := c.client.ExportBulkRelationships(ctx, req)
	if err != nil {
		return rev, c.fromStatus(err)
	}
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return rev, nil
		}
		if err != nil {
			return rev, c.fromStatus(err)
		}
		for _, r := range resp.GetRelationships() {
			more, err := fn(v1conv.RelationshipFromProto(r))
			if err != nil || !more {
				return rev, err
			}
		}
	}
}

// Export writes what ForEach reads in the form tuple import reads, as
// tuples.Store.Export does.
func (c *remoteClient) Export(ctx context.Context, w io.Writer, opts tuples.ExportOptions) (tuples.Revision, int64, error) {
	rev, err := c.resolve(opts.Revision)
	if err != nil {
		return 0, 0, err
	}
	bw := newLineWriter(w)
	if opts.Header {
		bw.printf("# relationships exported by reach at revision %s\n", rev.Token())
	}
	var n int64
	rev, err = c.ForEach(ctx, rev, opts.Filter, func(r tuples.Relationship) (bool, error) {
		n++
		return bw.printf("%s\n", r.String()) == nil, bw.err
	})
	if err == nil {
		err = bw.flush()
	}
	if err != nil {
		return rev, n, fmt.Errorf("export: %w", err)
	}
	return rev, n, nil
}

// WriteSchema compiles the schema here first, so that its errors and
// warnings read as they do locally (FILE:LINE:COL), then writes it.
func (c *remoteClient) WriteSchema(ctx context.Context, filename string, src []byte) (tuples.Revision, []schema.Diagnostic, error) {
	_, diags, err := schema.Compile(filename, src)
	if err != nil {
		return 0, diags, err // an ErrorList, as the store returns it
	}
	resp, err := c.client.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: string(src)})
	if err != nil {
		return 0, diags, c.fromStatus(err)
	}
	rev, err := c.revisionOf(resp.GetWrittenAt())
	return rev, diags, err
}

// Schema reads and compiles the server's schema.
func (c *remoteClient) Schema(ctx context.Context) (*schema.Program, tuples.Revision, error) {
	src, found, rev, err := c.readSchema(ctx)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, tuples.ErrNoSchema
	}
	prog, _, err := schema.Compile("schema.zed", []byte(src))
	if err != nil {
		return nil, 0, fmt.Errorf("the server's schema: %w", err)
	}
	return prog, rev, nil
}

// SchemaSource reads the server's schema text; the API keeps no file name
// and reads it at the head (rev is the head, not the schema's write).
func (c *remoteClient) SchemaSource(ctx context.Context) (string, []byte, tuples.Revision, error) {
	src, found, rev, err := c.readSchema(ctx)
	if err != nil || !found {
		return "", nil, 0, err
	}
	return "", []byte(src), rev, nil
}

// lineWriter is a buffered writer that remembers its first error.
type lineWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{w: w} }

func (l *lineWriter) printf(format string, args ...any) error {
	if l.err != nil {
		return l.err
	}
	l.buf = fmt.Appendf(l.buf, format, args...)
	if len(l.buf) >= 64<<10 {
		return l.flush()
	}
	return nil
}

func (l *lineWriter) flush() error {
	if l.err == nil && len(l.buf) > 0 {
		_, l.err = l.w.Write(l.buf)
		l.buf = l.buf[:0]
	}
	return l.err
}
