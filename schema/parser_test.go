package schema

import (
	"strings"
	"testing"
)

// TestStatementEndings follows SpiceDB's lexer (pkg/schemadsl/lexer,
// syntheticPredecessors): a line break after a name, a keyword, `}`, `)` or
// `*` becomes a statement terminator; after any other token (an operator,
// `:`, `|`, `=`, `(`, `->`, `...`) it is ignored. Its parser
// (consumeDefinition) then requires a terminator after every relation and
// permission, so `}` alone does not end one.
func TestStatementEndings(t *testing.T) {
	tests := []struct {
		name, members string
		ok            bool
	}{
		{"line break after a name", "relation aaa: user\nrelation bbb: user\n", true},
		{"semicolons on one line", "relation aaa: user; relation bbb: user;\n", true},
		{"semicolon then line break", "relation aaa: user;\nrelation bbb: user\n", true},
		{"line break after nil", "relation aaa: user\npermission ppp = nil\n", true},
		{"line break after )", "relation aaa: user\nrelation bbb: user\npermission ppp = (aaa + bbb)\n", true},
		{"line break after *", "relation aaa: user:*\nrelation bbb: user\n", true},
		{"line break after a caveat name", "relation aaa: user with cav\nrelation bbb: user\n", true},
		{"line break after +", "relation aaa: user\nrelation bbb: user\npermission ppp = aaa +\nbbb\n", true},
		{"line break after &", "relation aaa: user\nrelation bbb: user\npermission ppp = aaa &\nbbb\n", true},
		{"line break after -", "relation aaa: user\nrelation bbb: user\npermission ppp = aaa -\nbbb\n", true},
		{"line break after (", "relation aaa: user\npermission ppp = (\naaa)\n", true},
		{"line break after =", "relation aaa: user\npermission ppp =\naaa\n", true},
		{"line break after :", "relation aaa:\nuser\n", true},
		{"line break after |", "relation aaa: user |\nuser:*\n", true},
		{"line break after ->", "relation aaa: doc\npermission ppp = aaa->\nppp\n", true},
		{"line break after #", "relation aaa: doc#\nppp\npermission ppp = nil\n", true},
		{"line break after with (a keyword)", "relation aaa: user with\ncav\n", false},
		{"comment before the line break", "relation aaa: user // c\nrelation bbb: user /* d */\n", true},
		{"CRLF", "relation aaa: user\r\nrelation bbb: user\r\n", true},
		{"lone CR", "relation aaa: user\rrelation bbb: user\r", true},
		{"brace right after a relation", "relation aaa: user }\n{\n", false},
		{"two relations on one line", "relation aaa: user relation bbb: user\n", false},
		{"line break after ...", "relation aaa: user#...\nrelation bbb: user\n", false},
		{"operator at the start of a line", "relation aaa: user\nrelation bbb: user\npermission ppp = aaa\n+ bbb\n", false},
		{"block comment does not end a statement", "relation aaa: user /*\n*/ relation bbb: user\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "caveat cav(x int) { x > 1 }\ndefinition user {}\ndefinition doc {\n" + tt.members + "}\n"
			_, diags := Parse("t.zed", []byte(src))
			if tt.ok && len(diags) > 0 {
				t.Errorf("unexpected errors:\n%s", diagText(diags))
			}
			if !tt.ok && len(diags) == 0 {
				t.Errorf("accepted, want a syntax error")
			}
		})
	}
}

// TestParsePrecedence checks the parse tree directly: SpiceDB's parser
// (ComputeExpressionOperators) builds `-` loosest, then `&`, then `+`, each
// left-associative, so `a - b + c` is `a - (b + c)`.
func TestParsePrecedence(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"a - b + c", "(a - (b + c))"},
		{"a + b - c", "((a + b) - c)"},
		{"a & b + c", "(a & (b + c))"},
		{"a - b & c", "(a - (b & c))"},
		{"a - b - c", "((a - b) - c)"},
		{"a + b + c", "((a + b) + c)"},
		{"(a - b) + c", "((a - b) + c)"},
		{"a->b + c.any(d) & e.all(f)", "((arrow[0](a, b) + arrow[1](c, d)) & arrow[2](e, f))"},
		{"nil + a", "(nil + a)"},
		{"a->b->c", "arrow[0](arrow[0](a, b), c)"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			f, diags := Parse("", []byte("definition doc {\npermission ppp = "+tt.expr+"\n}\n"))
			if len(diags) > 0 {
				t.Fatalf("errors:\n%s", diagText(diags))
			}
			got := dumpExpr(f.Decls[0].(*DefinitionDecl).Members[0].(*PermissionDecl).Expr)
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			// The printer keeps the structure with the fewest parentheses.
			f2, _ := Parse("", []byte(Format(f)))
			if again := dumpExpr(f2.Decls[0].(*DefinitionDecl).Members[0].(*PermissionDecl).Expr); again != got {
				t.Errorf("after formatting: %s, want %s\n%s", again, got, Format(f))
			}
		})
	}
}

// TestParseKeepsDocAndPositions checks doc comments (the comment group
// right above a node), positions and the caveat's text and parameters.
func TestParseKeepsDocAndPositions(t *testing.T) {
	src := "// not a doc: a blank line follows\n\n/** a person\n * who logs in */\ndefinition user {}\n\n" +
		"caveat org/in_hours(hour int, allowed list<map<int>>) {\n  hour >= 9 &&\n  hour < 17 && size(allowed) > 0\n}\n\n" +
		"definition doc {\n\t// who may read\n\t// (two lines)\n\trelation viewer: user with org/in_hours\n}\n"
	f, diags := Parse("d.zed", []byte(src))
	if len(diags) > 0 {
		t.Fatalf("errors:\n%s", diagText(diags))
	}
	user := f.Decls[0].(*DefinitionDecl)
	if user.Doc != "a person\nwho logs in" {
		t.Errorf("user doc %q", user.Doc)
	}
	if user.NamePos.String() != "d.zed:5:12" {
		t.Errorf("user position %s", user.NamePos)
	}
	cv := f.Decls[1].(*CaveatDecl)
	if cv.Name != "org/in_hours" || cv.Expr != "hour >= 9 &&\n  hour < 17 && size(allowed) > 0" {
		t.Errorf("caveat %q %q", cv.Name, cv.Expr)
	}
	if len(cv.Params) != 2 || cv.Params[1].Type.String() != "list<map<int>>" || cv.ExprPos.String() != "d.zed:8:3" {
		t.Errorf("caveat params %v, expression at %s", cv.Params, cv.ExprPos)
	}
	rel := f.Decls[2].(*DefinitionDecl).Members[0].(*RelationDecl)
	if rel.Doc != "who may read\n(two lines)" || rel.Types[0].Caveat != "org/in_hours" {
		t.Errorf("relation %+v", rel)
	}
	if got := rel.Types[0].CaveatPos.String(); got != "d.zed:15:29" {
		t.Errorf("caveat reference at %s", got)
	}
}

// TestNoPanicOnTruncation parses every prefix of a schema that uses the
// whole language: partial input must give errors, never a panic.
func TestNoPanicOnTruncation(t *testing.T) {
	src := "use expiration\n/** doc */\ndefinition org/user {}\ncaveat cav(a int, b list<string>) {\n a > 1 && \"x\" in b // c\n}\n" +
		"definition doc {\n relation parent: doc\n relation viewer: org/user with expiration | doc#viewer | org/user:* with cav and expiration\n" +
		" permission view = (viewer - parent->view) & parent.any(view) + parent.all(view) + nil; // t\n}\n"
	if _, _, err := Compile("", []byte(src)); err != nil {
		t.Fatalf("the full schema does not compile: %v", err)
	}
	for i := range src {
		prefix := []byte(src[:i])
		f, _ := Parse("", prefix)
		_ = Format(f)
		_, _, _ = Compile("", prefix)
	}
	// Every prefix that is not a whole schema is reported, and reported
	// with positions inside the input.
	for i := range len(src) - 1 {
		_, diags, _ := Compile("", []byte(src[:i]))
		for _, d := range diags {
			if d.Pos.Offset > i {
				t.Errorf("prefix %d: diagnostic past the end: %s", i, d)
			}
		}
	}
	if !strings.HasSuffix(src, "}\n") {
		t.Fatal("bad test input")
	}
}

// TestTopLevelTerminators: between two top-level statements SpiceDB reads
// one terminator, a line break after '}', ')' or a name, or a ';'
// (consumeTopLevel); a second is a stray token. Inside a definition, any
// number of ';' are empty statements (consumeDefinition reads one after
// each member, and a member may be missing).
func TestTopLevelTerminators(t *testing.T) {
	const (
		afterLineBreak = "unexpected ';' at the top level: the line break before it already ended the statement"
		afterSemicolon = "unexpected ';' at the top level: the ';' before it already ended the statement"
	)
	tests := []struct {
		src  string
		want string // the first error, "" when accepted
	}{
		{"definition aaa {};\ndefinition bbb {}\n", ""},
		{"definition aaa {} ;\n", ""},
		{";definition aaa {}\n", ""},
		{"use expiration;\ndefinition aaa {}\n", ""},
		{"use expiration; definition aaa {}; definition bbb {};\n", ""},
		{"definition aaa {\n;\n;;\n}\n", ""},
		{"definition aaa {}\n// ;\n", ""},
		{"definition aaa {}\n;\n", "2:1: " + afterLineBreak},
		{"definition aaa {}\n\n;\n", "3:1: " + afterLineBreak},
		{"definition aaa {} // comment\n;\n", "2:1: " + afterLineBreak},
		{"definition aaa {}\r\n;\r\n", "2:1: " + afterLineBreak},
		{"definition aaa {};;\n", "1:19: " + afterSemicolon},
		{"definition aaa {};\n;\n", "2:1: " + afterSemicolon},
		{";;definition aaa {}\n", "1:2: " + afterSemicolon},
		{"use expiration\n;\ndefinition aaa {}\n", "2:1: " + afterLineBreak},
		{"use expiration;;\ndefinition aaa {}\n", "1:16: " + afterSemicolon},
		{"caveat cav(xxx int) {\n\txxx > 1\n}\n;\n", "4:1: " + afterLineBreak},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, diags := Parse("", []byte(tt.src))
			got := ""
			if len(diags) > 0 {
				d := diags[0]
				got = d.String()
			}
			if got != tt.want {
				t.Errorf("first error %q, want %q (all: %v)", got, tt.want, diags)
			}
		})
	}
}

// TestCaveatNames: a caveat's name and its parameters' names are any
// identifier SpiceDB's lexer reads (letters in any case, digits, '_', digits
// alone included; a keyword is not an identifier), with no rule of length
// (see testdata/valid/caveat_names.zed for where SpiceDB says so).
func TestCaveatNames(t *testing.T) {
	tests := []struct {
		name, param string
		ok          bool
	}{
		{"IsAdmin", "ok", true},
		{"ok", "IsAdmin", true},
		{"x", "y", true},
		{"_", "_x", true},
		{"123", "xxx", true},
		{"café", "größe", true},
		{"Org/X", "xxx", true},
		{strings.Repeat("c", 200), strings.Repeat("p", 200), true},
		{"relation", "xxx", false},
		{"cav", "nil", false},
		{"cav", "with", false},
	}
	for _, tt := range tests {
		t.Run(tt.name+"("+tt.param+")", func(t *testing.T) {
			src := "caveat " + tt.name + "(" + tt.param + " int) {\n\t" + tt.param + " > 1\n}\n" +
				"definition user {}\ndefinition doc {\n\trelation viewer: user with " + tt.name + "\n}\n"
			_, diags, err := Compile("c.zed", []byte(src))
			if tt.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tt.ok && err == nil {
				t.Errorf("accepted, diagnostics %v", diags)
			}
		})
	}
}
