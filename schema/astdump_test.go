package schema

import (
	"fmt"
	"strings"
)

// dumpAST renders a File as indented text without positions, for comparing
// two parses of the same schema (before and after formatting). Comments are
// included by text and by the node they belong to; doc strings are left out
// (they are derived from the comments and may gather a comment that the
// printer moved out of a statement).
func dumpAST(f *File) string {
	var b strings.Builder
	w := func(depth int, format string, args ...any) {
		b.WriteString(strings.Repeat("  ", depth))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	comments := func(depth int, c Comments) {
		for _, cm := range c.Leading {
			w(depth, "leading %q", normalizeNewlines(cm.Text))
		}
		if c.Trailing != nil {
			w(depth, "trailing %q", normalizeNewlines(c.Trailing.Text))
		}
	}
	for _, u := range f.Uses {
		w(0, "use %s", u.Name)
		comments(1, u.Comments)
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *DefinitionDecl:
			w(0, "definition %s", d.Name)
			comments(1, d.Comments)
			for _, m := range d.Members {
				switch m := m.(type) {
				case *RelationDecl:
					w(1, "relation %s", m.Name)
					for _, t := range m.Types {
						w(2, "type %s#%s wildcard=%v caveat=%s expiration=%v", t.Type, t.Relation, t.Wildcard, t.Caveat, t.Expiration)
					}
					comments(2, m.Comments)
				case *PermissionDecl:
					w(1, "permission %s = %s", m.Name, dumpExpr(m.Expr))
					comments(2, m.Comments)
				}
			}
			for _, cm := range d.Inner {
				w(1, "inner %q", normalizeNewlines(cm.Text))
			}
		case *CaveatDecl:
			w(0, "caveat %s", d.Name)
			for _, p := range d.Params {
				w(1, "param %s %s", p.Name, p.Type)
			}
			w(1, "expr %q", d.Expr)
			comments(1, d.Comments)
		}
	}
	for _, cm := range f.Trailing {
		w(0, "trailing %q", normalizeNewlines(cm.Text))
	}
	return b.String()
}

// dumpExpr renders an expression fully parenthesised.
func dumpExpr(e Expr) string {
	switch e := e.(type) {
	case *Ident:
		return e.Name
	case *NilExpr:
		return "nil"
	case *ArrowExpr:
		return fmt.Sprintf("arrow[%d](%s, %s)", e.Func, dumpExpr(e.Left), e.Target)
	case *BinaryExpr:
		return fmt.Sprintf("(%s %s %s)", dumpExpr(e.X), e.Op, dumpExpr(e.Y))
	case nil:
		return "<nil>"
	}
	return fmt.Sprintf("<%T>", e)
}

// normalizeNewlines reduces a comment to its words per line: the printer
// re-indents the lines of block comments.
func normalizeNewlines(s string) string {
	lines := commentSourceLines(s)
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}
