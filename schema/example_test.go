package schema_test

import (
	"fmt"

	"github.com/reach-authz/reach/schema"
)

func ExampleCompile() {
	src := []byte(`definition user {}

definition document {
	relation owner: user
	relation viewer: user
	permission view = viewer + owner
}
`)
	prog, diags, err := schema.Compile("docs.zed", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(diags), "diagnostics")
	view := prog.Lookup("document", "view")
	fmt.Println(view.Kind, view.Rewrite.Op, len(view.Rewrite.Children))

	_, _, err = schema.Compile("bad.zed", []byte("definition document {\n\trelation owner: usr\n}\n"))
	fmt.Println(err)
	// Output:
	// 0 diagnostics
	// permission union 2
	// bad.zed:2:18: unknown definition "usr"
}
