package server

import (
	"testing"

	"github.com/authzed/authzed-go/pkg/requestmeta"
	"github.com/authzed/authzed-go/pkg/responsemeta"
	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The version sent always has build metadata, so that zed neither compares
// it with SpiceDB's releases nor calls it unreleased (see version.go).
func TestWireVersion(t *testing.T) {
	for in, want := range map[string]string{
		"":                                   "",
		"v1.2.0":                             "v1.2.0+reach",
		"1.2.0":                              "v1.2.0+reach",
		"v1.2.0-rc.1":                        "v1.2.0-rc.1+reach",
		"v1.2.3+dirty":                       "v1.2.3+dirty.reach",
		"v0.0.0-20261020120000-abcdef123456": "v0.0.0-20261020120000-abcdef123456+reach",
		"(devel)":                            "v0.0.0+reach.devel",
		"main @ 1234":                        "v0.0.0+reach.main-1234",
		"()":                                 "v0.0.0+reach",
	} {
		got := wireVersion(in)
		require.Equal(t, want, got, in)
		if got != "" {
			require.Regexp(t, semverRE, got)
		}
	}
}

// Issue 15: a client that sends io.spicedb.requestversion (zed, on every
// call) gets the server's version in the trailer io.spicedb.debug.version,
// as from SpiceDB, on unary calls and streams, once its key is accepted.
func TestServerVersionTrailer(t *testing.T) {
	ts := startServer(t, testOptions{cfg: Config{Version: "v1.4.2"}})
	mustWriteSchema(t, ts.client, testSchema)
	asking := requestmeta.AddRequestHeaders(testCtx(t), requestmeta.RequestServerVersion)
	version := func(md metadata.MD) []string { return md.Get(string(responsemeta.ServerVersion)) }

	// zed version calls ReadSchema.
	var trailer metadata.MD
	_, err := ts.client.ReadSchema(asking, &v1.ReadSchemaRequest{}, grpc.Trailer(&trailer))
	require.NoError(t, err)
	require.Equal(t, []string{"v1.4.2+reach"}, version(trailer))

	// A stream.
	st, err := ts.client.ReadRelationships(asking, &v1.ReadRelationshipsRequest{
		Consistency: fully(), RelationshipFilter: &v1.RelationshipFilter{ResourceType: "document"},
	})
	require.NoError(t, err)
	_, err = recvAll[*v1.ReadRelationshipsResponse](t, st)
	require.NoError(t, err)
	require.Equal(t, []string{"v1.4.2+reach"}, version(st.Trailer()))

	// Not asked: none.
	trailer = nil
	_, err = ts.client.ReadSchema(testCtx(t), &v1.ReadSchemaRequest{}, grpc.Trailer(&trailer))
	require.NoError(t, err)
	require.Empty(t, version(trailer))

	// Not to a client without the key.
	trailer = nil
	_, err = ts.dial(t, "wrong").ReadSchema(asking, &v1.ReadSchemaRequest{}, grpc.Trailer(&trailer))
	require.Error(t, err)
	require.Empty(t, version(trailer))

	// A server without a version reports none.
	quiet := startServer(t, testOptions{})
	trailer = nil
	_, _ = quiet.client.ReadSchema(asking, &v1.ReadSchemaRequest{}, grpc.Trailer(&trailer))
	require.Empty(t, version(trailer))
}
