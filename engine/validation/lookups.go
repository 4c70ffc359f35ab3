package validation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
	"gopkg.in/yaml.v3"
)

// Lookups is a parsed lookup-expectations file (`X.lookups.yaml` of the
// conformance corpus): the LookupResources answers, errors and conditional
// checks that SpiceDB gave over the schema and relationships of a matrix
// file, which it names. It is plain YAML, not a zed validate file:
//
//	source: "X.yaml"
//	matrix: "X.matrix.yaml"
//	lookupResources:
//	  - "document#view@user:tom -> [firstdoc, seconddoc]"
//	conditionalLookupResources: []   # same form, ids answered CONDITIONAL
//	erroredLookups: []               # {lookup: ..., error: ...}
//	erroredChecks: []                # {check: ..., error: ...}
//	conditionalChecks: []            # checks answered CONDITIONAL
type Lookups struct {
	Path   string
	Source string // the source file the matrix was computed from
	// Matrix is the matrix file, read and parsed; its schema and
	// relationships are the data the lookups run over.
	Matrix *File

	// Lookups has one entry per (resource type, permission, subject) named
	// in lookupResources, conditionalLookupResources or erroredLookups.
	Lookups []LookupExpectation
	// ErroredChecks must fail with an error; ConditionalChecks must be
	// answered conditional (their Kind is AssertCaveated).
	ErroredChecks     []Assertion
	ConditionalChecks []Assertion
}

// LookupExpectation is what LookupResources must return for one resource
// type, permission and subject: exactly IDs as definite results and
// exactly ConditionalIDs as conditional ones (both sorted), or, when
// WantError, an error.
type LookupExpectation struct {
	Text           string // resource_type#permission@subject, as written
	Line           int
	ResourceType   string
	Permission     string
	Subject        engine.Subject
	IDs            []string
	ConditionalIDs []string
	WantError      bool
}

// IsLookups reports whether data looks like a lookup-expectations file: a
// YAML mapping with a `matrix` or `lookupResources` key (and none of the
// keys of a validation file).
func IsLookups(data []byte) bool {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "matrix", "lookupResources":
			return true
		}
	}
	return false
}

// ReadLookups reads the lookup-expectations file at path and the matrix
// file it names (relative to its directory).
func ReadLookups(path string) (*Lookups, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	return ParseLookups(path, data, func(name string) (*File, error) {
		return Read(filepath.Join(dir, name))
	})
}

// ParseLookups parses a lookup-expectations file; readMatrix reads and
// parses the matrix file it names.
func ParseLookups(path string, data []byte, readMatrix func(name string) (*File, error)) (*Lookups, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrSyntax, err)
	}
	if doc.Kind == 0 {
		return nil, fmt.Errorf("%s: %w: empty file", path, ErrSyntax)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, syntaxErr(path, root, "a lookups file must be a mapping with matrix and lookupResources")
	}
	l := &Lookups{Path: path}
	type key struct {
		typ, perm string
		subject   engine.Subject
	}
	byKey := map[key]int{}
	get := func(text string, line int) (int, error) {
		typ, perm, subj, err := parseLookup(text)
		if err != nil {
			return 0, err
		}
		k := key{typ, perm, subj}
		if i, ok := byKey[k]; ok {
			return i, nil
		}
		l.Lookups = append(l.Lookups, LookupExpectation{Text: text, Line: line, ResourceType: typ, Permission: perm, Subject: subj})
		byKey[k] = len(l.Lookups) - 1
		return len(l.Lookups) - 1, nil
	}
	// Entries are collected first, so that the matrix file is read only
	// once the file itself is known to be well formed.
	type entry struct {
		block string
		node  *yaml.Node
		text  string
		ids   []string
	}
	var entries []entry
	var matrixName string
	var matrixNode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "source":
			if err := scalar(path, "source", v, &l.Source); err != nil {
				return nil, err
			}
		case "matrix":
			if err := scalar(path, "matrix", v, &matrixName); err != nil {
				return nil, err
			}
			matrixNode = v
		case "lookupResources", "conditionalLookupResources":
			items, err := sequence(path, k.Value, v)
			if err != nil {
				return nil, err
			}
			for _, n := range items {
				if n.Kind != yaml.ScalarNode {
					return nil, syntaxErr(path, n, "%s entries must be strings", k.Value)
				}
				text, ids, err := parseLookupResult(n.Value)
				if err != nil {
					return nil, syntaxErr(path, n, "%v", err)
				}
				entries = append(entries, entry{k.Value, n, text, ids})
			}
		case "erroredLookups", "erroredChecks":
			items, err := sequence(path, k.Value, v)
			if err != nil {
				return nil, err
			}
			field := map[string]string{"erroredLookups": "lookup", "erroredChecks": "check"}[k.Value]
			for _, n := range items {
				var e map[string]string
				if n.Kind != yaml.MappingNode || n.Decode(&e) != nil || e[field] == "" {
					return nil, syntaxErr(path, n, "%s entries must be mappings with %s and error", k.Value, field)
				}
				entries = append(entries, entry{k.Value, n, e[field], nil})
			}
		case "conditionalChecks":
			items, err := sequence(path, k.Value, v)
			if err != nil {
				return nil, err
			}
			for _, n := range items {
				if n.Kind != yaml.ScalarNode {
					return nil, syntaxErr(path, n, "conditionalChecks entries must be strings")
				}
				entries = append(entries, entry{k.Value, n, n.Value, nil})
			}
		default:
			return nil, syntaxErr(path, k, "unknown key %q (want source, matrix, lookupResources, conditionalLookupResources, erroredLookups, erroredChecks or conditionalChecks)", k.Value)
		}
	}
	if matrixNode == nil || matrixName == "" {
		return nil, fmt.Errorf("%s: %w: no matrix file named (give matrix: X.matrix.yaml)", path, ErrSyntax)
	}
	if !filepath.IsLocal(filepath.FromSlash(matrixName)) {
		return nil, syntaxErr(path, matrixNode, "matrix %q must be a relative path inside the file's directory", matrixName)
	}
	seen := map[string]map[int]bool{}
	for _, e := range entries {
		switch e.block {
		case "erroredChecks", "conditionalChecks":
			kind := AssertCaveated
			if e.block == "erroredChecks" {
				kind = AssertFalse // the kind is not used: an errored check must fail
			}
			a, err := parseAssertion(kind, e.text)
			if err != nil {
				return nil, syntaxErr(path, e.node, "%v", err)
			}
			a.Line = e.node.Line
			if e.block == "erroredChecks" {
				l.ErroredChecks = append(l.ErroredChecks, a)
			} else {
				l.ConditionalChecks = append(l.ConditionalChecks, a)
			}
			continue
		}
		i, err := get(e.text, e.node.Line)
		if err != nil {
			return nil, syntaxErr(path, e.node, "%v", err)
		}
		if seen[e.block] == nil {
			seen[e.block] = map[int]bool{}
		}
		if seen[e.block][i] {
			return nil, syntaxErr(path, e.node, "%s lists %q twice", e.block, e.text)
		}
		seen[e.block][i] = true
		le := &l.Lookups[i]
		switch e.block {
		case "lookupResources":
			le.IDs = e.ids
		case "conditionalLookupResources":
			le.ConditionalIDs = e.ids
		case "erroredLookups":
			le.WantError = true
		}
	}
	if readMatrix == nil {
		return nil, syntaxErr(path, matrixNode, "matrix %q cannot be read here", matrixName)
	}
	m, err := readMatrix(filepath.FromSlash(matrixName))
	if err != nil {
		return nil, fmt.Errorf("%s:%d: matrix: %w", path, matrixNode.Line, err)
	}
	l.Matrix = m
	return l, nil
}

func sequence(path, key string, n *yaml.Node) ([]*yaml.Node, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, syntaxErr(path, n, "%s must be a list", key)
	}
	return n.Content, nil
}

// parseLookupResult splits "type#permission@subject -> [id1, id2]".
func parseLookupResult(s string) (string, []string, error) {
	text, list, ok := strings.Cut(s, " -> ")
	list = strings.TrimSpace(list)
	if !ok || !strings.HasPrefix(list, "[") || !strings.HasSuffix(list, "]") {
		return "", nil, fmt.Errorf("lookup %q: want `type#permission@subject -> [id, ...]`", s)
	}
	ids := []string{}
	if inner := strings.TrimSpace(list[1 : len(list)-1]); inner != "" {
		for _, id := range strings.Split(inner, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				return "", nil, fmt.Errorf("lookup %q: empty resource id", s)
			}
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return "", nil, fmt.Errorf("lookup %q: resource id %q listed twice", s, ids[i])
		}
	}
	return strings.TrimSpace(text), ids, nil
}

// parseLookup reads "resource_type#permission@subject_type:subject_id[#relation]".
func parseLookup(s string) (typ, perm string, subj engine.Subject, err error) {
	typ, rest, ok := strings.Cut(s, "#")
	if !ok || strings.Contains(typ, ":") {
		return "", "", subj, fmt.Errorf("lookup %q: want resource_type#permission@subject", s)
	}
	// Parse it as a relationship on a placeholder resource, for its checks
	// of names and ids.
	r, err := tuples.Parse(typ + ":_#" + rest)
	if err != nil {
		return "", "", subj, fmt.Errorf("lookup %q: %v", s, err)
	}
	if r.Caveat != nil || r.Expiration != nil || r.IsWildcard() {
		return "", "", subj, fmt.Errorf("lookup %q: the subject must be a plain subject or subject set, without caveat or expiration", s)
	}
	return r.ResourceType, r.Relation, engine.Subject{Type: r.SubjectType, ID: r.SubjectID, Relation: r.SubjectRelation}, nil
}

// Lookup expectation kinds, as AssertionResult.Kind reports them.
const (
	KindLookupResources  = "lookupResources"
	KindErroredLookup    = "erroredLookup"
	KindErroredCheck     = "erroredCheck"
	KindConditionalCheck = "conditionalCheck"
)

// NeedsLookups lists the features l needs that opts turns off: those of its
// matrix file, and caveats for conditional results.
func NeedsLookups(l *Lookups, opts Options) []string {
	need := needs(l.Matrix, nil, opts, filepath.Base(l.Matrix.Path)+" line")
	if opts.Caveats {
		return need
	}
	var why []string
	for _, le := range l.Lookups {
		if len(le.ConditionalIDs) > 0 {
			why = append(why, fmt.Sprintf("line %d: conditional lookup results", le.Line))
			break
		}
	}
	if len(l.ConditionalChecks) > 0 {
		why = append(why, fmt.Sprintf("line %d: conditional checks", l.ConditionalChecks[0].Line))
	}
	if len(why) > 0 && !slices.ContainsFunc(need, func(s string) bool { return strings.HasPrefix(s, "caveats") }) {
		need = append([]string{"caveats (" + strings.Join(why, "; ") + ")"}, need...)
	}
	return need
}

// RunLookups loads l's matrix file into a fresh in-memory store and checks
// every expectation: each lookup's results, each errored check and lookup,
// each conditional check. The Result reports them as assertions (kinds
// KindLookupResources, KindErroredLookup, KindErroredCheck,
// KindConditionalCheck).
func RunLookups(ctx context.Context, l *Lookups, opts Options) (*Result, error) {
	res := &Result{Path: l.Path, Kind: KindLookups, Relationships: len(l.Matrix.Relationships)}
	if need := NeedsLookups(l, opts); len(need) > 0 {
		res.Status, res.Unsupported = Unsupported, need
		return res, nil
	}
	env, err := LoadInto(ctx, l.Matrix, opts.Engine, opts.Open)
	if err != nil {
		if errors.Is(err, ErrLoad) {
			res.Status, res.Error = Invalid, err.Error()
			return res, nil
		}
		return nil, err
	}
	defer env.Close()
	if need := needs(l.Matrix, env.Program, opts, filepath.Base(l.Matrix.Path)+" line"); len(need) > 0 {
		res.Status, res.Unsupported = Unsupported, need
		return res, nil
	}
	for _, le := range l.Lookups {
		ar, err := env.lookup(ctx, l, le)
		if err != nil {
			res.Status, res.Error = Invalid, err.Error()
			return res, nil
		}
		res.Assertions = append(res.Assertions, ar)
	}
	for _, a := range l.ErroredChecks {
		ar, err := env.assert(ctx, l.Path, a)
		if err != nil {
			res.Status, res.Error = Invalid, err.Error()
			return res, nil
		}
		ar.Kind = KindErroredCheck
		ar.Passed = ar.Got == "error"
		ar.Explanation = ""
		res.Assertions = append(res.Assertions, ar)
	}
	for _, a := range l.ConditionalChecks {
		ar, err := env.assert(ctx, l.Path, a)
		if err != nil {
			res.Status, res.Error = Invalid, err.Error()
			return res, nil
		}
		ar.Kind = KindConditionalCheck
		res.Assertions = append(res.Assertions, ar)
	}
	res.Status = Passed
	if _, failed := res.Counts(); failed > 0 {
		res.Status = Failed
	}
	return res, nil
}

// lookup runs one LookupResources expectation. On a mismatch the
// explanation lists each id missing or extra with what Check answers for
// it, to tell a lookup bug from a check bug.
func (e *Env) lookup(ctx context.Context, l *Lookups, le LookupExpectation) (AssertionResult, error) {
	kind := KindLookupResources
	if le.WantError {
		kind = KindErroredLookup
	}
	ar := AssertionResult{Kind: kind, Text: le.Text, Line: le.Line}
	if err := e.checkNames(engine.CheckRequest{Resource: engine.Object{Type: le.ResourceType, ID: "_"}, Permission: le.Permission, Subject: le.Subject}); err != nil {
		return ar, fmt.Errorf("%s:%d: lookup %q: %w", l.Path, le.Line, le.Text, err)
	}
	req := engine.LookupResourcesRequest{
		ResourceType: le.ResourceType,
		Permission:   le.Permission,
		Subject:      le.Subject,
		Consistency:  engine.Consistency{Mode: engine.FullyConsistent},
	}
	got, cond := []string{}, []string{}
	_, err := e.Engine.LookupResources(ctx, req, func(r engine.LookupResult) bool {
		if r.Permissionship == engine.Conditional {
			cond = append(cond, r.ResourceID)
		} else {
			got = append(got, r.ResourceID)
		}
		return true
	})
	if err != nil {
		ar.Got, ar.Error = "error", err.Error()
		ar.Passed = le.WantError
		return ar, nil
	}
	sort.Strings(got)
	sort.Strings(cond)
	ar.Got = formatIDs(got)
	if len(cond) > 0 {
		ar.Got += " conditional " + formatIDs(cond)
	}
	if le.WantError {
		return ar, nil
	}
	want := le.IDs
	if want == nil {
		want = []string{}
	}
	wantCond := le.ConditionalIDs
	if wantCond == nil {
		wantCond = []string{}
	}
	ar.Passed = slices.Equal(got, want) && slices.Equal(cond, wantCond)
	if !ar.Passed {
		var b strings.Builder
		fmt.Fprintf(&b, "want %s", formatIDs(want))
		if len(wantCond) > 0 {
			fmt.Fprintf(&b, " conditional %s", formatIDs(wantCond))
		}
		e.explainDiff(ctx, &b, le, "missing", difference(want, got))
		e.explainDiff(ctx, &b, le, "unexpected", difference(got, want))
		e.explainDiff(ctx, &b, le, "missing conditional", difference(wantCond, cond))
		e.explainDiff(ctx, &b, le, "unexpected conditional", difference(cond, wantCond))
		ar.Explanation = b.String()
	}
	return ar, nil
}

func (e *Env) explainDiff(ctx context.Context, b *strings.Builder, le LookupExpectation, what string, ids []string) {
	for _, id := range ids {
		req := engine.CheckRequest{
			Resource:    engine.Object{Type: le.ResourceType, ID: id},
			Permission:  le.Permission,
			Subject:     le.Subject,
			Consistency: engine.Consistency{Mode: engine.FullyConsistent},
		}
		res, err := e.Engine.Check(ctx, req)
		if err != nil {
			fmt.Fprintf(b, "\n%s %s: check %s: error: %v", what, id, req.Resource, err)
			continue
		}
		fmt.Fprintf(b, "\n%s %s: check %s#%s@%s is %s", what, id, req.Resource, le.Permission, le.Subject, res.Permissionship)
	}
}

func formatIDs(ids []string) string { return "[" + strings.Join(ids, ", ") + "]" }

// difference returns the elements of sorted a not in sorted b.
func difference(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
		}
	}
	return out
}

// RunPath reads the file at path, a validation file or a lookups file
// (IsLookups), and runs it. A file that cannot be read or parsed gives a
// Result with Status Invalid; the error is only for a failure of the
// machinery.
func RunPath(ctx context.Context, path string, opts Options) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Result{Path: path, Status: Invalid, Error: err.Error()}, nil
	}
	if IsLookups(data) {
		dir := filepath.Dir(path)
		l, err := ParseLookups(path, data, func(name string) (*File, error) { return Read(filepath.Join(dir, name)) })
		if err != nil {
			return &Result{Path: path, Status: Invalid, Error: err.Error()}, nil
		}
		return RunLookups(ctx, l, opts)
	}
	f, err := Parse(path, data, func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(filepath.Dir(path), name)) })
	if err != nil {
		return &Result{Path: path, Status: Invalid, Error: err.Error()}, nil
	}
	return Run(ctx, f, opts)
}
