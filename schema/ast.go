package schema

// The AST is the parser's output: the schema as written, with positions and
// comments, before any name is resolved. Compile checks it and builds a
// Program; the printer turns it back into canonical text.

// File is a parsed schema source.
type File struct {
	Name     string
	Uses     []*UseDirective
	Decls    []Decl       // definitions and caveats, in source order
	Trailing []*Comment   // comments after the last declaration
	errs     []Diagnostic // syntax errors found while parsing
	size     int          // length of the source in bytes

	// broken holds, per definition, the relations and permissions whose
	// statements had syntax errors after their name: the checker treats
	// references to them as resolved (the syntax error says enough).
	broken map[string]map[string]bool
}

// Comment is one `//` or `/* */` comment, as written.
type Comment struct {
	Text string
	Pos  Position

	// moved marks a comment written inside a statement (between its
	// tokens) that the parser moved to the node's leading comments; the
	// printer puts it on the line just before the statement.
	moved bool
}

// Comments are the comments attached to a node: Leading ones stand on the
// lines before it (the last group of which, if no blank line separates it
// from the node, is its doc comment), Trailing is a comment on the same line
// after it.
type Comments struct {
	Leading  []*Comment
	Trailing *Comment
}

// UseDirective is `use NAME` (e.g. `use expiration`).
type UseDirective struct {
	Name     string
	Pos      Position
	NamePos  Position
	Comments Comments
}

// Decl is a top-level declaration: *DefinitionDecl or *CaveatDecl.
type Decl interface {
	declNode()
	DeclName() string
	DeclPos() Position
}

// DefinitionDecl is `definition NAME { members }`.
type DefinitionDecl struct {
	Name     string
	Pos      Position // of the keyword
	NamePos  Position
	Members  []Member
	Comments Comments
	Inner    []*Comment // comments before the closing brace
	Doc      string
}

// CaveatDecl is `caveat NAME(params) { expression }`.
type CaveatDecl struct {
	Name     string
	Pos      Position
	NamePos  Position
	Params   []*ParamDecl
	Expr     string   // CEL text, trimmed
	ExprPos  Position // of the first byte of the trimmed expression
	Comments Comments
	Doc      string
}

// ParamDecl is one caveat parameter `name type`.
type ParamDecl struct {
	Name    string
	Type    *TypeRef
	Pos     Position
	TypePos Position
}

// TypeRef is a caveat parameter type such as `int` or `list<string>`.
type TypeRef struct {
	Name string
	Args []*TypeRef
	Pos  Position
}

// String renders the type canonically: `map<list<int>>`.
func (t *TypeRef) String() string {
	if t == nil {
		return ""
	}
	if len(t.Args) == 0 {
		return t.Name
	}
	s := t.Name + "<"
	for i, a := range t.Args {
		if i > 0 {
			s += ", "
		}
		s += a.String()
	}
	return s + ">"
}

func (*DefinitionDecl) declNode()           {}
func (*CaveatDecl) declNode()               {}
func (d *DefinitionDecl) DeclName() string  { return d.Name }
func (d *CaveatDecl) DeclName() string      { return d.Name }
func (d *DefinitionDecl) DeclPos() Position { return d.NamePos }
func (d *CaveatDecl) DeclPos() Position     { return d.NamePos }

// Member is a relation or permission of a definition.
type Member interface {
	memberNode()
	MemberName() string
	MemberPos() Position
}

// RelationDecl is `relation NAME: T | T#r | T:* | T with c ...`.
type RelationDecl struct {
	Name     string
	Pos      Position
	NamePos  Position
	Types    []*TypeExpr
	End      Position // just after the last token
	Comments Comments
	Doc      string
}

// TypeExpr is one alternative of a relation's allowed types.
type TypeExpr struct {
	Type       string
	Relation   string // after '#'; "..." for the ellipsis
	Wildcard   bool
	Caveat     string
	Expiration bool
	Pos        Position
	RelPos     Position
	CaveatPos  Position
	ExpPos     Position
}

// PermissionDecl is `permission NAME = expr`.
type PermissionDecl struct {
	Name     string
	Pos      Position
	NamePos  Position
	Expr     Expr
	End      Position // just after the last token
	Comments Comments
	Doc      string
}

func (*RelationDecl) memberNode()             {}
func (*PermissionDecl) memberNode()           {}
func (m *RelationDecl) MemberName() string    { return m.Name }
func (m *PermissionDecl) MemberName() string  { return m.Name }
func (m *RelationDecl) MemberPos() Position   { return m.NamePos }
func (m *PermissionDecl) MemberPos() Position { return m.NamePos }

// Expr is a permission expression: *Ident, *NilExpr, *ArrowExpr, *BinaryExpr.
type Expr interface {
	exprNode()
	ExprPos() Position
}

// Ident is a reference to a relation or permission of the same definition.
type Ident struct {
	Name string
	Pos  Position
}

// NilExpr is `nil`.
type NilExpr struct {
	Pos Position
}

// ArrowFunc tells `->` (and `.any()`) from `.all()`.
type ArrowFunc uint8

const (
	// ArrowAny is `rel->perm`.
	ArrowAny ArrowFunc = iota
	// ArrowAnyFunc is `rel.any(perm)` (same meaning as ArrowAny).
	ArrowAnyFunc
	// ArrowAllFunc is `rel.all(perm)`.
	ArrowAllFunc
)

// ArrowExpr is `Left->Target`, `Left.any(Target)` or `Left.all(Target)`.
// Left is the relation the arrow walks; chained arrows (`a->b->c`) parse as
// an arrow whose Left is itself an arrow, which Compile refuses.
type ArrowExpr struct {
	Left      Expr
	Target    string
	Func      ArrowFunc
	Pos       Position // of the operator
	TargetPos Position
}

// BinaryOp is a set operator.
type BinaryOp uint8

const (
	// OpPlus is `+` (union).
	OpPlus BinaryOp = iota + 1
	// OpAmp is `&` (intersection).
	OpAmp
	// OpMinus is `-` (exclusion).
	OpMinus
)

func (o BinaryOp) String() string {
	switch o {
	case OpPlus:
		return "+"
	case OpAmp:
		return "&"
	case OpMinus:
		return "-"
	}
	return "?"
}

// BinaryExpr is `X op Y`.
type BinaryExpr struct {
	Op   BinaryOp
	X, Y Expr
	Pos  Position // of the operator
}

func (*Ident) exprNode()      {}
func (*NilExpr) exprNode()    {}
func (*ArrowExpr) exprNode()  {}
func (*BinaryExpr) exprNode() {}

// ExprPos returns the position of the start of the expression.
func (e *Ident) ExprPos() Position      { return e.Pos }
func (e *NilExpr) ExprPos() Position    { return e.Pos }
func (e *ArrowExpr) ExprPos() Position  { return leftmost(e) }
func (e *BinaryExpr) ExprPos() Position { return leftmost(e) }

// leftmost returns the position of the first operand of e, walking down
// left operands in a loop: a chain `a - b - c - ...` nests as deep as it is
// long.
func leftmost(e Expr) Position {
	for {
		switch x := e.(type) {
		case *BinaryExpr:
			e = x.X
		case *ArrowExpr:
			e = x.Left
		default:
			return e.ExprPos()
		}
	}
}
