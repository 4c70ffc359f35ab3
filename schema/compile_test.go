package schema

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

// sexpr renders a rewrite tree compactly for table tests.
func sexpr(r *Rewrite) string {
	switch r.Op {
	case OpNil:
		return "nil"
	case OpComputed:
		return r.Relation
	case OpArrow:
		return r.Relation + "->" + r.Target
	case OpArrowAll:
		return r.Relation + ".all(" + r.Target + ")"
	}
	var parts []string
	for _, c := range r.Children {
		parts = append(parts, sexpr(c))
	}
	return "(" + r.Op.String() + " " + strings.Join(parts, " ") + ")"
}

// TestCompiledTrees checks SpiceDB's precedence (`+` tightest, then `&`,
// then `-`), left-associative exclusion and n-ary flattening.
func TestCompiledTrees(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"a", "a"},
		{"nil", "nil"},
		{"a + b", "(union a b)"},
		{"a + b + c", "(union a b c)"},
		{"a + (b + c)", "(union a b c)"},
		{"a & b & c", "(intersection a b c)"},
		{"a - b + c", "(exclusion a (union b c))"},
		{"a & b + c", "(intersection a (union b c))"},
		{"a + b & c", "(intersection (union a b) c)"},
		{"a - b & c", "(exclusion a (intersection b c))"},
		{"a & b - c", "(exclusion (intersection a b) c)"},
		{"a - b - c", "(exclusion (exclusion a b) c)"},
		{"a - (b - c)", "(exclusion a (exclusion b c))"},
		{"(a - b) + c", "(union (exclusion a b) c)"},
		{"(a + b) & (b + c)", "(intersection (union a b) (union b c))"},
		{"p->a + b", "(union p->a b)"},
		{"p.any(a) & p.all(b)", "(intersection p->a p.all(b))"},
		{"a + nil", "(union a nil)"},
		{"nil - a", "(exclusion nil a)"},
		{"a + b - c & p->a + b", "(exclusion (union a b) (intersection c (union p->a b)))"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			long := regexp.MustCompile(`\b([abcp])\b`)
			expr := long.ReplaceAllString(tt.expr, "$1$1$1")
			want := long.ReplaceAllString(tt.want, "$1$1$1")
			src := "definition user {}\ndefinition doc {\n relation aaa: user\n relation bbb: user\n relation ccc: user\n relation ppp: doc\n permission xxx = " + expr + "\n}\n"
			prog, _, err := Compile("t.zed", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			got := sexpr(prog.Lookup("doc", "xxx").Rewrite)
			if got != want {
				t.Errorf("%s compiled to %s, want %s", expr, got, want)
			}
		})
	}
}

func TestCompileProgram(t *testing.T) {
	src := `use expiration

/** a person */
definition user {}

caveat only_on(day string, days list<string>) {
	day in days
}

definition org/group {
	relation member: user | org/group#member | user with only_on | user with only_on and expiration | user with expiration
	relation banned: user:*
}
`
	prog, diags, err := Compile("g.zed", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 0 {
		t.Errorf("unexpected diagnostics %v", diags)
	}
	if !prog.UsesExpiration() {
		t.Error("UsesExpiration false")
	}
	if d := prog.Definition("user"); d == nil || d.Doc != "a person" {
		t.Errorf("user doc = %+v", d)
	}
	rel := prog.Lookup("org/group", "member")
	if rel == nil || rel.Kind != KindRelation || len(rel.Allowed) != 5 {
		t.Fatalf("member = %+v", rel)
	}
	want := []AllowedType{
		{Type: "user"},
		{Type: "org/group", Relation: "member"},
		{Type: "user", Caveat: "only_on"},
		{Type: "user", Caveat: "only_on", Expiration: true},
		{Type: "user", Expiration: true},
	}
	for i, w := range want {
		got := rel.Allowed[i]
		got.Pos = Position{}
		if got != w {
			t.Errorf("allowed[%d] = %+v, want %+v", i, got, w)
		}
	}
	if !rel.Allows("org/group", "member", false) || rel.Allows("org/group", "", false) {
		t.Error("Allows wrong")
	}
	cv := prog.Caveat("only_on")
	if cv == nil || cv.Expr != "day in days" || len(cv.Params) != 2 || cv.Params[1].Type != "list<string>" {
		t.Errorf("caveat = %+v", cv)
	}
	if p := rel.Allowed[1].Pos; p.Line != 11 || p.Column != 26 || p.File != "g.zed" {
		t.Errorf("position = %+v", p)
	}
}

func TestCompileErrorList(t *testing.T) {
	src := "definition doc {\n relation viewer: usr\n permission view = viewr\n}\n"
	prog, diags, err := Compile("bad.zed", []byte(src))
	if prog != nil {
		t.Error("program returned with errors")
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 2 || len(diags) != 2 {
		t.Fatalf("err = %v, diags = %v", err, diags)
	}
	want := "bad.zed:2:19: unknown definition \"usr\"\nbad.zed:3:20: definition doc has no relation or permission \"viewr\" (did you mean \"viewer\"?)"
	if err.Error() != want {
		t.Errorf("error text\n%s\nwant\n%s", err, want)
	}
}

func TestHashIgnoresLayout(t *testing.T) {
	a := "definition user {}\ndefinition doc {\n relation viewer: user\n permission view = viewer + viewer\n}\n"
	b := "// comment\ndefinition user {\n}\n\n\ndefinition doc { relation viewer: user; permission view = (viewer) + viewer;\n}"
	c := "definition user {}\ndefinition doc {\n relation viewer: user\n permission view = viewer & viewer\n}\n"
	pa, _, err := Compile("a", []byte(a))
	if err != nil {
		t.Fatal(err)
	}
	pb, _, err := Compile("b", []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	pc, _, err := Compile("c", []byte(c))
	if err != nil {
		t.Fatal(err)
	}
	if pa.Hash() != pb.Hash() {
		t.Errorf("layout changed the hash")
	}
	if pa.Hash() == pc.Hash() {
		t.Errorf("a different rule kept the hash")
	}
}
