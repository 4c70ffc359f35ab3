package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/internal/v1conv"
	"github.com/reach-authz/reach/tuples"
)

const testKey = "test-preshared-key"

// testSchema is the model most tests use.
const testSchema = `definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation owner: user
	relation viewer: user | user:* | group#member
	relation banned: user
	permission edit = owner
	permission view = (viewer + edit) - banned
}
`

// bearer presents a key as a bearer token, as SpiceDB's clients do
// (grpcutil.WithInsecureBearerToken).
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// testServer is a Server running on loopback listeners over an in-memory
// store.
type testServer struct {
	*Server
	store              *tuples.Store
	grpcAddr, httpAddr string
	metricsAddr        string
	client             *authzed.Client // with the right key
}

type testOptions struct {
	engine engine.Options
	cfg    Config
	dir    string // on-disk store when set
	// wrapHTTP, when set, wraps the HTTP listener (to watch what the
	// server reads).
	wrapHTTP func(net.Listener) net.Listener
	// wrapStore, when set, wraps the store the server and its engine see.
	wrapStore func(datastore.Datastore) datastore.Datastore
}

func startServer(t testing.TB, o testOptions) *testServer {
	t.Helper()
	st, err := tuples.Open(o.dir, tuples.Options{InMemory: o.dir == "", MemTableSize: 8 << 20})
	require.NoError(t, err)
	if o.engine.Quantization == 0 {
		o.engine.Quantization = -1 // minimize_latency reads the head: deterministic tests
	}
	var ds datastore.Datastore = st
	if o.wrapStore != nil {
		ds = o.wrapStore(st)
	}
	eng := engine.New(ds, o.engine)
	cfg := o.cfg
	if len(cfg.PresharedKeys) == 0 && !cfg.InsecureNoAuth {
		cfg.PresharedKeys = []string{testKey}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := New(ds, eng, cfg)
	require.NoError(t, err)
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		return l
	}
	ln := Listeners{GRPC: listen(), HTTP: listen(), Metrics: listen()}
	httpAddr := ln.HTTP.Addr().String()
	if o.wrapHTTP != nil {
		ln.HTTP = o.wrapHTTP(ln.HTTP)
	}
	ts := &testServer{Server: srv, store: st, grpcAddr: ln.GRPC.Addr().String(), httpAddr: httpAddr, metricsAddr: ln.Metrics.Addr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("server did not stop")
		}
		require.NoError(t, st.Close())
	})
	ts.client = ts.dial(t, testKey)
	return ts
}

// dial returns a client presenting key ("" for none).
func (ts *testServer) dial(t testing.TB, key string) *authzed.Client {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(key)))
	}
	c, err := authzed.NewClient(ts.grpcAddr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// dialReach returns a client with reach's own options (ClientOptions, as
// the remote CLI's), presenting key ("" for none).
func (ts *testServer) dialReach(t testing.TB, key string) *authzed.Client {
	t.Helper()
	opts := append(ClientOptions(key), grpc.WithTransportCredentials(insecure.NewCredentials()))
	c, err := authzed.NewClient(ts.grpcAddr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// requireStatus asserts err's gRPC code and, when reason is not "", the
// reason of its ErrorInfo (in SpiceDB's authzed.com domain).
func requireStatus(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	require.Error(t, err)
	st, ok := status.FromError(err)
	require.True(t, ok, "not a status: %v", err)
	require.Equal(t, code, st.Code(), "status: %v", err)
	if reason == "" {
		return
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			require.Equal(t, reason, info.GetReason(), "status: %v", err)
			require.Equal(t, errorDomain, info.GetDomain())
			return
		}
	}
	t.Fatalf("no ErrorInfo with reason %s in %v", reason, err)
}

func mustWriteSchema(t *testing.T, c *authzed.Client, src string) *v1.ZedToken {
	t.Helper()
	resp, err := c.WriteSchema(testCtx(t), &v1.WriteSchemaRequest{Schema: src})
	require.NoError(t, err)
	return resp.GetWrittenAt()
}

// rel parses a relationship in its string form into the API's message.
func rel(t *testing.T, s string) *v1.Relationship {
	t.Helper()
	r, err := tuples.Parse(s)
	require.NoError(t, err)
	pr, err := v1conv.RelationshipToProto(r)
	require.NoError(t, err)
	return pr
}

func update(t *testing.T, op v1.RelationshipUpdate_Operation, s string) *v1.RelationshipUpdate {
	return &v1.RelationshipUpdate{Operation: op, Relationship: rel(t, s)}
}

func touch(t *testing.T, rels ...string) []*v1.RelationshipUpdate {
	var out []*v1.RelationshipUpdate
	for _, r := range rels {
		out = append(out, update(t, v1.RelationshipUpdate_OPERATION_TOUCH, r))
	}
	return out
}

func mustWrite(t *testing.T, c *authzed.Client, rels ...string) *v1.ZedToken {
	t.Helper()
	resp, err := c.WriteRelationships(testCtx(t), &v1.WriteRelationshipsRequest{Updates: touch(t, rels...)})
	require.NoError(t, err)
	return resp.GetWrittenAt()
}

func obj(typ, id string) *v1.ObjectReference {
	return &v1.ObjectReference{ObjectType: typ, ObjectId: id}
}

func subj(typ, id, rel string) *v1.SubjectReference {
	return &v1.SubjectReference{Object: obj(typ, id), OptionalRelation: rel}
}

func fully() *v1.Consistency {
	return &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}}
}

// recvAll reads a server stream to its end.
func recvAll[T any](t *testing.T, s interface{ Recv() (T, error) }) ([]T, error) {
	t.Helper()
	var out []T
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
}

func revisionToken(rev uint64) string { return tuples.Revision(rev).Token() }

// readAll reads the relationships matching f (fully consistent), as strings.
func readAll(t *testing.T, c *authzed.Client, f *v1.RelationshipFilter) []string {
	t.Helper()
	st, err := c.ReadRelationships(testCtx(t), &v1.ReadRelationshipsRequest{Consistency: fully(), RelationshipFilter: f})
	require.NoError(t, err)
	resps, err := recvAll[*v1.ReadRelationshipsResponse](t, st)
	require.NoError(t, err)
	var out []string
	for _, r := range resps {
		out = append(out, relString(t, r.GetRelationship()))
	}
	return out
}

func relString(t *testing.T, r *v1.Relationship) string {
	t.Helper()
	tr, err := relationshipFromProto(r)
	require.NoError(t, err)
	return tr.String()
}
