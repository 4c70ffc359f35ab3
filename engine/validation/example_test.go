package validation_test

import (
	"context"
	"fmt"

	"github.com/reach-authz/reach/engine/validation"
)

func ExampleRun() {
	src := `schema: |-
  definition user {}

  definition document {
    relation reader: user
    permission view = reader
  }
relationships: |-
  document:readme#reader@user:ann
assertions:
  assertTrue:
    - document:readme#view@user:ann
  assertFalse:
    - document:readme#view@user:bob
    - document:readme#view@user:ann
validation:
  document:readme#view:
    - "[user:ann] is <document:readme#reader>"
`
	f, err := validation.Parse("example.yaml", []byte(src), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := validation.Run(context.Background(), f, validation.DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	passed, failed := r.Counts()
	fmt.Printf("%s: %d passed, %d failed, %d expected relations\n", r.Status, passed, failed, r.ExpectedRelations)
	for _, a := range r.Failures() {
		fmt.Printf("line %d: %s %s: got %s\n", a.Line, a.Kind, a.Text, a.Got)
	}
	// Output:
	// failed: 2 passed, 1 failed, 1 expected relations
	// line 15: assertFalse document:readme#view@user:ann: got allowed
}
