package schema

// tokenKind classifies a lexeme. The names are internal: messages shown to a
// person describe tokens with tokenKind.describe, never with these names.
type tokenKind uint8

const (
	tokError tokenKind = iota
	tokEOF
	tokNewline   // a line break that does not end a statement
	tokSemicolon // `;` or a line break that ends a statement (synthetic)
	tokComment   // `// ...` or `/* ... */`
	tokIdent     // name or keyword (keywords are identified by text)
	tokNumber    // 123 (only inside caveat expressions)
	tokString    // "..." or '...' (only inside caveat expressions)
	tokLBrace    // {
	tokRBrace    // }
	tokLParen    // (
	tokRParen    // )
	tokLBracket  // [
	tokRBracket  // ]
	tokPipe      // |
	tokPlus      // +
	tokMinus     // -
	tokAmp       // &
	tokSlash     // /
	tokEquals    // =
	tokColon     // :
	tokArrow     // ->
	tokHash      // #
	tokEllipsis  // ...
	tokStar      // *
	tokPeriod    // .
	tokComma     // ,
	tokLess      // <
	tokGreater   // >
	tokOther     // any other operator a caveat expression may use (==, &&, ?, ...)
)

// token is one lexeme with its position.
type token struct {
	kind      tokenKind
	text      string
	pos       Position
	synthetic bool // tokSemicolon made from a line break
}

// keywords of the schema language. `expiration` and `and` become keywords
// only after `use expiration` (as in SpiceDB).
var keywords = map[string]bool{
	"definition": true,
	"caveat":     true,
	"relation":   true,
	"permission": true,
	"nil":        true,
	"with":       true,
}

// describe says what a token is in words a person understands.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of file"
	case tokNewline:
		return "line break"
	case tokSemicolon:
		if t.synthetic {
			return "end of line"
		}
		return "';'"
	case tokComment:
		return "comment"
	case tokIdent:
		if keywords[t.text] {
			return "keyword '" + t.text + "'"
		}
		return "name '" + t.text + "'"
	case tokNumber:
		return "number " + t.text
	case tokString:
		return "string " + t.text
	case tokError:
		return "invalid character"
	}
	return "'" + t.text + "'"
}
