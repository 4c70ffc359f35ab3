package tuples

import (
	"context"
	"fmt"
	"testing"
)

// benchStore fills an on-disk store with n documents of `per` viewers each.
func benchStore(b *testing.B, docs, per int) *Store {
	b.Helper()
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
		b.Fatal(err)
	}
	var batch []Update
	flush := func() {
		if _, err := s.write(ctx, batch, nil, true); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for d := 0; d < docs; d++ {
		for u := 0; u < per; u++ {
			batch = append(batch, Update{Op: Touch, Relationship: Relationship{
				ResourceType: "document", ResourceID: fmt.Sprintf("doc%d", d), Relation: "viewer",
				SubjectType: "user", SubjectID: fmt.Sprintf("user%d", u),
			}})
			if len(batch) == 10000 {
				flush()
			}
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return s
}

// BenchmarkGet times a direct check: one Get of a present and of a missing
// relationship among 100,000.
func BenchmarkGet(b *testing.B) {
	s := benchStore(b, 100, 1000)
	head, _ := s.HeadRevision(context.Background())
	sn, err := s.Snapshot(context.Background(), head)
	if err != nil {
		b.Fatal(err)
	}
	defer sn.Close()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%d", i)
	}
	b.Run("present", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok, err := sn.Get("document", "doc7", "viewer", "user", ids[i%1000], ""); !ok || err != nil {
				b.Fatal("not found", err)
			}
		}
	})
	b.Run("missing", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, ok, err := sn.Get("document", "doc7", "viewer", "user", "nobody"+ids[i%1000], ""); ok || err != nil {
				b.Fatal("found", err)
			}
		}
	})
}

// BenchmarkSubjectsScan1000 times a forward scan of the 1,000 subjects of one
// resource relation.
func BenchmarkSubjectsScan1000(b *testing.B) {
	s := benchStore(b, 20, 1000)
	head, _ := s.HeadRevision(context.Background())
	for b.Loop() {
		sn, err := s.Snapshot(context.Background(), head)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		if err := sn.Subjects("document", "doc3", "viewer", "user", "", func(Relationship) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		sn.Close()
		if n != 1000 {
			b.Fatalf("scanned %d subjects", n)
		}
	}
}

// BenchmarkReadByIDWithoutRelation times ReadRelationships of one document
// by id, no relation named ("everything of document:doc7"), among 100,000
// relationships of the type: the scan jumps from relation to relation
// instead of reading the type whole.
func BenchmarkReadByIDWithoutRelation(b *testing.B) {
	s := benchStore(b, 100, 1000)
	ctx := context.Background()
	for _, f := range []Filter{{ResourceType: "document", ResourceID: "doc7"}, {ResourceType: "document", ResourceIDPrefix: "doc7"}} {
		name := "id"
		if f.ResourceIDPrefix != "" {
			name = "prefix"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				res, err := s.ReadRelationships(ctx, f, ReadOptions{Limit: 10000})
				if err != nil || len(res.Relationships) == 0 {
					b.Fatal(len(res.Relationships), err)
				}
			}
		})
	}
}
