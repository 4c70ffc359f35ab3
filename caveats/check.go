package caveats

import (
	"errors"
	"fmt"

	"github.com/reach-authz/reach/schema"
)

// CheckProgram type-checks the CEL expressions of p's caveats, as SpiceDB
// does when a schema is written (an int compared with a string, a name that
// is no parameter): the schema compiler only parses them. The faults come
// back as schema diagnostics (errors), at their place in src where known;
// none when every caveat compiles.
func CheckProgram(p *schema.Program, src []byte) schema.ErrorList {
	if len(p.Caveats()) == 0 {
		return nil
	}
	_, err := CompileProgram(p, src)
	if err == nil {
		return nil
	}
	var ce *CompileError
	if !errors.As(err, &ce) || len(ce.Issues) == 0 {
		var pos schema.Position
		if ce != nil && p.Caveat(ce.Caveat) != nil {
			pos = p.Caveat(ce.Caveat).Pos
		}
		return schema.ErrorList{{Pos: pos, Severity: schema.Error, Msg: err.Error()}}
	}
	var out schema.ErrorList
	for _, is := range ce.Issues {
		pos := is.Pos
		if pos.Line == 0 {
			if c := p.Caveat(ce.Caveat); c != nil {
				pos = c.Pos
			}
		}
		out = append(out, schema.Diagnostic{Pos: pos, Severity: schema.Error, Msg: fmt.Sprintf("caveat %s: %s", ce.Caveat, is.Msg)})
	}
	return out
}
