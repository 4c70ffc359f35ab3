package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/internal/pgtest"
	"github.com/reach-authz/reach/tuples"
)

// TestFilterStatementsDoNotReadTheType checks that what a statement of a
// filter reads does not grow with the relationships the filter does not
// match: each statement is run under EXPLAIN (ANALYZE, BUFFERS) among 200
// other documents and again among 20,000, and the buffers it touched must
// stay about the same (a statement that steps through the type reads 100
// times as many). The documents q0-q9, of three relations, are the ones
// asked for; pages are of 4 rows.
func TestFilterStatementsDoNotReadTheType(t *testing.T) {
	ctx := context.Background()
	s := newObjectsStore(t)
	docs := func(prefix string, from, to int) {
		t.Helper()
		var in strings.Builder
		for d := from; d < to; d++ {
			fmt.Fprintf(&in, "document:%[1]s%[2]d#owner@user:u%[2]d\ndocument:%[1]s%[2]d#parent@folder:f%[2]d\n", prefix, d)
			for v := range 3 {
				fmt.Fprintf(&in, "document:%s%d#viewer@user:v%d\n", prefix, d, v)
			}
		}
		if _, err := s.Import(ctx, strings.NewReader(in.String()), tuples.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		// The plans of a table whose statistics are up to date.
		if _, err := s.pool.Exec(ctx, `ANALYZE reach_relationships`); err != nil {
			t.Fatal(err)
		}
	}

	// buffers runs b under EXPLAIN (ANALYZE, BUFFERS), in a transaction
	// rolled back (a delete deletes), and returns the shared buffers the
	// statement touched and the rows it returned.
	buffers := func(b *sqlb) (int64, int64) {
		t.Helper()
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		var out []byte
		if err := tx.QueryRow(ctx, `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) `+b.String(), b.args...).Scan(&out); err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		var plans []struct {
			Plan struct {
				Rows int64 `json:"Actual Rows"`
				Hit  int64 `json:"Shared Hit Blocks"`
				Read int64 `json:"Shared Read Blocks"`
			}
		}
		if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("%v: %s", err, out)
		}
		return plans[0].Plan.Hit + plans[0].Plan.Read, plans[0].Plan.Rows
	}
	now := time.Now()
	page := func(f tuples.Filter, after []string) func() *sqlb {
		return func() *sqlb {
			head, err := s.HeadRevision(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return readSQL(f, int64(head), now, forwardOrder, after, 4)
		}
	}
	id := tuples.Filter{ResourceType: "document", ResourceID: "q3"}
	prefix := tuples.Filter{ResourceType: "document", ResourceIDPrefix: "q"}
	subject := tuples.Filter{ResourceType: "document", ResourceIDPrefix: "q", Subject: &tuples.SubjectFilter{Type: "user", ID: "v1"}}
	statements := []struct {
		name string
		sql  func() *sqlb
		rows int64 // rows the statement returns
	}{
		{"read id", page(id, nil), 4},
		{"read id after a cursor", page(id, []string{"document", "owner", "q3", "user", "", "u3"}), 4},
		{"read id after a cursor in its last relation", page(id, []string{"document", "viewer", "q3", "user", "", "v0"}), 2},
		{"read prefix", page(prefix, nil), 4},
		{"read prefix after a cursor", page(prefix, []string{"document", "parent", "q9", "folder", "", "f9"}), 4},
		{"read prefix and subject", page(subject, nil), 4},
		{"read prefix and subject after a cursor", page(subject, []string{"document", "viewer", "q1", "user", "", "v1"}), 4},
		{"delete id", func() *sqlb { return deleteSQL(id, 1<<40, 20000) }, 5},
		{"delete prefix", func() *sqlb { return deleteSQL(prefix, 1<<40, 7) }, 7},
		{"precondition id", func() *sqlb { return existsSQL(id, now) }, 1},
		{"precondition prefix", func() *sqlb { return existsSQL(prefix, now) }, 1},
		{"precondition not met", func() *sqlb { return existsSQL(tuples.Filter{ResourceType: "document", ResourceID: "q33"}, now) }, 1},
		{"delete's check for more", func() *sqlb { return existsSQL(prefix, time.Time{}) }, 1},
	}

	docs("q", 0, 10)
	docs("d", 0, 200)
	small := make([]int64, len(statements))
	for i, st := range statements {
		n, rows := buffers(st.sql())
		if rows != st.rows {
			t.Fatalf("%s: %d rows, want %d", st.name, rows, st.rows)
		}
		small[i] = n
	}
	docs("d", 200, 20000)
	for i, st := range statements {
		n, _ := buffers(st.sql())
		t.Logf("%s: %d buffers among 200 other documents, %d among 20,000", st.name, small[i], n)
		// The index grows a level: a few more pages per descent.
		if n > 2*small[i]+10 {
			t.Errorf("%s reads %d buffers among 20,000 other documents, %d among 200: it reads the type", st.name, n, small[i])
		}
	}
}

// TestByRelationReadsEveryStoredRelation checks that a filter read
// relation by relation finds the relations in the rows, not in the schema:
// rows of relations the schema does not have (put there behind the
// store's back: its writes and schema changes never leave such rows) are
// read, paged through and deleted like the others, in key order.
func TestByRelationReadsEveryStoredRelation(t *testing.T) {
	ctx := context.Background()
	s := newObjectsStore(t)
	in := "document:x#owner@user:a\ndocument:x#viewer@user:b\ndocument:x#viewer@user:c\ndocument:x1#parent@folder:f\ndocument:y#viewer@user:b\n"
	if _, err := s.Import(ctx, strings.NewReader(in), tuples.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	head, err := s.HeadRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"aaa", "ppp", "zzz"} {
		if _, err := s.pool.Exec(ctx, `INSERT INTO reach_relationships (resource_type, resource_id, relation, subject_type, subject_id, subject_relation, created_rev)
			VALUES ('document', 'x', $1, 'user', 'g', '', $2), ('document', 'y', $1, 'user', 'g', '', $2)`, rel, int64(head)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]string{
		"document:x": {"document:x#aaa@user:g", "document:x#owner@user:a", "document:x#ppp@user:g",
			"document:x#viewer@user:b", "document:x#viewer@user:c", "document:x#zzz@user:g"},
		"document:x*": {"document:x#aaa@user:g", "document:x#owner@user:a", "document:x1#parent@folder:f", "document:x#ppp@user:g",
			"document:x#viewer@user:b", "document:x#viewer@user:c", "document:x#zzz@user:g"},
	}
	for fs, want := range want {
		f, err := tuples.ParseFilter(fs)
		if err != nil {
			t.Fatal(err)
		}
		for _, limit := range []int{0, 1, 2, 4} {
			var got []string
			opts := tuples.ReadOptions{Limit: limit}
			for {
				res, err := s.ReadRelationships(ctx, f, opts)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res.Relationships {
					got = append(got, r.String())
				}
				if res.Cursor == "" {
					break
				}
				opts.Cursor = res.Cursor
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s, pages of %d:\n%s\nwant\n%s", fs, limit, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	// Only a relation the schema lacks is left of document:y: the
	// precondition finds it, the delete deletes it.
	r, err := tuples.Parse("document:y#viewer@user:b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(ctx, []tuples.Update{{Op: tuples.Delete, Relationship: r}}); err != nil {
		t.Fatal(err)
	}
	y := tuples.Filter{ResourceType: "document", ResourceID: "y"}
	res, err := s.DeleteWhere(ctx, y, 2, tuples.Precondition{MustMatch: true, Filter: y})
	if err != nil || res.Deleted != 2 || res.Complete {
		t.Fatalf("delete: %+v, %v", res, err)
	}
	if res, err = s.DeleteWhere(ctx, y, 0); err != nil || res.Deleted != 1 || !res.Complete {
		t.Fatalf("delete the rest: %+v, %v", res, err)
	}
	if _, err := s.Write(ctx, nil, tuples.Precondition{MustMatch: true, Filter: y}); !errors.Is(err, tuples.ErrPreconditionFailed) {
		t.Fatalf("precondition on a deleted object: %v", err)
	}
}

// newObjectsStore opens a store on a new migrated database holding
// objectsSchema, without garbage collection.
func newObjectsStore(t *testing.T) *Store {
	t.Helper()
	uri := pgtest.NewDatabase(t)
	ctx := context.Background()
	if _, _, err := Migrate(ctx, uri); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, uri, Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, _, err := s.WriteSchema(ctx, "objects.zed", []byte(objectsSchema)); err != nil {
		t.Fatal(err)
	}
	return s
}
