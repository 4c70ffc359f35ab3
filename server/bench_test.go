package server

import (
	"fmt"
	"testing"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
)

// BenchmarkCheckPermission times one CheckPermission over gRPC on loopback
// (client and server in this process), with the check cache warm: the
// cost of the API layer on top of the engine.
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
	req := func(i int) *v1.CheckPermissionRequest {
		return &v1.CheckPermissionRequest{Resource: obj("document", fmt.Sprintf("d%d", i%100)), Permission: "view", Subject: subj("user", "ana", "")}
	}
	b.Run("serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := c.CheckPermission(b.Context(), req(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, err := c.CheckPermission(b.Context(), req(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	})
}
