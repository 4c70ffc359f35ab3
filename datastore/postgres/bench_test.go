package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/engine"
	. "github.com/reach-authz/reach/tuples"
)

// BenchmarkWrite times one Write of one TOUCH (a transaction with the head
// lock, over loopback).
func BenchmarkWrite(b *testing.B) {
	s := newTestStore(b, postgres.Options{})
	ctx := context.Background()
	us := make([][]Update, b.N)
	for i := range us {
		us[i] = updates(b, Touch, fmt.Sprintf("document:d%d#viewer@user:u%d", i%1000, i))
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Write(ctx, us[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotGet and BenchmarkSnapshotSubjects time one read through
// a snapshot (one query) of 100,000 relationships; BenchmarkCheck a check
// through the engine without its cache, at the head (HeadRevision,
// Snapshot, then the walk: user -> group -> document).
func benchData(b *testing.B) *postgres.Store {
	s := newTestStore(b, postgres.Options{})
	var in strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&in, "document:d%d#viewer@user:u%d\n", i/10, i%5000)
	}
	for g := range 100 {
		fmt.Fprintf(&in, "group:g%d#member@user:u%d\ndocument:d%d#viewer@group:g%d#member\n", g, g, g, g)
	}
	if _, err := s.Import(context.Background(), strings.NewReader(in.String()), ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkSnapshotGet(b *testing.B) {
	s := benchData(b)
	sn := snapAt(b, s)
	b.ResetTimer()
	for i := range b.N {
		if _, _, err := sn.Get("document", fmt.Sprint("d", i%10000), "viewer", "user", fmt.Sprint("u", i%5000), ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnapshotSubjects(b *testing.B) {
	s := benchData(b)
	sn := snapAt(b, s)
	b.ResetTimer()
	for i := range b.N {
		n := 0
		if err := sn.Subjects("document", fmt.Sprint("d", i%10000), "viewer", "", "", func(Relationship) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	s := benchData(b)
	e := engine.New(s, engine.Options{CacheSize: -1})
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		g := i % 100
		_, err := e.Check(ctx, engine.CheckRequest{Resource: engine.Object{Type: "document", ID: fmt.Sprint("d", g)}, Permission: "view",
			Subject: engine.Subject{Type: "user", ID: fmt.Sprint("u", g)}, Consistency: fully})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchDocs imports 10,000 documents of ten relationships each (an owner,
// a parent folder and eight viewers): 100,000 relationships of one type in
// three relations.
func benchDocs(b *testing.B) *postgres.Store {
	s := newTestStore(b, postgres.Options{})
	var in strings.Builder
	for d := range 10000 {
		fmt.Fprintf(&in, "document:d%d#owner@user:u%d\ndocument:d%d#parent@folder:f%d\n", d, d%5000, d, d%100)
		for v := range 8 {
			fmt.Fprintf(&in, "document:d%d#viewer@user:u%d\n", d, (d+v*7)%5000)
		}
	}
	if _, err := s.Import(context.Background(), strings.NewReader(in.String()), ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkReadByIDWithoutRelation times filters that name a document's id
// (or an id prefix) but no relation among 100,000 relationships of the
// type: ReadRelationships of document:d7777 (10 relationships), of
// document:d7* (11,110: a first page of 100, and 10,000 in one page) and
// of document:d* (every one of the type: a first page of 1,000), and a
// DeleteWhere of an id that has none ("delete everything of document:x",
// under the write lock; nothing deleted, so the data stay the same).
func BenchmarkReadByIDWithoutRelation(b *testing.B) {
	s := benchDocs(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name        string
		f           Filter
		limit, want int
	}{
		{"id", Filter{ResourceType: "document", ResourceID: "d7777"}, 10000, 10},
		{"prefix-page", Filter{ResourceType: "document", ResourceIDPrefix: "d7"}, 100, 100},
		{"prefix", Filter{ResourceType: "document", ResourceIDPrefix: "d7"}, 10000, 10000},
		{"prefix-all-page", Filter{ResourceType: "document", ResourceIDPrefix: "d"}, 1000, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				res, err := s.ReadRelationships(ctx, bc.f, ReadOptions{Limit: bc.limit})
				if err != nil || len(res.Relationships) != bc.want {
					b.Fatal(len(res.Relationships), err)
				}
			}
		})
	}
	b.Run("delete", func(b *testing.B) {
		f := Filter{ResourceType: "document", ResourceID: "d77777"}
		for b.Loop() {
			res, err := s.DeleteWhere(ctx, f, 0)
			if err != nil || res.Deleted != 0 {
				b.Fatal(res, err)
			}
		}
	})
}
