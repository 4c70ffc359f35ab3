package schema

import (
	"bytes"
	"context"
	"fmt"
	"strings"
)

// Parse parses src into an AST. It returns the AST even when there are
// syntax errors (the parts it could read), with every error found. A source
// beyond the limits (limits.go) is refused: one larger than MaxSourceBytes is
// not read at all.
func Parse(filename string, src []byte) (*File, []Diagnostic) {
	return parse(filename, src, defaultLimits, newStopper(context.Background()))
}

// parse is Parse within lim; once stop says to, it reads no further (the
// caller discards what it returns).
func parse(filename string, src []byte, lim limits, stop *stopper) (*File, []Diagnostic) {
	if d := lim.sizeError(filename, src); d != nil {
		diags := []Diagnostic{*d}
		return &File{Name: filename, errs: diags}, diags
	}
	p := &parser{lx: newLexer(filename, src), src: src, file: &File{Name: filename, size: len(src)}, lim: lim, stop: stop}
	p.next()
	p.parseFile()
	diags := append(p.lx.errs, p.errs...)
	sortDiags(diags)
	p.file.errs = diags
	return p.file, diags
}

type parser struct {
	lx   *lexer
	src  []byte
	file *File
	tok  token // current significant token (never a comment or a plain line break)

	prevEnd  Position   // position just after the previous significant token
	prevKind tokenKind  // kind of the previous significant token
	prevLine int        // line of the previous significant token
	pending  []*Comment // comments not yet attached to a node
	trailing *Comment   // a comment on the same line as the previous significant token
	errs     []Diagnostic
	lastErr  Position // position of the last syntax error (one error per place)
	lim      limits
	stop     *stopper
	depth    int    // nesting of parentheses in the current expression
	terms    int    // terms read in the current permission's expression
	permName string // the permission being parsed
	usesExp  bool   // `use expiration` seen
	seenDecl bool
	ended    bool  // the last top-level statement has been ended by endedBy
	endedBy  token // the terminator that ended it
}

// next moves to the next significant token, collecting comments.
func (p *parser) next() {
	if p.tok.kind != tokNewline && p.tok.kind != tokComment {
		p.prevLine = p.tok.pos.Line
		p.prevKind = p.tok.kind
		p.prevEnd = p.tok.pos
		p.prevEnd.Column += len(p.tok.text)
		p.prevEnd.Offset += len(p.tok.text)
	}
	p.flushTrailing()
	first := true
	for {
		if p.stop.stopped() {
			p.lx.off = len(p.lx.src) // the lexer answers end of file from now on
		}
		t := p.lx.next()
		switch t.kind {
		case tokComment:
			c := &Comment{Text: strings.TrimRight(t.text, " \t"), Pos: t.pos}
			if first && t.pos.Line == p.prevLine && p.prevLine > 0 {
				p.trailing = c
			} else {
				p.pending = append(p.pending, c)
			}
			first = false
			continue
		case tokNewline:
			continue
		case tokSemicolon:
			if t.synthetic && p.tok.kind == tokSemicolon {
				// A line break after a synthetic terminator: insignificant.
				continue
			}
		}
		p.tok = t
		return
	}
}

func (p *parser) errorf(pos Position, format string, args ...any) {
	if pos.Offset == p.lastErr.Offset && len(p.errs) > 0 {
		return
	}
	if n := len(p.lx.errs); n > 0 && p.lx.errs[n-1].Pos.Offset == pos.Offset {
		return // the lexer has reported the fault here
	}
	p.lastErr = pos
	p.errs = append(p.errs, Diagnostic{Pos: pos, Severity: Error, Msg: fmt.Sprintf(format, args...)})
}

// expected reports that something else was expected at the current token.
func (p *parser) expected(what string) {
	if p.tok.kind == tokError {
		return // the lexer has reported it
	}
	p.errorf(p.tok.pos, "expected %s, found %s", what, p.describe())
}

// describe says what the current token is; after `use expiration`,
// `expiration` and `and` are keywords.
func (p *parser) describe() string {
	if p.usesExp && p.tok.kind == tokIdent && (p.tok.text == "expiration" || p.tok.text == "and") {
		return "keyword '" + p.tok.text + "'"
	}
	return p.tok.describe()
}

func (p *parser) isKeyword(kw string) bool { return p.tok.kind == tokIdent && p.tok.text == kw }

// isName reports whether the current token is a name (not a keyword).
func (p *parser) isName() bool {
	if p.tok.kind != tokIdent || keywords[p.tok.text] {
		return false
	}
	// After `use expiration`, SpiceDB's lexer makes `expiration` and `and`
	// keywords.
	return !p.usesExp || (p.tok.text != "expiration" && p.tok.text != "and")
}

// flushTrailing gives up a trailing comment that no node claimed: it joins
// the pending comments, in source order.
func (p *parser) flushTrailing() {
	if p.trailing == nil {
		return
	}
	i := len(p.pending)
	for i > 0 && p.pending[i-1].Pos.Offset > p.trailing.Pos.Offset {
		i--
	}
	p.pending = append(p.pending, nil)
	copy(p.pending[i+1:], p.pending[i:])
	p.pending[i] = p.trailing
	p.trailing = nil
}

// takeLeading returns the pending comments (to become a node's leading ones),
// with any trailing comment no node claimed.
func (p *parser) takeLeading() []*Comment {
	p.flushTrailing()
	c := p.pending
	p.pending = nil
	return c
}

// moveInside moves the comments collected since the node's start (written
// between its tokens) to the end of its leading comments, so that the
// printer keeps them, on the line before the node.
func (p *parser) moveInside(c *Comments) {
	p.moveInsideWith(c, false)
}

// moveInsideWith is moveInside, also taking a comment on the line of the
// last token when withTrailing is set (the node has not ended yet).
func (p *parser) moveInsideWith(c *Comments, withTrailing bool) {
	if withTrailing {
		p.flushTrailing()
	}
	for _, cm := range p.pending {
		cm.moved = true
	}
	c.Leading = append(c.Leading, p.pending...)
	p.pending = nil
}

// attachTrailing gives the node ending on line the trailing comment, if any.
func (p *parser) attachTrailing(c *Comments, line int) {
	if p.trailing != nil && p.trailing.Pos.Line == line {
		c.Trailing = p.trailing
		p.trailing = nil
	}
}

// docOf returns the doc comment text: the last group of leading comments
// with no blank line between it and the node at line.
func docOf(leading []*Comment, line int) string {
	first := len(leading) // the group is leading[first:]
	next := line
	for i := len(leading) - 1; i >= 0; i-- {
		c := leading[i]
		if commentEndLine(c)+1 != next {
			break
		}
		first = i
		next = c.Pos.Line
	}
	var lines []string
	for _, c := range leading[first:] {
		lines = append(lines, commentLines(c.Text)...)
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// commentEndLine is the line on which comment c ends.
func commentEndLine(c *Comment) int {
	return c.Pos.Line + len(commentSourceLines(c.Text)) - 1
}

// commentLines strips comment markers and returns the text lines.
func commentLines(text string) []string {
	text = strings.Join(commentSourceLines(text), "\n")
	if strings.HasPrefix(text, "//") {
		return []string{strings.TrimSpace(strings.TrimPrefix(text, "//"))}
	}
	text = strings.TrimPrefix(text, "/*")
	text = strings.TrimPrefix(text, "*")
	text = strings.TrimSuffix(text, "*/")
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		l = strings.TrimSpace(strings.TrimPrefix(l, "*"))
		out = append(out, l)
	}
	for len(out) > 0 && out[0] == "" {
		out = out[1:]
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// skipTo skips tokens until one of the given kinds (or a keyword that
// starts a statement) is current, for recovery after an error. It stops
// before a '}' that closes the current block.
func (p *parser) skipStatement() {
	depth := 0
	for {
		switch p.tok.kind {
		case tokEOF:
			return
		case tokSemicolon:
			if depth == 0 {
				return
			}
		case tokLBrace, tokLParen:
			depth++
		case tokRParen:
			if depth > 0 {
				depth--
			}
		case tokRBrace:
			if depth == 0 {
				return
			}
			depth--
		case tokIdent:
			if depth == 0 && (p.tok.text == "relation" || p.tok.text == "permission" || p.tok.text == "definition" || p.tok.text == "caveat") {
				return
			}
		}
		p.next()
	}
}

// parseFile parses the top level: use directives, definitions, caveats.
func (p *parser) parseFile() {
	for {
		// As in SpiceDB, one terminator may stand between two top-level
		// statements: the line break after a definition's '}' or a `;`
		// (`definition a {};` on one line). A second is a stray token.
		reported := false
		for p.tok.kind == tokSemicolon {
			if p.ended && !reported {
				by := "the ';' before it"
				if p.endedBy.synthetic {
					by = "the line break before it"
				}
				p.errorf(p.tok.pos, "unexpected ';' at the top level: %s already ended the statement", by)
				reported = true
			}
			p.ended, p.endedBy = true, p.tok
			p.next()
		}
		p.ended = false
		if p.tok.kind == tokEOF {
			break
		}
		leading := p.takeLeading()
		switch {
		case p.isKeyword("definition"):
			p.seenDecl = true
			d := p.parseDefinition(leading)
			if d != nil {
				p.file.Decls = append(p.file.Decls, d)
			}
		case p.isKeyword("caveat"):
			p.seenDecl = true
			c := p.parseCaveat(leading)
			if c != nil {
				p.file.Decls = append(p.file.Decls, c)
			}
		case p.tok.kind == tokIdent && p.tok.text == "use":
			u := p.parseUse(leading)
			if u != nil {
				p.file.Uses = append(p.file.Uses, u)
			}
		default:
			p.expected("'definition', 'caveat' or 'use' at the top level")
			p.pending = append(leading, p.pending...)
			// Skip to the next top-level keyword.
			p.next()
			for p.tok.kind != tokEOF && !p.isKeyword("definition") && !p.isKeyword("caveat") {
				p.next()
			}
		}
	}
	p.file.Trailing = append(p.file.Trailing, p.pending...)
	p.pending = nil
}

// parseUse parses `use NAME`. As in SpiceDB, no terminator is required
// after it.
func (p *parser) parseUse(leading []*Comment) *UseDirective {
	u := &UseDirective{Pos: p.tok.pos, Comments: Comments{Leading: leading}}
	p.next()
	if p.tok.kind != tokIdent {
		p.expected("a feature name after 'use'")
		p.skipStatement()
		return nil
	}
	u.Name, u.NamePos = p.tok.text, p.tok.pos
	line := p.tok.pos.Line
	p.next()
	switch u.Name {
	case "expiration":
		if p.usesExp {
			p.errorf(u.NamePos, "duplicate 'use expiration'")
		}
		p.usesExp = true
	case "self", "typechecking":
		p.errorf(u.NamePos, "'use %s' is not supported by reach yet; the supported feature is \"expiration\"", u.Name)
	default:
		p.errorf(u.NamePos, "unknown feature %q in 'use'; the supported feature is \"expiration\"", u.Name)
	}
	if p.seenDecl {
		p.errorf(u.Pos, "'use' must come before any definition or caveat")
	}
	p.attachTrailing(&u.Comments, line)
	if p.tok.kind == tokSemicolon {
		p.ended, p.endedBy = true, p.tok
		p.next()
		if u.Comments.Trailing == nil {
			p.attachTrailing(&u.Comments, line)
		}
	}
	return u
}

// finishStatement consumes the terminator of statement what ("relation" or
// "permission") and attaches a comment that follows it on its last line.
func (p *parser) finishStatement(what string, c *Comments, line int) {
	p.attachTrailing(c, line)
	if p.endStatement(what) && c.Trailing == nil {
		p.attachTrailing(c, line)
	}
}

// endStatement consumes a statement terminator (`;`, a line break that ends
// a statement, or the end of the file). As in SpiceDB, a '}' does not end
// the statement before it, and neither does a line break after `...`.
func (p *parser) endStatement(what string) bool {
	switch p.tok.kind {
	case tokSemicolon:
		p.next()
		return true
	case tokEOF:
		return true
	}
	switch {
	case p.tok.kind == tokError:
	case p.prevKind == tokEllipsis && p.tok.pos.Line > p.prevLine:
		p.errorf(p.tok.pos, "expected ';' to end the %s: a line break after '...' does not end a statement (write `T` for `T#...`)", what)
	case p.tok.kind == tokRBrace:
		p.errorf(p.tok.pos, "expected a line break or ';' to end the %s before '}'", what)
	default:
		p.errorf(p.tok.pos, "expected a line break or ';' to end the %s, found %s", what, p.describe())
	}
	p.skipStatement()
	if p.tok.kind == tokSemicolon {
		p.next()
	}
	return false
}

// parseTypePath parses `name` or `prefix/name` (any number of segments): a
// definition's name or a subject type.
func (p *parser) parseTypePath(what string) (string, Position, bool) {
	return p.parsePath(what, p.isName)
}

// parseCaveatPath parses a caveat's name: `name` or `prefix/name`, where,
// as in SpiceDB, each segment is any identifier its lexer reads (letters,
// digits and '_', digits alone included), with no rule of case or length.
func (p *parser) parseCaveatPath(what string) (string, Position, bool) {
	return p.parsePath(what, func() bool { return p.isName() || p.tok.kind == tokNumber })
}

func (p *parser) parsePath(what string, isSegment func() bool) (string, Position, bool) {
	pos := p.tok.pos
	if !isSegment() {
		p.expected(what)
		return "", pos, false
	}
	var b strings.Builder
	b.WriteString(p.tok.text)
	p.next()
	for p.tok.kind == tokSlash {
		b.WriteByte('/')
		p.next()
		if !isSegment() {
			p.expected("a name after '/'")
			return "", pos, false
		}
		b.WriteString(p.tok.text)
		p.next()
	}
	return b.String(), pos, true
}

// parseDefinition parses `definition NAME { members }`.
func (p *parser) parseDefinition(leading []*Comment) *DefinitionDecl {
	d := &DefinitionDecl{Pos: p.tok.pos, Comments: Comments{Leading: leading}}
	d.Doc = docOf(leading, d.Pos.Line)
	p.next()
	name, npos, ok := p.parseTypePath("a definition name")
	if !ok {
		p.recoverTopLevel()
		return nil
	}
	d.Name, d.NamePos = name, npos
	if p.tok.kind != tokLBrace {
		p.expected("'{'")
		p.recoverTopLevel()
		return d
	}
	p.moveInsideWith(&d.Comments, true)
	p.next()
	for {
		if p.tok.kind == tokRBrace {
			d.Inner = p.takeLeading()
			line := p.tok.pos.Line
			p.next()
			p.attachTrailing(&d.Comments, line)
			return d
		}
		if p.tok.kind == tokEOF {
			p.errorf(p.tok.pos, "expected '}' to close definition %s, found end of file", d.Name)
			return d
		}
		if p.tok.kind == tokSemicolon {
			p.next()
			continue
		}
		mLeading := p.takeLeading()
		var m Member
		var comments *Comments
		var what string
		switch {
		case p.isKeyword("relation"):
			what = "relation"
			r := p.parseRelation(d, mLeading)
			if r != nil {
				m, comments = r, &r.Comments
			}
		case p.isKeyword("permission"):
			what = "permission"
			pm := p.parsePermission(d, mLeading)
			if pm != nil {
				m, comments = pm, &pm.Comments
			}
		case p.isKeyword("definition") || p.isKeyword("caveat"):
			p.errorf(p.tok.pos, "expected '}' to close definition %s, found %s", d.Name, p.describe())
			p.pending = append(mLeading, p.pending...)
			return d
		default:
			p.errorf(p.tok.pos, "expected 'relation' or 'permission', found %s", p.describe())
			p.pending = append(mLeading, p.pending...)
			p.next()
			p.skipStatement()
			if p.tok.kind == tokSemicolon {
				p.next()
			}
			continue
		}
		if m == nil {
			continue
		}
		p.moveInside(comments)
		setEnd(m, p.prevEnd)
		p.finishStatement(what, comments, p.prevLine)
		d.Members = append(d.Members, m)
	}
}

// skipBadName recovers from a missing relation or permission name: a
// keyword in its place (`relation permission: user`) is skipped with the
// rest of the statement rather than read as the start of the next one.
func (p *parser) skipBadName() {
	if p.tok.kind == tokIdent {
		p.next()
	}
	p.skipStatement()
}

// markBroken records that the member name of definition d could not be
// parsed, so that the checker does not also report every reference to it
// as unknown.
func (p *parser) markBroken(d *DefinitionDecl, name string) {
	if p.file.broken == nil {
		p.file.broken = map[string]map[string]bool{}
	}
	if p.file.broken[d.Name] == nil {
		p.file.broken[d.Name] = map[string]bool{}
	}
	p.file.broken[d.Name][name] = true
}

// recoverTopLevel skips to the next top-level keyword after an error.
func (p *parser) recoverTopLevel() {
	depth := 0
	for p.tok.kind != tokEOF {
		if depth <= 0 && (p.isKeyword("definition") || p.isKeyword("caveat")) {
			return
		}
		switch p.tok.kind {
		case tokLBrace:
			depth++
		case tokRBrace:
			depth--
		}
		p.next()
	}
}

// parseRelation parses `relation NAME: types`. The terminator is left for
// the caller.
func (p *parser) parseRelation(d *DefinitionDecl, leading []*Comment) *RelationDecl {
	r := &RelationDecl{Pos: p.tok.pos, Comments: Comments{Leading: leading}}
	r.Doc = docOf(leading, r.Pos.Line)
	p.next()
	if !p.isName() {
		p.expected("a relation name")
		p.skipBadName()
		return nil
	}
	r.Name, r.NamePos = p.tok.text, p.tok.pos
	p.next()
	if p.tok.kind != tokColon {
		p.expected("':' after the relation name")
		p.markBroken(d, r.Name)
		p.skipStatement()
		return nil
	}
	p.next()
	for {
		t := p.parseTypeExpr()
		if t == nil {
			p.markBroken(d, r.Name)
			p.skipStatement()
			return nil
		}
		r.Types = append(r.Types, t)
		if p.tok.kind != tokPipe {
			break
		}
		p.next()
	}
	return r
}

// parseTypeExpr parses `T`, `T#rel`, `T#...`, `T:*`, each optionally with
// `with caveat`, `with expiration` or `with caveat and expiration`.
func (p *parser) parseTypeExpr() *TypeExpr {
	name, pos, ok := p.parseTypePath("a subject type")
	if !ok {
		return nil
	}
	t := &TypeExpr{Type: name, Pos: pos}
	switch p.tok.kind {
	case tokColon:
		p.next()
		if p.tok.kind != tokStar {
			p.expected("'*' after ':'")
			return nil
		}
		t.Wildcard = true
		p.next()
	case tokHash:
		p.next()
		t.RelPos = p.tok.pos
		switch {
		case p.tok.kind == tokEllipsis:
			t.Relation = "" // `T#...` is the plain subject T
		case p.isName():
			t.Relation = p.tok.text
		default:
			p.expected("a relation name after '#'")
			return nil
		}
		p.next()
	}
	if !p.isKeyword("with") {
		return t
	}
	p.next()
	if p.usesExp && p.tok.kind == tokIdent && p.tok.text == "expiration" {
		t.Expiration, t.ExpPos = true, p.tok.pos
		p.next()
		return t
	}
	if !p.usesExp && p.tok.kind == tokIdent && p.tok.text == "expiration" {
		// Without `use expiration`, SpiceDB reads this as a caveat named
		// expiration; Compile says what is missing.
		t.Caveat, t.CaveatPos = "expiration", p.tok.pos
		p.next()
	} else {
		cav, cpos, ok := p.parseCaveatPath("a caveat name after 'with'")
		if !ok {
			return nil
		}
		t.Caveat, t.CaveatPos = cav, cpos
	}
	if p.tok.kind == tokIdent && p.tok.text == "and" {
		andPos := p.tok.pos
		p.next()
		if p.tok.kind != tokIdent || p.tok.text != "expiration" {
			p.expected("'expiration' after 'and'")
			return nil
		}
		if !p.usesExp {
			p.errorf(andPos, "'with ... and expiration' requires 'use expiration' at the top of the schema")
		}
		t.Expiration, t.ExpPos = true, p.tok.pos
		p.next()
	}
	return t
}

// parsePermission parses `permission NAME = expr`.
func (p *parser) parsePermission(d *DefinitionDecl, leading []*Comment) *PermissionDecl {
	pm := &PermissionDecl{Pos: p.tok.pos, Comments: Comments{Leading: leading}}
	pm.Doc = docOf(leading, pm.Pos.Line)
	p.next()
	if !p.isName() {
		p.expected("a permission name")
		p.skipBadName()
		return nil
	}
	pm.Name, pm.NamePos = p.tok.text, p.tok.pos
	p.next()
	if p.tok.kind != tokEquals {
		p.expected("'=' after the permission name")
		p.markBroken(d, pm.Name)
		p.skipStatement()
		return nil
	}
	p.next()
	p.permName, p.terms, p.depth = pm.Name, 0, 0
	e := p.parseExpr()
	if e == nil {
		p.markBroken(d, pm.Name)
		p.skipStatement()
		return nil
	}
	pm.Expr = e
	return pm
}

// parseExpr parses an expression: `-` binds loosest, then `&`, then `+`;
// each is left-associative.
func (p *parser) parseExpr() Expr { return p.parseBinary(OpMinus) }

func tokOp(k tokenKind) BinaryOp {
	switch k {
	case tokPlus:
		return OpPlus
	case tokAmp:
		return OpAmp
	case tokMinus:
		return OpMinus
	}
	return 0
}

func (p *parser) parseBinary(op BinaryOp) Expr {
	var sub func() Expr
	switch op {
	case OpMinus:
		sub = func() Expr { return p.parseBinary(OpAmp) }
	case OpAmp:
		sub = func() Expr { return p.parseBinary(OpPlus) }
	default:
		sub = p.parseOperand
	}
	x := sub()
	if x == nil {
		return nil
	}
	for tokOp(p.tok.kind) == op {
		pos := p.tok.pos
		p.next()
		y := sub()
		if y == nil {
			return nil
		}
		x = &BinaryExpr{Op: op, X: x, Y: y, Pos: pos}
	}
	return x
}

// countTerm counts the current token as a term of the permission being
// parsed, and reports false (with an error there) past MaxExprTerms.
func (p *parser) countTerm() bool {
	p.terms++
	if p.terms > p.lim.exprTerms {
		p.errorf(p.tok.pos, "expression too long: permission %s has more than %d terms", p.permName, p.lim.exprTerms)
		return false
	}
	return true
}

// parseOperand parses `nil`, `(expr)`, `name`, `name->target`,
// `name.any(target)`, `name.all(target)` (and chains, refused later).
func (p *parser) parseOperand() Expr {
	switch {
	case p.isKeyword("nil"):
		if !p.countTerm() {
			return nil
		}
		e := &NilExpr{Pos: p.tok.pos}
		p.next()
		return e
	case p.tok.kind == tokLParen:
		open := p.tok.pos
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > p.lim.exprDepth {
			p.errorf(open, "expression nested too deeply: more than %d levels of parentheses", p.lim.exprDepth)
			return nil
		}
		p.next()
		e := p.parseExpr()
		if e == nil {
			return nil
		}
		if p.tok.kind != tokRParen {
			p.expected("')'")
			return nil
		}
		p.next()
		return e
	case p.isName():
		if !p.countTerm() {
			return nil
		}
		var e Expr = &Ident{Name: p.tok.text, Pos: p.tok.pos}
		p.next()
		for {
			switch p.tok.kind {
			case tokArrow:
				pos := p.tok.pos
				p.next()
				if !p.isName() {
					p.expected("a relation or permission name after '->'")
					return nil
				}
				if !p.countTerm() {
					return nil
				}
				e = &ArrowExpr{Left: e, Target: p.tok.text, Func: ArrowAny, Pos: pos, TargetPos: p.tok.pos}
				p.next()
				continue
			case tokPeriod:
				pos := p.tok.pos
				p.next()
				var fn ArrowFunc
				switch {
				case p.tok.kind == tokIdent && p.tok.text == "any":
					fn = ArrowAnyFunc
				case p.tok.kind == tokIdent && p.tok.text == "all":
					fn = ArrowAllFunc
				default:
					p.errorf(p.tok.pos, "unknown arrow function %s: expected 'any' or 'all'", p.describe())
					return nil
				}
				p.next()
				if p.tok.kind != tokLParen {
					p.expected("'('")
					return nil
				}
				p.next()
				if !p.isName() {
					p.expected("a relation or permission name")
					return nil
				}
				if !p.countTerm() {
					return nil
				}
				a := &ArrowExpr{Left: e, Target: p.tok.text, Func: fn, Pos: pos, TargetPos: p.tok.pos}
				p.next()
				if p.tok.kind != tokRParen {
					p.expected("')'")
					return nil
				}
				p.next()
				e = a
				continue
			}
			return e
		}
	}
	p.expected("a relation or permission name, 'nil' or '('")
	return nil
}

// parseCaveat parses `caveat NAME(params) { expression }`.
func (p *parser) parseCaveat(leading []*Comment) *CaveatDecl {
	c := &CaveatDecl{Pos: p.tok.pos, Comments: Comments{Leading: leading}}
	c.Doc = docOf(leading, c.Pos.Line)
	p.next()
	name, npos, ok := p.parseCaveatPath("a caveat name")
	if !ok {
		p.recoverTopLevel()
		return nil
	}
	c.Name, c.NamePos = name, npos
	if p.tok.kind != tokLParen {
		p.expected("'(' to start the caveat's parameters")
		p.recoverTopLevel()
		return nil
	}
	p.next()
	for afterComma := false; p.tok.kind != tokRParen || afterComma; {
		if !p.isName() {
			p.expected("a parameter name")
			p.recoverTopLevel()
			return nil
		}
		prm := &ParamDecl{Name: p.tok.text, Pos: p.tok.pos}
		p.next()
		prm.TypePos = p.tok.pos
		ty := p.parseParamType(0)
		if ty == nil {
			p.recoverTopLevel()
			return nil
		}
		prm.Type = ty
		c.Params = append(c.Params, prm)
		afterComma = p.tok.kind == tokComma
		if afterComma {
			p.next()
			continue
		}
		if p.tok.kind != tokRParen {
			p.expected("',' or ')'")
			p.recoverTopLevel()
			return nil
		}
	}
	p.next()
	if p.tok.kind != tokLBrace {
		p.expected("'{' to start the caveat expression")
		p.recoverTopLevel()
		return nil
	}
	open := p.tok
	p.moveInsideWith(&c.Comments, true)
	// Scan the CEL expression token by token up to the matching brace,
	// without collecting comments into the schema: they stay in the text.
	depth := 1
	start := open.pos.Offset + 1
	end := -1
	saved := p.pending
	for depth > 0 {
		p.next()
		switch p.tok.kind {
		case tokEOF:
			p.errorf(open.pos, "caveat %s: expected '}' to close the expression, found end of file", c.Name)
			p.pending, p.trailing = saved, nil
			return nil
		case tokLBrace:
			depth++
		case tokRBrace:
			depth--
			if depth == 0 {
				end = p.tok.pos.Offset
			}
		}
	}
	p.pending, p.trailing = saved, nil
	raw := p.src[start:end]
	trimmed := bytes.TrimSpace(raw)
	c.Expr = normalizeCEL(string(trimmed))
	lead := len(raw) - len(bytes.TrimLeft(raw, " \t\r\n"))
	c.ExprPos = positionAfter(open.pos, p.src, start+lead)
	if c.Expr == "" {
		p.errorf(p.tok.pos, "caveat %s has an empty expression", c.Name)
	}
	line := p.tok.pos.Line
	p.next()
	p.attachTrailing(&c.Comments, line)
	return c
}

// parseParamType parses `int`, `list<string>`, `map<list<int>>`, ...
func (p *parser) parseParamType(depth int) *TypeRef {
	if depth > p.lim.exprDepth {
		p.errorf(p.tok.pos, "parameter type nested too deeply: more than %d levels of type arguments", p.lim.exprDepth)
		return nil
	}
	if p.tok.kind != tokIdent {
		p.expected("a parameter type")
		return nil
	}
	t := &TypeRef{Name: p.tok.text, Pos: p.tok.pos}
	p.next()
	if p.tok.kind != tokLess {
		return t
	}
	p.next()
	for {
		a := p.parseParamType(depth + 1)
		if a == nil {
			return nil
		}
		t.Args = append(t.Args, a)
		if p.tok.kind == tokComma {
			p.next()
			continue
		}
		break
	}
	if p.tok.kind != tokGreater {
		p.expected("'>'")
		return nil
	}
	p.next()
	return t
}

// positionAfter computes the position of byte offset off in src, counting
// from base, a position at or before it.
func positionAfter(base Position, src []byte, off int) Position {
	line, col := base.Line, base.Column
	for i := base.Offset; i < off && i < len(src); i++ {
		switch src[i] {
		case '\n':
			line++
			col = 1
		case '\r':
			if i+1 < len(src) && src[i+1] == '\n' {
				col++ // counted as part of the \r\n line break below
				continue
			}
			line++
			col = 1
		default:
			col++
		}
	}
	return Position{File: base.File, Line: line, Column: col, Offset: off}
}

// setEnd records where member m ends.
func setEnd(m Member, end Position) {
	switch m := m.(type) {
	case *RelationDecl:
		m.End = end
	case *PermissionDecl:
		m.End = end
	}
}

// normalizeCEL turns CRLF into LF and drops spaces at the ends of lines.
func normalizeCEL(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return strings.Join(lines, "\n")
}
