package caveats

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	celtypes "github.com/google/cel-go/common/types"

	"github.com/reach-authz/reach/schema"
)

// MaxExpressionSize is the longest caveat expression Compile accepts, in
// bytes of trimmed text (SpiceDB's maxCaveatExpressionSize).
const MaxExpressionSize = 100_000

// Param is one parameter of a compiled caveat.
type Param struct {
	Name string
	Type *Type
}

// Caveat is a compiled caveat, ready to be evaluated. It is immutable and
// safe for concurrent use.
type Caveat struct {
	name   string
	expr   string
	params []Param
	types  map[string]*Type
	env    *cel.Env
	prg    cel.Program
}

// Name returns the caveat's name.
func (c *Caveat) Name() string { return c.name }

// Expr returns the CEL expression as compiled.
func (c *Caveat) Expr() string { return c.expr }

// Params returns the parameters in declaration order.
func (c *Caveat) Params() []Param { return slices.Clone(c.params) }

// Option configures Compile.
type Option func(*options)

type options struct {
	maxCost uint64
}

// WithMaxCost limits the CEL cost of one evaluation; past it Evaluate
// fails with "operation cancelled: actual cost limit exceeded". Zero (the
// default) means no limit, as in SpiceDB's checks, which run caveats
// without one.
func WithMaxCost(cost uint64) Option { return func(o *options) { o.maxCost = cost } }

// Issue is one problem found in a caveat: a message and, when it lies in
// the expression, its 1-based line and column (in runes) inside the
// expression text; Line is 0 for problems outside it (a parameter's type).
type Issue struct {
	Line, Column int
	Msg          string
	// Pos is the place in the schema source, when known (CompileProgram
	// sets it for problems inside the expression); zero otherwise.
	Pos schema.Position
}

// CompileError reports why a caveat does not compile.
type CompileError struct {
	Caveat string
	Issues []Issue
}

func (e *CompileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "caveat %s: ", e.Caveat)
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteString("; ")
		}
		switch {
		case is.Pos.Line > 0:
			fmt.Fprintf(&b, "%s: ", is.Pos)
		case is.Line > 0:
			fmt.Fprintf(&b, "%d:%d: ", is.Line, is.Column)
		}
		b.WriteString(is.Msg)
	}
	return b.String()
}

// Compile compiles a caveat definition: it parses each parameter's type,
// then parses and type-checks the expression against the parameters, as
// SpiceDB does when it writes a schema. Names that are not parameters are
// refused ("undeclared reference to 'x'"), and the expression must be of
// type bool. Errors are *CompileError.
func Compile(c *schema.Caveat, opts ...Option) (*Caveat, error) {
	if c == nil {
		return nil, errors.New("caveats: Compile of a nil caveat")
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	cerr := &CompileError{Caveat: c.Name}
	cv := &Caveat{name: c.Name, expr: c.Expr, types: make(map[string]*Type, len(c.Params))}
	envOpts := []cel.EnvOption{
		cel.CustomTypeAdapter(typeAdapter{}),
		cel.Function("in_cidr",
			cel.MemberOverload("ipaddress_in_cidr_string",
				[]*cel.Type{ipAddressCELType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(inCIDR))),
		// SpiceDB evaluates timestamp functions (getHours, ...) in UTC.
		cel.DefaultUTCTimeZone(true),
	}
	for _, p := range c.Params {
		t, err := ParseType(p.Type)
		if err != nil {
			cerr.Issues = append(cerr.Issues, Issue{Msg: fmt.Sprintf("parameter `%s`: %v", p.Name, err)})
			continue
		}
		if _, dup := cv.types[p.Name]; dup {
			cerr.Issues = append(cerr.Issues, Issue{Msg: fmt.Sprintf("variable `%s` already exists", p.Name)})
			continue
		}
		cv.types[p.Name] = t
		cv.params = append(cv.params, Param{Name: p.Name, Type: t})
		envOpts = append(envOpts, cel.Variable(p.Name, t.cel))
	}
	if len(cerr.Issues) > 0 {
		return nil, cerr
	}
	if n := len(strings.TrimSpace(c.Expr)); n > MaxExpressionSize {
		cerr.Issues = append(cerr.Issues, Issue{Msg: fmt.Sprintf(
			"caveat expression provided exceeds maximum allowed size of %d characters", MaxExpressionSize)})
		return nil, cerr
	}
	env, err := cel.NewEnv(envOpts...)
	if err != nil {
		return nil, fmt.Errorf("caveat %s: building the CEL environment: %w", c.Name, err)
	}
	ast, iss := env.Compile(c.Expr)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			// CEL's lines are 1-based and its columns 0-based.
			cerr.Issues = append(cerr.Issues, Issue{Line: e.Location.Line(), Column: e.Location.Column() + 1, Msg: e.Message})
		}
		return nil, cerr
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		cerr.Issues = append(cerr.Issues, Issue{Msg: fmt.Sprintf(
			"caveat expression must result in a boolean value: found `%s`", ast.OutputType())})
		return nil, cerr
	}
	progOpts := []cel.ProgramOption{cel.EvalOptions(cel.OptPartialEval)}
	if o.maxCost > 0 {
		progOpts = append(progOpts, cel.CostLimit(o.maxCost))
	}
	prg, err := env.Program(ast, progOpts...)
	if err != nil {
		return nil, fmt.Errorf("caveat %s: building the CEL program: %w", c.Name, err)
	}
	cv.env, cv.prg = env, prg
	return cv, nil
}

// Outcome is the value of an evaluated caveat.
type Outcome uint8

const (
	// False: the caveat does not hold.
	False Outcome = iota
	// True: the caveat holds.
	True
	// Partial: the caveat cannot be decided without the parameters in
	// Result.Missing (SpiceDB's conditional permission).
	Partial
)

func (o Outcome) String() string {
	switch o {
	case False:
		return "false"
	case True:
		return "true"
	case Partial:
		return "partial"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Result is the result of evaluating a caveat (or an expression over
// caveats, see And, Or, Not).
type Result struct {
	Outcome Outcome
	// Missing lists, sorted and without duplicates, the parameters whose
	// values would decide a Partial result; nil otherwise.
	Missing []string
}

func (r Result) String() string {
	if r.Outcome == Partial {
		return "partial, missing " + strings.Join(r.Missing, ", ")
	}
	return r.Outcome.String()
}

// ParameterTypeError reports a context value that does not convert to its
// parameter's type (SpiceDB: ERROR_REASON_CAVEAT_PARAMETER_TYPE_ERROR, an
// InvalidArgument error of the whole request, not a denial).
type ParameterTypeError struct {
	Caveat string
	Param  string // "" when the error is not about one parameter
	Err    error
}

func (e *ParameterTypeError) Error() string {
	if e.Param == "" {
		return fmt.Sprintf("type error for parameters for caveat `%s`: %v", e.Caveat, e.Err)
	}
	return fmt.Sprintf("type error for parameters for caveat `%s`: could not convert context parameter `%s`: %v",
		e.Caveat, e.Param, e.Err)
}

func (e *ParameterTypeError) Unwrap() error { return e.Err }

// EvaluationError reports a failure while evaluating a caveat: an invalid
// CIDR, an index out of range, an overflow, the cost limit
// (SpiceDB: ERROR_REASON_CAVEAT_EVALUATION_ERROR, InvalidArgument).
type EvaluationError struct {
	Caveat string
	Err    error
}

func (e *EvaluationError) Error() string {
	return fmt.Sprintf("evaluation error for caveat %s: %v", e.Caveat, e.Err)
}

func (e *EvaluationError) Unwrap() error { return e.Err }

// Evaluate evaluates the caveat for one relationship. relCtx is the context
// stored with the relationship, reqCtx the one given with the request; the
// two are merged, the relationship's value winning for a name in both
// (SpiceDB's runExpressionWithCaveats: "the written context taking
// precedence"). Names that are not parameters are ignored. Values are
// converted with Type.Convert; a value that does not convert is a
// *ParameterTypeError. Parameters without a value are unknown: if the
// expression's value depends on them the result is Partial, listing them.
// A failure during evaluation is an *EvaluationError.
//
// Neither map is modified.
func (c *Caveat) Evaluate(relCtx, reqCtx map[string]any) (Result, error) {
	full := make(map[string]any, len(reqCtx)+len(relCtx))
	maps.Copy(full, reqCtx)
	maps.Copy(full, relCtx)

	values := make(map[string]any, len(full))
	if len(full) > 0 {
		if len(c.params) == 0 {
			return Result{}, &ParameterTypeError{Caveat: c.name, Err: errors.New("missing parameters for caveat")}
		}
		keys := slices.Sorted(maps.Keys(full))
		for _, k := range keys {
			t, ok := c.types[k]
			if !ok {
				continue
			}
			v, err := t.Convert(full[k])
			if err != nil {
				return Result{}, &ParameterTypeError{Caveat: c.name, Param: k, Err: err}
			}
			values[k] = v
		}
	}
	act, err := c.env.PartialVars(values)
	if err != nil {
		return Result{}, &EvaluationError{Caveat: c.name, Err: err}
	}
	val, _, err := c.prg.Eval(act)
	if val != nil && celtypes.IsUnknown(val) {
		return Result{Outcome: Partial, Missing: missingNames(val.(*celtypes.Unknown))}, nil
	}
	if err != nil {
		return Result{}, &EvaluationError{Caveat: c.name, Err: err}
	}
	b, ok := val.Value().(bool)
	if !ok {
		return Result{}, &EvaluationError{Caveat: c.name, Err: fmt.Errorf("expression gave %s, not a bool", val.Type().TypeName())}
	}
	if b {
		return Result{Outcome: True}, nil
	}
	return Result{Outcome: False}, nil
}

func missingNames(u *celtypes.Unknown) []string {
	var names []string
	for _, id := range u.IDs() {
		trails, ok := u.GetAttributeTrails(id)
		if !ok {
			continue
		}
		for _, t := range trails {
			names = append(names, t.Variable())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// And combines two results as SpiceDB's caveat expression AND: false if
// either is false; else partial if either is partial (missing names
// merged); else true.
func And(a, b Result) Result {
	if a.Outcome == False || b.Outcome == False {
		return Result{Outcome: False}
	}
	if a.Outcome == Partial || b.Outcome == Partial {
		return Result{Outcome: Partial, Missing: mergeNames(a.Missing, b.Missing)}
	}
	return Result{Outcome: True}
}

// Or combines two results as SpiceDB's caveat expression OR: true if
// either is true; else partial if either is partial; else false.
func Or(a, b Result) Result {
	if a.Outcome == True || b.Outcome == True {
		return Result{Outcome: True}
	}
	if a.Outcome == Partial || b.Outcome == Partial {
		return Result{Outcome: Partial, Missing: mergeNames(a.Missing, b.Missing)}
	}
	return Result{Outcome: False}
}

// Not inverts a result as SpiceDB's caveat expression NOT (used for the
// excluded side of an exclusion): true and false swap, partial stays.
func Not(a Result) Result {
	switch a.Outcome {
	case True:
		return Result{Outcome: False}
	case False:
		return Result{Outcome: True}
	}
	return Result{Outcome: Partial, Missing: slices.Clone(a.Missing)}
}

func mergeNames(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// CompileProgram compiles every caveat of a schema program, by name. The
// first caveat that does not compile ends it with its *CompileError; given
// src, the source the program was compiled from (not p.Source(), which is
// reformatted), the issues inside an expression also carry their position
// in it (Issue.Pos). A schema that compiles with schema.Compile but not
// here (a type error such as `a == 'x'` for an int a) is one SpiceDB
// refuses to write.
func CompileProgram(p *schema.Program, src []byte, opts ...Option) (map[string]*Caveat, error) {
	out := make(map[string]*Caveat, len(p.Caveats()))
	for _, sc := range p.Caveats() {
		c, err := Compile(sc, opts...)
		if err != nil {
			var ce *CompileError
			if errors.As(err, &ce) {
				locate(ce, sc, string(src))
			}
			return nil, err
		}
		out[sc.Name] = c
	}
	return out, nil
}

// locate sets the schema position of the issues inside the expression: the
// expression text is found after the caveat's own position in the source.
func locate(ce *CompileError, sc *schema.Caveat, src string) {
	off := sc.Pos.Offset
	if off < 0 || off > len(src) || sc.Expr == "" {
		return
	}
	i := strings.Index(src[off:], sc.Expr)
	if i < 0 {
		return
	}
	start := off + i
	for k := range ce.Issues {
		is := &ce.Issues[k]
		if is.Line <= 0 {
			continue
		}
		// Walk the expression to the issue's line and column (runes).
		pos, line, col := start, 1, 1
		for pos < len(src) && (line < is.Line || col < is.Column) {
			r, size := utf8.DecodeRuneInString(src[pos:])
			if line == is.Line && r == '\n' {
				break
			}
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
			pos += size
		}
		// The schema's line and column of that byte.
		sline, lineStart := 1, 0
		for j := 0; j < pos; j++ {
			if src[j] == '\n' {
				sline, lineStart = sline+1, j+1
			}
		}
		is.Pos = schema.Position{File: sc.Pos.File, Line: sline, Column: pos - lineStart + 1, Offset: pos}
	}
}

// ValidateContext checks a context to be stored with a relationship, as
// SpiceDB does when relationships are written: every name must be a
// parameter ("unknown parameter `x`") and every value must convert to its
// parameter's type ("could not convert context parameter `x`: for int:
// ..."). Names are checked in sorted order; the first problem is returned.
func (c *Caveat) ValidateContext(ctx map[string]any) error {
	if len(ctx) == 0 {
		return nil
	}
	if len(c.params) == 0 {
		return errors.New("missing parameters for caveat")
	}
	for _, k := range slices.Sorted(maps.Keys(ctx)) {
		t, ok := c.types[k]
		if !ok {
			return fmt.Errorf("unknown parameter `%s`", k)
		}
		if _, err := t.Convert(ctx[k]); err != nil {
			return fmt.Errorf("could not convert context parameter `%s`: %w", k, err)
		}
	}
	return nil
}
