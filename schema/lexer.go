package schema

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// lexer turns source bytes into tokens. Like SpiceDB's lexer, a line break
// that follows a name (digits alone included), a keyword, `}`, `)` or `*`
// becomes a (synthetic) statement terminator; any other line break is
// insignificant.
type lexer struct {
	file string
	src  []byte
	str  string // src as a string: token texts are slices of it
	off  int    // next byte to read
	line int
	col  int // column of src[off], 1-based, in bytes

	lastSignificant tokenKind // kind of the last token that was not a comment or line break
	errs            []Diagnostic
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{file: file, src: src, str: string(src), line: 1, col: 1, lastSignificant: tokNewline}
}

func (l *lexer) pos() Position {
	return Position{File: l.file, Line: l.line, Column: l.col, Offset: l.off}
}

// advance moves past n bytes that contain no line break.
func (l *lexer) advance(n int) {
	l.off += n
	l.col += n
}

// newline moves past a line break of n bytes (1 for \n or \r, 2 for \r\n).
func (l *lexer) newline(n int) {
	l.off += n
	l.line++
	l.col = 1
}

func (l *lexer) errorf(p Position, format string, args ...any) {
	l.errs = append(l.errs, Diagnostic{Pos: p, Severity: Error, Msg: fmt.Sprintf(format, args...)})
}

func isNameStart(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// next returns the next token. Comments and plain line breaks are returned
// too; the parser decides what to skip.
func (l *lexer) next() token {
	// Skip spaces and tabs: the only white space SpiceDB's lexer accepts
	// besides line breaks (a form feed or vertical tab is an error there).
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance(1)
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tokEOF, pos: p}
	}
	c := l.src[l.off]
	tok := func(k tokenKind, n int) token {
		t := token{kind: k, text: l.str[l.off : l.off+n], pos: p}
		l.advance(n)
		l.lastSignificant = k
		return t
	}
	peek := func(i int) byte {
		if l.off+i < len(l.src) {
			return l.src[l.off+i]
		}
		return 0
	}
	switch c {
	case '\n', '\r':
		n := 1
		if c == '\r' && peek(1) == '\n' {
			n = 2
		}
		t := token{kind: tokNewline, text: "\n", pos: p}
		switch l.lastSignificant {
		case tokIdent, tokNumber, tokRBrace, tokRParen, tokStar: // SpiceDB lexes 123 as an identifier
			t.kind, t.synthetic = tokSemicolon, true
		}
		l.newline(n)
		l.lastSignificant = t.kind
		return t
	case '/':
		switch peek(1) {
		case '/':
			end := l.off
			for end < len(l.src) && l.src[end] != '\n' && l.src[end] != '\r' {
				end++
			}
			t := token{kind: tokComment, text: l.str[l.off:end], pos: p}
			l.advance(end - l.off)
			return t
		case '*':
			start := l.off
			l.advance(2)
			for {
				if l.off >= len(l.src) {
					l.errorf(p, "comment not terminated")
					return token{kind: tokComment, text: l.str[start:] + "*/", pos: p}
				}
				switch l.src[l.off] {
				case '*':
					if peek(1) == '/' {
						l.advance(2)
						return token{kind: tokComment, text: l.str[start:l.off], pos: p}
					}
					l.advance(1)
				case '\n':
					l.newline(1)
				case '\r':
					if peek(1) == '\n' {
						l.newline(2)
					} else {
						l.newline(1)
					}
				default:
					l.advance(1)
				}
			}
		}
		return tok(tokSlash, 1)
	case '{':
		return tok(tokLBrace, 1)
	case '}':
		return tok(tokRBrace, 1)
	case '(':
		return tok(tokLParen, 1)
	case ')':
		return tok(tokRParen, 1)
	case '[':
		return tok(tokLBracket, 1)
	case ']':
		return tok(tokRBracket, 1)
	case '+':
		return tok(tokPlus, 1)
	case '|':
		if peek(1) == '|' {
			return tok(tokOther, 2)
		}
		return tok(tokPipe, 1)
	case '&':
		if peek(1) == '&' {
			return tok(tokOther, 2)
		}
		return tok(tokAmp, 1)
	case '=':
		if peek(1) == '=' {
			return tok(tokOther, 2)
		}
		return tok(tokEquals, 1)
	case '!':
		if peek(1) == '=' {
			return tok(tokOther, 2)
		}
		return tok(tokOther, 1)
	case '<':
		if peek(1) == '=' {
			return tok(tokOther, 2)
		}
		return tok(tokLess, 1)
	case '>':
		if peek(1) == '=' {
			return tok(tokOther, 2)
		}
		return tok(tokGreater, 1)
	case '?', '%':
		return tok(tokOther, 1)
	case ':':
		return tok(tokColon, 1)
	case ';':
		return tok(tokSemicolon, 1)
	case '#':
		return tok(tokHash, 1)
	case '*':
		return tok(tokStar, 1)
	case ',':
		return tok(tokComma, 1)
	case '.':
		if peek(1) == '.' && peek(2) == '.' {
			return tok(tokEllipsis, 3)
		}
		return tok(tokPeriod, 1)
	case '-':
		if peek(1) == '>' {
			return tok(tokArrow, 2)
		}
		return tok(tokMinus, 1)
	case '"', '\'':
		return l.lexString(p)
	}
	r, size := utf8.DecodeRune(l.src[l.off:])
	if r == utf8.RuneError && size <= 1 {
		l.errorf(p, "invalid UTF-8 encoding")
		t := token{kind: tokError, text: l.str[l.off : l.off+1], pos: p}
		l.advance(1)
		return t
	}
	if isNameStart(r) {
		end := l.off
		for end < len(l.src) {
			r, size := utf8.DecodeRune(l.src[end:])
			if !isNameStart(r) || (r == utf8.RuneError && size <= 1) {
				break
			}
			end += size
		}
		kind := tokIdent
		allDigits := true
		for _, b := range l.src[l.off:end] {
			if b < '0' || b > '9' {
				allDigits = false
				break
			}
		}
		if allDigits {
			kind = tokNumber
		}
		return tok(kind, end-l.off)
	}
	l.errorf(p, "unexpected character %q", r)
	t := token{kind: tokError, text: string(r), pos: p}
	l.advance(size)
	return t
}

// lexString scans a CEL string literal: '...', "...", ”'...”' or """...""".
func (l *lexer) lexString(p Position) token {
	start := l.off
	q := l.src[l.off]
	triple := l.off+2 < len(l.src) && l.src[l.off+1] == q && l.src[l.off+2] == q
	if triple {
		l.advance(3)
	} else {
		l.advance(1)
	}
	for {
		if l.off >= len(l.src) {
			l.errorf(p, "string literal not terminated")
			break
		}
		c := l.src[l.off]
		if c == '\\' && l.off+1 < len(l.src) && l.src[l.off+1] != '\n' && l.src[l.off+1] != '\r' {
			l.advance(2)
			continue
		}
		if c == q {
			if !triple {
				l.advance(1)
				break
			}
			if l.off+2 < len(l.src) && l.src[l.off+1] == q && l.src[l.off+2] == q {
				l.advance(3)
				break
			}
		}
		if c == '\n' || c == '\r' {
			if !triple {
				l.errorf(p, "string literal not terminated")
				break
			}
			if c == '\r' && l.off+1 < len(l.src) && l.src[l.off+1] == '\n' {
				l.newline(2)
			} else {
				l.newline(1)
			}
			continue
		}
		l.advance(1)
	}
	l.lastSignificant = tokString
	return token{kind: tokString, text: l.str[start:l.off], pos: p}
}
