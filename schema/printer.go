package schema

import (
	"strings"
)

// Format prints a parsed schema in canonical form: `use` directives first,
// one blank line between declarations, members indented by a tab (at most
// one blank line kept between them), one statement per line, single spaces
// around operators, parentheses around every operation nested in one of
// another kind (`a - (b + c)`, never the bare `a - b + c`), and every comment
// kept: a comment written inside a statement moves to the line before it.
// Caveat expressions are kept as written. Formatting is idempotent, and the
// printed schema parses to the same AST, positions aside.
//
// Format expects a File without syntax errors; given one with errors it
// prints the parts that were read.
func Format(f *File) string {
	pr := &printer{}
	if f.size > 0 {
		pr.b.Grow(f.size + f.size/8)
	}
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
		if i > 0 && !c.moved && commentEndLine(cs[i-1])+1 < c.Pos.Line {
			pr.b.WriteByte('\n')
		}
		pr.commentText(indent, c.Text)
	}
	if len(cs) > 0 && nextLine > 0 && !cs[len(cs)-1].moved && commentEndLine(cs[len(cs)-1])+1 < nextLine {
		pr.b.WriteByte('\n')
	}
}

// commentText prints a comment on lines of its own at indent. The lines of
// a block comment are re-indented: a line starting with '*' lines up under
// the opening "/*"; the others keep their indentation relative to each
// other (their common leading white space is replaced by indent).
func (pr *printer) commentText(indent int, text string) {
	lines := commentSourceLines(text)
	common := ""
	first := true
	for _, l := range lines[1:] {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "*") {
			continue
		}
		ws := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			common, first = ws, false
			continue
		}
		for !strings.HasPrefix(ws, common) {
			common = common[:len(common)-1]
		}
	}
	for i, l := range lines {
		l = strings.TrimRight(l, " \t")
		switch t := strings.TrimSpace(l); {
		case i == 0:
			pr.line(indent, l)
		case t == "":
			pr.b.WriteByte('\n')
		case strings.HasPrefix(t, "*"):
			pr.line(indent, " "+t)
		default:
			pr.line(indent, strings.TrimPrefix(l, common))
		}
	}
}

// commentSourceLines splits a comment's text at its line breaks (\n, \r\n
// or a lone \r, as the lexer counts them).
func commentSourceLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	return strings.Split(text, "\n")
}

func trailingText(c Comments) string {
	if c.Trailing == nil {
		return ""
	}
	return " " + strings.Join(commentSourceLines(c.Trailing.Text), "\n")
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
			text = "permission " + m.Name + " = " + exprText(m.Expr, 0, false)
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

// exprText prints e inside an operand of operator parent (0 at the top);
// right tells the right operand from the left one. Parentheses go around an
// operation whose operator differs from its parent's (for the reader: the
// precedence of `+` over `-` surprises), and around the right operand of the
// same operator (the operators are left-associative, and the AST is kept
// exactly); `a + b + c` needs none.
func exprText(e Expr, parent BinaryOp, right bool) string {
	var b strings.Builder
	writeExpr(&b, e, parent, right)
	return b.String()
}

// writeExpr writes exprText(e, parent, right) to b, in time linear in the
// size of e (building the text by concatenation copied each operand once
// per level of nesting).
func writeExpr(b *strings.Builder, e Expr, parent BinaryOp, right bool) {
	switch e := e.(type) {
	case *NilExpr:
		b.WriteString("nil")
	case *Ident:
		b.WriteString(e.Name)
	case *ArrowExpr:
		writeArrow(b, e)
	case *BinaryExpr:
		paren := parent != 0 && (e.Op != parent || right)
		if paren {
			b.WriteByte('(')
		}
		writeExpr(b, e.X, e.Op, false)
		b.WriteString(" " + e.Op.String() + " ")
		writeExpr(b, e.Y, e.Op, true)
		if paren {
			b.WriteByte(')')
		}
	}
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
