package server

import (
	"fmt"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	authzed "github.com/authzed/authzed-go/v1"
)

// BenchmarkCheckPermission times one CheckPermission over gRPC on loopback
// (client and server in this process), with the check cache warm: the
// cost of the API layer on top of the engine, both ends of the call and
// the transport included. The client is reach's own (ClientOptions, as
// `reach --endpoint`), or authzed-go's with gRPC's defaults and the key as
// PerRPCCredentials, as most programs call SpiceDB. The requests are made
// before the clock starts.
func BenchmarkCheckPermission(b *testing.B) {
	ts := startServer(b, testOptions{})
	c := ts.client
	if _, err := c.WriteSchema(b.Context(), &v1.WriteSchemaRequest{Schema: testSchema}); err != nil {
		b.Fatal(err)
	}
	var rels []*v1.RelationshipUpdate
	for i := range 100 {
		rels = append(rels, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: &v1.Relationship{
			Resource: obj("document", fmt.Sprintf("d%d", i)), Relation: "viewer", Subject: subj("group", "eng", "member"),
		}})
	}
	rels = append(rels, &v1.RelationshipUpdate{Operation: v1.RelationshipUpdate_OPERATION_TOUCH, Relationship: &v1.Relationship{
		Resource: obj("group", "eng"), Relation: "member", Subject: subj("user", "ana", ""),
	}})
	if _, err := c.WriteRelationships(b.Context(), &v1.WriteRelationshipsRequest{Updates: rels}); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*v1.CheckPermissionRequest, 100)
	for i := range reqs {
		reqs[i] = &v1.CheckPermissionRequest{Resource: obj("document", fmt.Sprintf("d%d", i)), Permission: "view", Subject: subj("user", "ana", "")}
	}
	for _, cl := range []struct {
		name   string
		client *authzed.Client
	}{{"reach", ts.dialReach(b, testKey)}, {"authzed-go", c}} {
		c := cl.client
		b.Run("client="+cl.name+"/serial", func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := c.CheckPermission(b.Context(), reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run("client="+cl.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, err := c.CheckPermission(b.Context(), reqs[i%len(reqs)]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
