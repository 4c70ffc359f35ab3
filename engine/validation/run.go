package validation

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Status is the outcome of a file or an assertion.
type Status uint8

const (
	// Passed: every assertion and expected relation holds.
	Passed Status = iota + 1
	// Failed: at least one assertion or expected relation does not hold.
	Failed
	// Unsupported: the file needs a feature the engine does not evaluate
	// (caveats, relationship expiration); it was not run.
	Unsupported
	// Invalid: the file cannot be loaded (schema errors, a bad relationship
	// or assertion).
	Invalid
)

func (s Status) String() string {
	switch s {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	case Unsupported:
		return "unsupported"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// MarshalText prints the status by name (for JSON output).
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Options configure Run.
type Options struct {
	// Caveats and Expiration say whether the engine evaluates caveats and
	// relationship expiration. A file that needs a feature that is off is
	// reported Unsupported and not run.
	Caveats    bool
	Expiration bool
	// Engine configures the engine over the in-memory store.
	Engine engine.Options
	// Open, if not nil, opens the fresh, empty store each file is loaded
	// into (and closed after), instead of an in-memory Badger store: the
	// conformance tests run on every datastore through it.
	Open func(ctx context.Context) (datastore.Datastore, error)
}

// DefaultOptions are the options matching what the engine evaluates today:
// relationship expiration (the store reads an expired relationship as
// absent, and the check cache keeps no answer that rests on an expiring
// one) and caveats (each caveated relationship is evaluated with the
// assertion's context: true, false, or conditional when parameters are
// missing).
func DefaultOptions() Options { return Options{Caveats: true, Expiration: true} }

// Result is the outcome of one validation file.
type Result struct {
	Path string `json:"file"`
	// Kind is KindValidation for a validation file, KindLookups for a
	// lookup-expectations file.
	Kind   string `json:"kind"`
	Status Status `json:"status"`
	// Unsupported says which features the file needs that are off.
	Unsupported []string `json:"unsupported,omitempty"`
	// Error is why an Invalid file could not be loaded.
	Error         string            `json:"error,omitempty"`
	Warnings      []string          `json:"warnings,omitempty"`
	Relationships int               `json:"relationships"`
	Assertions    []AssertionResult `json:"assertions,omitempty"`
	// ExpectedRelations is how many `validation` entries were compared;
	// Validation lists their differences.
	ExpectedRelations int                 `json:"expected_relations"`
	Validation        []ValidationFailure `json:"validation_failures,omitempty"`
}

// Result kinds.
const (
	KindValidation = "validation"
	KindLookups    = "lookups"
)

// Counts returns how many assertions passed and failed.
func (r *Result) Counts() (passed, failed int) {
	for _, a := range r.Assertions {
		if a.Passed {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// Failures returns the failed assertions.
func (r *Result) Failures() []AssertionResult {
	var out []AssertionResult
	for _, a := range r.Assertions {
		if !a.Passed {
			out = append(out, a)
		}
	}
	return out
}

// AssertionResult is the outcome of one assertion.
type AssertionResult struct {
	Kind   string `json:"kind"`
	Text   string `json:"assertion"`
	Line   int    `json:"line"`
	Passed bool   `json:"passed"`
	// Got is the engine's answer (allowed, denied, conditional), or "error".
	Got string `json:"got"`
	// Error is the check's error, if it failed with one.
	Error string `json:"error,omitempty"`
	// Explanation explains a failure: the proof of an unexpected "allowed",
	// or the branches tried for an unexpected "denied".
	Explanation string `json:"explanation,omitempty"`
}

// Needs lists the features f needs that opts turns off: caveats (caveat
// definitions in the schema, caveated relationships, caveat context in
// assertions, assertCaveated) and relationship expiration (`use
// expiration`, relationships with an expiration). prog may be nil, in which
// case the schema is inspected textually.
func Needs(f *File, prog *schema.Program, opts Options) []string {
	return needs(f, prog, opts, "line")
}

// needs is Needs, naming a line of f as `where N`.
func needs(f *File, prog *schema.Program, opts Options, where string) []string {
	var caveats, expiration []string
	if prog != nil {
		if cs := prog.Caveats(); len(cs) > 0 {
			caveats = append(caveats, fmt.Sprintf("the schema defines caveat %s", cs[0].Name))
		}
		if prog.UsesExpiration() {
			expiration = append(expiration, "the schema uses expiration")
		}
	}
	for _, l := range f.Relationships {
		r, err := tuples.Parse(l.Text)
		if err != nil {
			continue
		}
		if r.Caveat != nil && len(caveats) < 2 {
			caveats = append(caveats, fmt.Sprintf("%s %d: caveated relationship", where, l.Line))
		}
		if r.Expiration != nil && len(expiration) < 2 {
			expiration = append(expiration, fmt.Sprintf("%s %d: relationship with expiration", where, l.Line))
		}
	}
	for _, a := range f.Assertions {
		if a.Kind == AssertCaveated && len(caveats) < 3 {
			caveats = append(caveats, fmt.Sprintf("%s %d: assertCaveated", where, a.Line))
		}
		if a.Context != nil && len(caveats) < 3 {
			caveats = append(caveats, fmt.Sprintf("%s %d: assertion with caveat context", where, a.Line))
		}
	}
	var out []string
	if !opts.Caveats && len(caveats) > 0 {
		out = append(out, "caveats ("+strings.Join(caveats, "; ")+")")
	}
	if !opts.Expiration && len(expiration) > 0 {
		out = append(out, "relationship expiration ("+strings.Join(expiration, "; ")+")")
	}
	return out
}

// Run loads f into a fresh in-memory store and checks every assertion and
// expected relation. Problems with the file itself give a Result with
// Status Invalid; the error is only for a failure of the machinery.
func Run(ctx context.Context, f *File, opts Options) (*Result, error) {
	res := &Result{Path: f.Path, Kind: KindValidation, Relationships: len(f.Relationships)}
	if need := Needs(f, nil, opts); len(need) > 0 {
		res.Status, res.Unsupported = Unsupported, need
		return res, nil
	}
	env, err := LoadInto(ctx, f, opts.Engine, opts.Open)
	if err != nil {
		if errors.Is(err, ErrLoad) {
			res.Status, res.Error = Invalid, err.Error()
			return res, nil
		}
		return nil, err
	}
	defer env.Close()
	for _, d := range env.Diagnostics {
		res.Warnings = append(res.Warnings, d.String())
	}
	if need := Needs(f, env.Program, opts); len(need) > 0 {
		res.Status, res.Unsupported = Unsupported, need
		return res, nil
	}
	for _, a := range f.Assertions {
		ar, err := env.assert(ctx, f.Path, a)
		if err != nil {
			res.Status, res.Error = Invalid, err.Error()
			return res, nil
		}
		res.Assertions = append(res.Assertions, ar)
	}
	vf, err := env.validate(ctx, f)
	if err != nil {
		res.Status, res.Error = Invalid, err.Error()
		return res, nil
	}
	res.Validation = vf
	res.ExpectedRelations = len(f.Validation)
	res.Status = Passed
	if _, failed := res.Counts(); failed > 0 || len(vf) > 0 {
		res.Status = Failed
	}
	return res, nil
}

// ParseCheck reads an assertion's relationship part,
// `type:id#permission@subject_type:subject_id[#relation]`, into a check.
func ParseCheck(s string) (engine.CheckRequest, error) {
	r, err := tuples.Parse(s)
	if err != nil {
		return engine.CheckRequest{}, err
	}
	if r.Caveat != nil || r.Expiration != nil {
		return engine.CheckRequest{}, fmt.Errorf("%q: an assertion takes no caveat or expiration (give caveat context with ` with {json}`)", s)
	}
	if r.IsWildcard() {
		return engine.CheckRequest{}, fmt.Errorf("%q: cannot check a wildcard subject", s)
	}
	rel := r.SubjectRelation
	if rel == tuples.Ellipsis {
		rel = ""
	}
	return engine.CheckRequest{
		Resource:    engine.Object{Type: r.ResourceType, ID: r.ResourceID},
		Permission:  r.Relation,
		Subject:     engine.Subject{Type: r.SubjectType, ID: r.SubjectID, Relation: rel},
		Consistency: engine.Consistency{Mode: engine.FullyConsistent},
	}, nil
}

// assert checks one assertion. An assertion that does not parse or names
// something the schema lacks is an error (the file is invalid), as in zed.
func (e *Env) assert(ctx context.Context, path string, a Assertion) (AssertionResult, error) {
	ar := AssertionResult{Kind: a.Kind.String(), Text: a.Text, Line: a.Line}
	req, err := ParseCheck(a.Relationship)
	if err != nil {
		return ar, fmt.Errorf("%s:%d: %s: %w", path, a.Line, a.Kind, err)
	}
	if err := e.checkNames(req); err != nil {
		return ar, fmt.Errorf("%s:%d: %s %q: %w", path, a.Line, a.Kind, a.Relationship, err)
	}
	req.Context = a.Context
	got, err := e.Engine.Check(ctx, req)
	if err != nil {
		ar.Got, ar.Error = "error", err.Error()
		return ar, nil
	}
	ar.Got = got.Permissionship.String()
	want := map[AssertionKind]engine.Permissionship{AssertTrue: engine.Allowed, AssertFalse: engine.Denied, AssertCaveated: engine.Conditional}[a.Kind]
	ar.Passed = got.Permissionship == want
	if !ar.Passed {
		req.Explain = true
		if ex, err := e.Engine.Check(ctx, req); err == nil && ex.Explanation != nil {
			ar.Explanation = explain(ex.Explanation)
		}
	}
	return ar, nil
}

// checkNames makes sure the check names a defined type and relation or
// permission and a defined subject type, so that a typo in an assertion is
// reported rather than read as "denied".
func (e *Env) checkNames(req engine.CheckRequest) error {
	if e.Program.Definition(req.Resource.Type) == nil {
		return fmt.Errorf("object definition `%s` not found", req.Resource.Type)
	}
	if e.Program.Lookup(req.Resource.Type, req.Permission) == nil {
		return fmt.Errorf("relation or permission `%s` not found on `%s`", req.Permission, req.Resource.Type)
	}
	if e.Program.Definition(req.Subject.Type) == nil {
		return fmt.Errorf("subject definition `%s` not found", req.Subject.Type)
	}
	if req.Subject.Relation != "" && e.Program.Lookup(req.Subject.Type, req.Subject.Relation) == nil {
		return fmt.Errorf("relation or permission `%s` not found on `%s`", req.Subject.Relation, req.Subject.Type)
	}
	return nil
}
