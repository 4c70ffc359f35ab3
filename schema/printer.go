package schema

import (
	"strings"
)

// Format prints a parsed schema in canonical form: `use` directives first,
// one blank line between declarations, members indented by a tab, single
// spaces around operators, the fewest parentheses that keep the expression's
// structure, and every comment kept (a comment written inside a statement
// moves to the line before the next one). Formatting is idempotent.
func Format(f *File) string {
	pr := &printer{}
	pr.file(f)
	return pr.b.String()
}

type printer struct {
	b strings.Builder
}

func (pr *printer) line(indent int, s string) {
	for i := 0; i < indent; i++ {
		pr.b.WriteByte('\t')
	}
	pr.b.WriteString(s)
	pr.b.WriteByte('\n')
}

// comments prints leading comments at indent, keeping one blank line where
// the source had one or more, and a blank line before nextLine if needed.
func (pr *printer) comments(indent int, cs []*Comment, nextLine int) {
	for i, c := range cs {
		if i > 0 && commentEndLine(cs[i-1])+1 < c.Pos.Line {
			pr.b.WriteByte('\n')
		}
		pr.commentText(indent, c.Text)
	}
	if len(cs) > 0 && nextLine > 0 && commentEndLine(cs[len(cs)-1])+1 < nextLine {
		pr.b.WriteByte('\n')
	}
}

// commentText prints a comment, re-indenting the lines of a block comment.
func (pr *printer) commentText(indent int, text string) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if i > 0 {
			l = strings.TrimRight(l, " \t")
			if strings.HasPrefix(strings.TrimSpace(l), "*") {
				l = " " + strings.TrimSpace(l)
			}
		}
		pr.line(indent, l)
	}
}

func trailingText(c Comments) string {
	if c.Trailing == nil {
		return ""
	}
	return " " + strings.ReplaceAll(c.Trailing.Text, "\r\n", "\n")
}

func (pr *printer) file(f *File) {
	first := true
	sep := func() {
		if !first {
			pr.b.WriteByte('\n')
		}
		first = false
	}
	for i, u := range f.Uses {
		if i == 0 {
			sep()
		}
		pr.comments(0, u.Comments.Leading, u.Pos.Line)
		pr.line(0, "use "+u.Name+trailingText(u.Comments))
	}
	for _, d := range f.Decls {
		sep()
		switch d := d.(type) {
		case *DefinitionDecl:
			pr.definition(d)
		case *CaveatDecl:
			pr.caveat(d)
		}
	}
	if len(f.Trailing) > 0 {
		sep()
		pr.comments(0, f.Trailing, 0)
	}
}

func (pr *printer) definition(d *DefinitionDecl) {
	pr.comments(0, d.Comments.Leading, d.Pos.Line)
	if len(d.Members) == 0 && len(d.Inner) == 0 {
		pr.line(0, "definition "+d.Name+" {}"+trailingText(d.Comments))
		return
	}
	pr.line(0, "definition "+d.Name+" {")
	prevEnd := 0
	for i, m := range d.Members {
		var leading []*Comment
		var start, end int
		var text string
		var cs Comments
		switch m := m.(type) {
		case *RelationDecl:
			leading, start, end, cs = m.Comments.Leading, m.Pos.Line, m.End.Line, m.Comments
			text = relationText(m)
		case *PermissionDecl:
			leading, start, end, cs = m.Comments.Leading, m.Pos.Line, m.End.Line, m.Comments
			text = "permission " + m.Name + " = " + exprText(m.Expr, 0)
		}
		first := start
		if len(leading) > 0 {
			first = leading[0].Pos.Line
		}
		if i > 0 && first > prevEnd+1 {
			pr.b.WriteByte('\n')
		}
		pr.comments(1, leading, start)
		pr.line(1, text+trailingText(cs))
		prevEnd = end
		if cs.Trailing != nil {
			prevEnd = commentEndLine(cs.Trailing)
		}
	}
	if len(d.Inner) > 0 {
		if len(d.Members) > 0 && d.Inner[0].Pos.Line > prevEnd+1 {
			pr.b.WriteByte('\n')
		}
		pr.comments(1, d.Inner, 0)
	}
	pr.line(0, "}"+trailingText(d.Comments))
}

func relationText(r *RelationDecl) string {
	var b strings.Builder
	b.WriteString("relation ")
	b.WriteString(r.Name)
	b.WriteString(": ")
	for i, t := range r.Types {
		if i > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(typeText(t))
		switch {
		case t.Caveat != "" && t.Expiration:
			b.WriteString(" with " + t.Caveat + " and expiration")
		case t.Caveat != "":
			b.WriteString(" with " + t.Caveat)
		case t.Expiration:
			b.WriteString(" with expiration")
		}
	}
	return b.String()
}

// exprText prints e; parent is the precedence of the enclosing operator
// (0 at the top).
func exprText(e Expr, parent int) string {
	switch e := e.(type) {
	case *NilExpr:
		return "nil"
	case *Ident:
		return e.Name
	case *ArrowExpr:
		return arrowText(e)
	case *BinaryExpr:
		p := e.Op.precedence()
		s := exprText(e.X, p) + " " + e.Op.String() + " " + exprText(e.Y, p+1)
		if p < parent {
			return "(" + s + ")"
		}
		return s
	}
	return ""
}

func (pr *printer) caveat(c *CaveatDecl) {
	pr.comments(0, c.Comments.Leading, c.Pos.Line)
	var b strings.Builder
	b.WriteString("caveat " + c.Name + "(")
	for i, p := range c.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Name + " " + p.Type.String())
	}
	b.WriteString(") {")
	pr.line(0, b.String())
	lines := strings.Split(c.Expr, "\n")
	for i, l := range lines {
		if i == 0 {
			pr.line(1, l)
			continue
		}
		pr.b.WriteString(strings.TrimRight(l, " \t"))
		pr.b.WriteByte('\n')
	}
	pr.line(0, "}"+trailingText(c.Comments))
}
