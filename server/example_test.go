package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/server"
	"github.com/reach-authz/reach/tuples"
)

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// Serve a store on a loopback port and ask it a check with SpiceDB's Go
// client.
func Example() {
	store, err := tuples.Open("", tuples.Options{InMemory: true, MemTableSize: 8 << 20})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	srv, err := server.New(store, engine.New(store, engine.Options{}), server.Config{
		PresharedKeys: []string{"secret"},
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Run(ctx, server.Listeners{GRPC: ln}) }()
	defer func() { stop(); <-done }()

	client, err := authzed.NewClient(ln.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer("secret")))
	if err != nil {
		panic(err)
	}
	defer client.Close()
	_, err = client.WriteSchema(ctx, &v1.WriteSchemaRequest{Schema: `
definition user {}
definition document {
	relation viewer: user
	permission view = viewer
}`})
	if err != nil {
		panic(err)
	}
	w, err := client.WriteRelationships(ctx, &v1.WriteRelationshipsRequest{Updates: []*v1.RelationshipUpdate{{
		Operation: v1.RelationshipUpdate_OPERATION_TOUCH,
		Relationship: &v1.Relationship{
			Resource: &v1.ObjectReference{ObjectType: "document", ObjectId: "q3"}, Relation: "viewer",
			Subject: &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "ana"}},
		},
	}}})
	if err != nil {
		panic(err)
	}
	resp, err := client.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_AtLeastAsFresh{AtLeastAsFresh: w.GetWrittenAt()}},
		Resource:    &v1.ObjectReference{ObjectType: "document", ObjectId: "q3"},
		Permission:  "view",
		Subject:     &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: "ana"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.GetPermissionship())
	// Output: PERMISSIONSHIP_HAS_PERMISSION
}
