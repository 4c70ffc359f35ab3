package schema

import "fmt"

// Limits on what Parse and Compile accept. Parsing, checking and compiling
// take time linear in the size of the source, so these bound the work a
// hostile schema can ask for, and they keep the engine's walk of a
// permission shallow. Each is far above what a real schema needs: a
// SpiceDB-class schema of thousands of lines is a few hundred KiB, and a real
// permission has tens of terms. A schema beyond a limit is refused with an
// error at the place where the limit is crossed.
const (
	// MaxSourceBytes is the largest schema source accepted: 4 MiB, the
	// limit SpiceDB's API puts on a schema (WriteSchemaRequest.schema,
	// max_bytes 4194304). The error points at the first byte past it.
	MaxSourceBytes = 4 << 20

	// MaxExprTerms is the most terms one permission's expression may
	// have: names, `nil` and arrow steps (`a->b` is two). `a - b - c` with n
	// terms nests n-1 exclusions, which the engine walks one within the
	// other. The error points at the first term past the limit.
	MaxExprTerms = 10_000

	// MaxExprDepth is the deepest nesting of parentheses in a permission's
	// expression, and of type arguments in a caveat parameter's type
	// (`list<list<int>>` is 2): the parser descends one level of its stack
	// per level of nesting. The error points at the first level too deep.
	MaxExprDepth = 200
)

// limits are the limits one parse applies: the constants above, raised in
// tests that show the work stays linear past them.
type limits struct {
	sourceBytes int
	exprTerms   int
	exprDepth   int
}

var defaultLimits = limits{
	sourceBytes: MaxSourceBytes,
	exprTerms:   MaxExprTerms,
	exprDepth:   MaxExprDepth,
}

// sizeError reports a source larger than lim.sourceBytes, at the first byte
// past the limit, or returns nil.
func (lim limits) sizeError(filename string, src []byte) *Diagnostic {
	if len(src) <= lim.sourceBytes {
		return nil
	}
	pos := positionAfter(Position{File: filename, Line: 1, Column: 1}, src, lim.sourceBytes)
	return &Diagnostic{Pos: pos, Severity: Error, Msg: fmt.Sprintf(
		"schema too large: %d bytes, more than the limit of %d (%s); nothing past this point was read",
		len(src), lim.sourceBytes, byteSize(lim.sourceBytes))}
}

// byteSize writes n bytes as people do: 4 MiB, 512 KiB, 100 bytes.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
