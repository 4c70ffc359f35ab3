package engine_test

import (
	"context"
	"fmt"
	"os"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// exampleStore is an in-memory store with a small document model.
func exampleStore() *tuples.Store {
	st, err := tuples.Open("", tuples.Options{InMemory: true})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_, _, err = st.WriteSchema(ctx, "docs.zed", []byte(`
definition user {}

definition group {
	relation member: user | group#member
}

definition document {
	relation reader: user | user:* | group#member
	relation banned: user
	permission view = reader - banned
}`))
	if err != nil {
		panic(err)
	}
	var ups []tuples.Update
	for _, s := range []string{
		"group:eng#member@user:ana",
		"document:q3#reader@group:eng#member",
		"document:pub#reader@user:*",
		"document:pub#banned@user:bob",
	} {
		r, err := tuples.Parse(s)
		if err != nil {
			panic(err)
		}
		ups = append(ups, tuples.Update{Op: tuples.Touch, Relationship: r})
	}
	if _, err := st.Write(ctx, ups); err != nil {
		panic(err)
	}
	return st
}

func ExampleEngine_Check() {
	st := exampleStore()
	defer st.Close()
	e := engine.New(st, engine.Options{})
	for _, s := range []string{"user:ana", "user:bob"} {
		subject, _ := engine.ParseSubject(s)
		res, err := e.Check(context.Background(), engine.CheckRequest{
			Resource:    engine.Object{Type: "document", ID: "q3"},
			Permission:  "view",
			Subject:     subject,
			Consistency: engine.Consistency{Mode: engine.FullyConsistent},
		})
		if err != nil {
			panic(err)
		}
		fmt.Println(s, res.Permissionship)
	}
	// Output:
	// user:ana allowed
	// user:bob denied
}

func ExampleEngine_Check_explain() {
	st := exampleStore()
	defer st.Close()
	e := engine.New(st, engine.Options{})
	res, err := e.Check(context.Background(), engine.CheckRequest{
		Resource:   engine.Object{Type: "document", ID: "q3"},
		Permission: "view",
		Subject:    engine.Subject{Type: "user", ID: "ana"},
		Explain:    true,
	})
	if err != nil {
		panic(err)
	}
	res.Explanation.WriteTree(os.Stdout)
	// Output:
	// allowed     document:q3#view (permission)
	//   allowed     exclusion
	//     allowed     document:q3#reader (relation)
	//       allowed     document:q3#reader@group:eng#member
	//         allowed     group:eng#member (relation)
	//           allowed     group:eng#member@user:ana
	//     denied      document:q3#banned (relation)
	//       denied      no relationship document:q3#banned@user:ana
}

func ExampleEngine_LookupResources() {
	st := exampleStore()
	defer st.Close()
	e := engine.New(st, engine.Options{})
	_, err := e.LookupResources(context.Background(), engine.LookupResourcesRequest{
		ResourceType: "document",
		Permission:   "view",
		Subject:      engine.Subject{Type: "user", ID: "ana"},
	}, func(r engine.LookupResult) bool {
		fmt.Println(r.ResourceID, r.Permissionship)
		return true
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// pub allowed
	// q3 allowed
}

func ExampleEngine_LookupSubjects() {
	st := exampleStore()
	defer st.Close()
	e := engine.New(st, engine.Options{})
	found, _, err := e.LookupSubjects(context.Background(), engine.LookupSubjectsRequest{
		Resource:    engine.Object{Type: "document", ID: "pub"},
		Permission:  "view",
		SubjectType: "user",
	})
	if err != nil {
		panic(err)
	}
	for _, f := range found {
		fmt.Println(f.ID, "except", f.Excluded)
	}
	// Output:
	// * except [bob]
}

// LookupSubjectsStream gives each subject as the walk finds it; the
// wildcard, with the subjects it does not cover, comes last.
func ExampleEngine_LookupSubjectsStream() {
	st := exampleStore()
	defer st.Close()
	e := engine.New(st, engine.Options{})
	_, err := e.LookupSubjectsStream(context.Background(), engine.LookupSubjectsRequest{
		Resource:    engine.Object{Type: "document", ID: "q3"},
		Permission:  "view",
		SubjectType: "user",
	}, func(f engine.FoundSubject) bool {
		fmt.Println(f.ID, f.Permissionship)
		return true // false stops the lookup
	})
	if err != nil {
		panic(err)
	}
	// Output:
	// ana allowed
}
