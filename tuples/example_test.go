package tuples_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/reach-authz/reach/tuples"
)

const exampleSchema = `
definition user {}

definition group {
  relation member: user
}

definition document {
  relation viewer: user | group#member
}
`

// exampleStore opens an in-memory store with exampleSchema.
func exampleStore() *tuples.Store {
	s, err := tuples.Open("", tuples.Options{InMemory: true, MemTableSize: 8 << 20})
	if err != nil {
		panic(err)
	}
	if _, _, err := s.WriteSchema(context.Background(), "docs.zed", []byte(exampleSchema)); err != nil {
		panic(err)
	}
	return s
}

func ExampleParse() {
	r, err := tuples.Parse("document:q3#viewer@group:eng#member")
	if err != nil {
		panic(err)
	}
	fmt.Println(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation)

	_, err = tuples.Parse("document:q3#viewer@user:a na")
	fmt.Println(err)
	// Output:
	// document q3 viewer group eng member
	// invalid relationship "document:q3#viewer@user:a na": column 26: subject id: an id may hold only a-z, A-Z, 0-9 and /_|-=+, found ' '
}

func ExampleParseFilter() {
	f, err := tuples.ParseFilter("document:q*#viewer@group#member")
	if err != nil {
		panic(err)
	}
	fmt.Println(f)
	r, _ := tuples.Parse("document:q3#viewer@group:eng#member")
	fmt.Println(f.Matches(r))
	// Output:
	// {resource_type=document resource_id_prefix=q relation=viewer subject_type=group subject_relation=member}
	// true
}

func ExampleStore_Import() {
	s := exampleStore()
	defer s.Close()
	ctx := context.Background()
	in := `# the viewers of q3
document:q3#viewer@user:ana
document:q3#viewer@group:eng#member
group:eng#member@user:bo
`
	res, err := s.Import(ctx, strings.NewReader(in), tuples.ImportOptions{Name: "viewers.txt"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("imported %d relationships from %d lines in %d batch\n", res.Imported, res.Lines, res.Batches)
	if _, _, err := s.Export(ctx, os.Stdout, tuples.ExportOptions{}); err != nil {
		panic(err)
	}

	// A bad line stops the import; nothing of its batch is written.
	_, err = s.Import(ctx, strings.NewReader("document:q4#viewer@user:cy\ndocument:q4#editor@user:cy\n"), tuples.ImportOptions{Name: "more.txt"})
	fmt.Println(err)
	// Output:
	// imported 3 relationships from 4 lines in 1 batch
	// document:q3#viewer@user:ana
	// document:q3#viewer@group:eng#member
	// group:eng#member@user:bo
	// more.txt:2: relationship document:q4#editor@user:cy: relation `editor` not found on `document`
}

func ExampleStore_ReadRelationships() {
	s := exampleStore()
	defer s.Close()
	ctx := context.Background()
	var updates []tuples.Update
	for _, u := range []string{"ana", "bo", "cy", "dee", "eve"} {
		r, _ := tuples.Parse("document:q3#viewer@user:" + u)
		updates = append(updates, tuples.Update{Op: tuples.Touch, Relationship: r})
	}
	if _, err := s.Write(ctx, updates); err != nil {
		panic(err)
	}
	f, _ := tuples.ParseFilter("document:q3#viewer")
	opts := tuples.ReadOptions{Limit: 2}
	for {
		page, err := s.ReadRelationships(ctx, f, opts)
		if err != nil {
			panic(err)
		}
		fmt.Println(page.Relationships)
		if page.Cursor == "" {
			break
		}
		opts.Cursor = page.Cursor
	}
	// Output:
	// [document:q3#viewer@user:ana document:q3#viewer@user:bo]
	// [document:q3#viewer@user:cy document:q3#viewer@user:dee]
	// [document:q3#viewer@user:eve]
}

func ExampleStore_Watch() {
	s := exampleStore()
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start, _ := s.HeadRevision(context.Background())
	for _, u := range []tuples.Update{
		{Op: tuples.Create, Relationship: mustParse("document:q3#viewer@user:ana")},
		{Op: tuples.Delete, Relationship: mustParse("document:q3#viewer@user:ana")},
	} {
		if _, err := s.Write(ctx, []tuples.Update{u}); err != nil {
			panic(err)
		}
	}
	seen := 0
	err := s.Watch(ctx, start, func(cs tuples.ChangeSet) error {
		for _, c := range cs.Changes {
			fmt.Println(cs.Revision-start, c.Op, c.Relationship)
		}
		if seen++; seen == 2 {
			cancel()
		}
		return nil
	})
	fmt.Println(errors.Is(err, context.Canceled))
	// Output:
	// 1 TOUCH document:q3#viewer@user:ana
	// 2 DELETE document:q3#viewer@user:ana
	// true
}

func mustParse(s string) tuples.Relationship {
	r, err := tuples.Parse(s)
	if err != nil {
		panic(err)
	}
	return r
}
