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

func ExampleFormat() {
	src := []byte("definition user{}\ndefinition doc {relation viewer:user;relation banned:user\n" +
		"  permission view=viewer-(banned+nil) // who reads\n}\n")
	f, diags := schema.Parse("doc.zed", src)
	if len(diags) > 0 {
		fmt.Println(diags)
		return
	}
	fmt.Print(schema.Format(f))
	// Output:
	// definition user {}
	//
	// definition doc {
	// 	relation viewer: user
	// 	relation banned: user
	// 	permission view = viewer - (banned + nil) // who reads
	// }
}

func ExampleDiagnostic() {
	src := []byte(`definition user {}

definition team {
	relation member: user
}

definition document {
	relation team: team
	permission edit = team->member
}
`)
	_, diags, err := schema.Compile("team.zed", src)
	fmt.Println("error:", err)
	for _, d := range diags {
		fmt.Println(d.Severity, d)
	}
	// Output:
	// error: <nil>
	// warning team.zed:9:20: warning: arrow `team->member` under permission "edit" references relation "member" on definition "team"; it is recommended to point to a permission (arrow-references-relation)
}
