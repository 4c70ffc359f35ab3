package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Severity tells an error (the schema is refused) from a warning (the
// schema is accepted, but probably not what its author meant).
type Severity uint8

const (
	// Error makes Compile fail.
	Error Severity = iota + 1
	// Warning is reported but does not make Compile fail (unless the caller
	// is strict, as `reach schema validate --strict` is).
	Warning
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "unknown"
}

// Diagnostic is one fault found in a schema.
type Diagnostic struct {
	Pos      Position
	Severity Severity
	Msg      string
}

// String formats the diagnostic as FILE:LINE:COL: message (warnings as
// FILE:LINE:COL: warning: message).
func (d Diagnostic) String() string {
	if d.Severity == Warning {
		return d.Pos.String() + ": warning: " + d.Msg
	}
	return d.Pos.String() + ": " + d.Msg
}

// String formats the position as FILE:LINE:COL (LINE:COL without a file).
func (p Position) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Column)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// ErrorList is the error Compile returns: every error found, in source
// order. Its Error() prints one `FILE:LINE:COL: message` per line.
type ErrorList []Diagnostic

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, d := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// sortDiags orders diagnostics by position, keeping the order of those at
// the same place.
func sortDiags(d []Diagnostic) {
	sort.SliceStable(d, func(i, j int) bool {
		if d[i].Pos.File != d[j].Pos.File {
			return d[i].Pos.File < d[j].Pos.File
		}
		return d[i].Pos.Offset < d[j].Pos.Offset
	})
}

// errorsOf returns the errors among diags as an ErrorList, or nil.
func errorsOf(diags []Diagnostic) error {
	var l ErrorList
	for _, d := range diags {
		if d.Severity == Error {
			l = append(l, d)
		}
	}
	if len(l) == 0 {
		return nil
	}
	return l
}
