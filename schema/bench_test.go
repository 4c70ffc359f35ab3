package schema

import (
	"fmt"
	"strings"
	"testing"
)

// generateSchema returns a valid schema of about lines lines, shaped like
// the seed products: organisations, nested groups, folders and documents
// with relations, unions, intersections, exclusions, arrows, wildcards,
// caveats and comments.
func generateSchema(lines int) string {
	var b strings.Builder
	n := 0
	emit := func(format string, args ...any) {
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
		n++
	}
	emit("use expiration")
	emit("")
	emit("/** user is a person who signs in. */")
	emit("definition user {}")
	emit("")
	emit("caveat in_hours(hour int, open int, close int) {")
	emit("\thour >= open && hour < close")
	emit("}")
	for i := 0; n < lines; i++ {
		emit("")
		emit("// Module %d: an organisation, its groups and its resources.", i)
		emit("definition org%d/organization {", i)
		emit("\trelation admin: user")
		emit("\trelation member: user | user with in_hours | org%d/group#member", i)
		emit("\tpermission administer = admin")
		emit("\tpermission read = member + administer")
		emit("}")
		emit("")
		emit("definition org%d/group {", i)
		emit("\trelation org: org%d/organization", i)
		emit("\trelation member: user | user with expiration | org%d/group#member", i)
		emit("\trelation manager: user")
		emit("\tpermission membership = member + manager + org->administer")
		emit("}")
		emit("")
		emit("definition org%d/folder {", i)
		emit("\trelation org: org%d/organization", i)
		emit("\trelation parent: org%d/folder", i)
		emit("\trelation viewer: user | org%d/group#member | user:*", i)
		emit("\trelation editor: user | org%d/group#member", i)
		emit("\trelation banned: user")
		emit("\tpermission edit = (editor + parent->edit + org->administer) - banned")
		emit("\tpermission view = (viewer + edit + parent->view) - banned")
		emit("}")
		emit("")
		emit("definition org%d/document {", i)
		emit("\trelation folder: org%d/folder", i)
		emit("\trelation owner: user")
		emit("\trelation reader: user | user:* | org%d/group#member with in_hours", i)
		emit("\trelation approver: org%d/group", i)
		emit("\tpermission edit = owner + folder->edit")
		emit("\tpermission view = reader + edit + folder->view")
		emit("\tpermission approve = approver.all(membership) & view")
		emit("\tpermission share = (edit & folder.any(view)) - nil")
		emit("}")
	}
	return b.String()
}

func TestGeneratedSchemaCompiles(t *testing.T) {
	src := generateSchema(2000)
	if got := strings.Count(src, "\n"); got < 2000 || got > 2050 {
		t.Fatalf("%d lines", got)
	}
	prog, diags, err := Compile("gen.zed", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 0 {
		t.Errorf("%d diagnostics, first %s", len(diags), diags[0])
	}
	if len(prog.Definitions()) < 200 {
		t.Errorf("%d definitions", len(prog.Definitions()))
	}
}

// BenchmarkCompile2000Lines parses, checks and compiles a generated
// 2,000-line schema (aim: under 20 ms per op).
func BenchmarkCompile2000Lines(b *testing.B) {
	src := []byte(generateSchema(2000))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile("gen.zed", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFormat2000Lines prints the same schema in canonical form.
func BenchmarkFormat2000Lines(b *testing.B) {
	src := []byte(generateSchema(2000))
	f, diags := Parse("gen.zed", src)
	if len(diags) > 0 {
		b.Fatal(diags)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		_ = Format(f)
	}
}
