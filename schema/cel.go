package schema

import "strings"

// reach keeps a caveat's CEL expression as text (evaluating it comes later),
// but reads enough of it to apply two of SpiceDB's checks: every parameter
// must be used (namespace.ValidateCaveatDefinition) and every variable the
// expression names must be a parameter (CEL's "undeclared reference").

// celRef is a variable an expression refers to.
type celRef struct {
	name string
	pos  Position // relative to the start of the expression
}

// celNonVariables are the names that may stand alone in a CEL expression
// without being variables: literals, the `in` operator, type names (as in
// `type(x) == int`) and CEL's reserved words (which CEL refuses by itself).
var celNonVariables = map[string]bool{
	"true": true, "false": true, "null": true, "in": true,
	"int": true, "uint": true, "double": true, "bool": true, "string": true, "bytes": true,
	"list": true, "map": true, "type": true, "null_type": true, "dyn": true,
	"timestamp": true, "duration": true,
	"as": true, "break": true, "const": true, "continue": true, "else": true, "for": true,
	"function": true, "if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true,
}

// celReferences returns the variables a CEL expression refers to, in order:
// the names that are not a field or method after '.', not a function called
// with '(', not a number (`1u`, `0x1F`, `1e3`), not a string prefix (`r"..."`,
// `b"..."`), not bound by a macro (`list.all(x, x > 1)`) and not one of
// celNonVariables. Names inside string literals are never read.
func celReferences(expr string) []celRef {
	lx := newLexer("", []byte(expr))
	var toks []token
	for {
		t := lx.next()
		if t.kind == tokEOF {
			break
		}
		if t.kind == tokComment || t.kind == tokNewline || t.kind == tokSemicolon {
			continue
		}
		toks = append(toks, t)
	}
	// Variables bound by macros: `.name(VAR, ...`.
	bound := map[string]bool{}
	for i := 0; i+4 < len(toks); i++ {
		if toks[i].kind == tokPeriod && toks[i+1].kind == tokIdent && toks[i+2].kind == tokLParen &&
			toks[i+3].kind == tokIdent && toks[i+4].kind == tokComma {
			bound[toks[i+3].text] = true
		}
	}
	var refs []celRef
	for i, t := range toks {
		if t.kind != tokIdent || celNonVariables[t.text] || bound[t.text] {
			continue
		}
		if c := t.text[0]; c >= '0' && c <= '9' {
			continue
		}
		if i > 0 && toks[i-1].kind == tokPeriod {
			continue
		}
		if i+1 < len(toks) {
			next := toks[i+1]
			if next.kind == tokLParen || next.kind == tokLBrace {
				continue
			}
			if next.kind == tokString && next.pos.Offset == t.pos.Offset+len(t.text) && len(t.text) <= 2 &&
				strings.Trim(strings.ToLower(t.text), "rb") == "" {
				continue
			}
		}
		refs = append(refs, celRef{name: t.text, pos: t.pos})
	}
	return refs
}

// celPosition turns a position relative to an expression that starts at
// start into a position in the schema source.
func celPosition(start, rel Position) Position {
	p := Position{File: start.File, Line: start.Line + rel.Line - 1, Column: rel.Column, Offset: start.Offset + rel.Offset}
	if rel.Line == 1 {
		p.Column = start.Column + rel.Column - 1
	}
	return p
}
