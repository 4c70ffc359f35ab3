package playground

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/internal/impact"
	"github.com/reach-authz/reach/schema"
)

// consistency is what every query reads: the head of the state's store.
var consistency = engine.Consistency{Mode: engine.FullyConsistent}

// analyzeResponse is what the page shows as you type.
type analyzeResponse struct {
	// Valid is whether the schema compiles (the graph, objects and
	// assertions are then set).
	Valid               bool              `json:"valid"`
	SchemaDiagnostics   []Diagnostic      `json:"schema_diagnostics"`
	RelDiagnostics      []Diagnostic      `json:"relationship_diagnostics"`
	AssertionDiagnostic []Diagnostic      `json:"assertion_diagnostics"`
	Assertions          []assertionResult `json:"assertions"`
	Graph               *Graph            `json:"graph,omitempty"`
	// Objects are the objects the relationships name, "type:id", sorted.
	Objects []string `json:"objects"`
	// Types lists each definition with its relations and permissions.
	Types []typeInfo `json:"types"`
}

type typeInfo struct {
	Name        string   `json:"name"`
	Relations   []string `json:"relations"`
	Permissions []string `json:"permissions"`
}

type assertionResult struct {
	Line   int    `json:"line"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
	Got    string `json:"got"`
	Passed bool   `json:"passed"`
}

func (s *Server) analyze(ctx context.Context, body json.RawMessage) (any, error) {
	var st State
	if err := decode(body, &st); err != nil {
		return nil, err
	}
	l, err := s.load(ctx, st)
	if err != nil {
		return nil, err
	}
	defer l.release()
	out := &analyzeResponse{
		Valid: l.prog != nil, SchemaDiagnostics: l.schemaDiags, RelDiagnostics: emptyIfNil(l.relDiags),
		AssertionDiagnostic: []Diagnostic{}, Assertions: []assertionResult{}, Objects: []string{}, Types: []typeInfo{},
	}
	if l.prog == nil {
		return out, nil
	}
	out.Graph = buildGraph(l.prog)
	for _, d := range l.prog.Definitions() {
		ti := typeInfo{Name: d.Name, Relations: []string{}, Permissions: []string{}}
		for _, r := range d.Relations {
			if r.Kind == schema.KindPermission {
				ti.Permissions = append(ti.Permissions, r.Name)
			} else {
				ti.Relations = append(ti.Relations, r.Name)
			}
		}
		out.Types = append(out.Types, ti)
	}
	for _, o := range l.env.Objects {
		out.Objects = append(out.Objects, o.String())
	}
	asserts, diags := parseAssertions(st.Assertions)
	out.AssertionDiagnostic = diags
	for _, a := range asserts {
		res, err := runAssertion(ctx, l, a)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			out.AssertionDiagnostic = append(out.AssertionDiagnostic, Diagnostic{Line: a.Line, Column: 1, Severity: "error", Message: err.Error()})
			continue
		}
		out.Assertions = append(out.Assertions, res)
	}
	return out, nil
}

// parseAssertions reads the assertions editor (the YAML of a validation
// file's `assertions` block) with engine/validation's parser; positions are
// the editor's.
func parseAssertions(text string) ([]validation.Assertion, []Diagnostic) {
	if strings.TrimSpace(text) == "" {
		return nil, []Diagnostic{}
	}
	// The block goes under `assertions:`, indented by two: its line n is
	// line n+1 of the document, its column c column c+2.
	var b strings.Builder
	b.WriteString("assertions:\n")
	for _, l := range strings.Split(text, "\n") {
		b.WriteString("  " + l + "\n")
	}
	f, err := validation.Parse("assertions", []byte(b.String()), nil)
	if err != nil {
		return nil, []Diagnostic{yamlDiagnostic(err.Error(), 1, 2)}
	}
	for i := range f.Assertions {
		f.Assertions[i].Line--
	}
	return f.Assertions, []Diagnostic{}
}

// yamlDiagnostic places an error of engine/validation's parser
// ("path:L:C: invalid validation file: ...", or "path: invalid validation
// file: yaml: line L: ...") in an editor whose text starts dl lines and dc
// columns into the document parsed.
func yamlDiagnostic(msg string, dl, dc int) Diagnostic {
	d := Diagnostic{Line: 1, Column: 1, Severity: "error", Message: msg}
	if m := posError.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		d.Line, d.Column, d.Message = max(1, line-dl), max(1, col-dc), m[3]
	} else if m := yamlError.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.Line, d.Message = max(1, line-dl), m[2]
	}
	d.Message = strings.TrimPrefix(d.Message, validation.ErrSyntax.Error()+": ")
	return d
}

var (
	posError  = regexp.MustCompile(`^[^:]*:(\d+):(\d+): (.*)$`)
	yamlError = regexp.MustCompile(`yaml: line (\d+): (.*)$`)
)

// runAssertion checks one assertion against the loaded state.
func runAssertion(ctx context.Context, l *loaded, a validation.Assertion) (assertionResult, error) {
	res := assertionResult{Line: a.Line, Kind: a.Kind.String(), Text: a.Text}
	req, err := validation.ParseCheck(a.Relationship)
	if err != nil {
		return res, err
	}
	if err := checkNames(l.prog, req.Resource.Type, req.Permission, req.Subject); err != nil {
		return res, err
	}
	req.Context = a.Context
	got, err := l.env.Engine.Check(ctx, req)
	if err != nil {
		return res, err
	}
	res.Got = got.Permissionship.String()
	want := map[validation.AssertionKind]engine.Permissionship{validation.AssertTrue: engine.Allowed, validation.AssertFalse: engine.Denied, validation.AssertCaveated: engine.Conditional}[a.Kind]
	res.Passed = got.Permissionship == want
	return res, nil
}

// checkNames makes sure a query names what the schema defines, so that a
// typo is an error rather than a denial.
func checkNames(prog *schema.Program, typ, perm string, subj engine.Subject) error {
	if prog.Definition(typ) == nil {
		return badRequest("definition %q not found%s", typ, suggest(typ, typeNames(prog)))
	}
	if perm != "" && prog.Lookup(typ, perm) == nil {
		return badRequest("%s has no relation or permission %q%s", typ, perm, suggest(perm, memberNames(prog, typ)))
	}
	if subj.Type != "" {
		if prog.Definition(subj.Type) == nil {
			return badRequest("subject definition %q not found%s", subj.Type, suggest(subj.Type, typeNames(prog)))
		}
		if subj.Relation != "" && prog.Lookup(subj.Type, subj.Relation) == nil {
			return badRequest("%s has no relation or permission %q", subj.Type, subj.Relation)
		}
	}
	return nil
}

func typeNames(p *schema.Program) []string {
	var out []string
	for _, d := range p.Definitions() {
		out = append(out, d.Name)
	}
	return out
}

func memberNames(p *schema.Program, typ string) []string {
	var out []string
	for _, r := range p.Definition(typ).Relations {
		out = append(out, r.Name)
	}
	return out
}

func suggest(name string, candidates []string) string {
	if c := schema.Closest(name, candidates); c != "" {
		return fmt.Sprintf(" (did you mean %q?)", c)
	}
	return ""
}

// checkRequest asks for one check.
type checkRequest struct {
	State      State          `json:"state"`
	Resource   string         `json:"resource"`
	Permission string         `json:"permission"`
	Subject    string         `json:"subject"`
	Context    map[string]any `json:"context,omitempty"`
}

type checkResponse struct {
	Result  string   `json:"result"`
	Missing []string `json:"missing,omitempty"`
	Proof   *Proof   `json:"proof"`
	Tree    string   `json:"tree"` // the proof as reach check --explain prints it
}

func (s *Server) check(ctx context.Context, body json.RawMessage) (any, error) {
	var req checkRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	res, err := engine.ParseObject(strings.TrimSpace(req.Resource))
	if err != nil {
		return nil, badRequest("resource: %v", err)
	}
	subj, err := engine.ParseSubject(strings.TrimSpace(req.Subject))
	if err != nil {
		return nil, badRequest("subject: %v", err)
	}
	l, err := s.loadEngine(ctx, req.State)
	if err != nil {
		return nil, err
	}
	defer l.release()
	if err := checkNames(l.prog, res.Type, req.Permission, subj); err != nil {
		return nil, err
	}
	got, err := l.env.Engine.Check(ctx, engine.CheckRequest{Resource: res, Permission: req.Permission, Subject: subj,
		Consistency: consistency, Context: req.Context, Explain: true})
	if err != nil {
		return nil, err
	}
	var tree strings.Builder
	if got.Explanation != nil {
		got.Explanation.WriteTree(&tree)
	}
	return checkResponse{Result: got.Permissionship.String(), Missing: got.Missing, Proof: buildProof(got.Explanation), Tree: tree.String()}, nil
}

type lookupResourcesRequest struct {
	State        State  `json:"state"`
	ResourceType string `json:"resource_type"`
	Permission   string `json:"permission"`
	Subject      string `json:"subject"`
}

type lookupResult struct {
	ID      string   `json:"id"`
	Result  string   `json:"result"`
	Missing []string `json:"missing,omitempty"`
	// Excluded lists, for the wildcard "*", the subjects it does not cover.
	Excluded []string `json:"excluded,omitempty"`
}

// maxLookupResults bounds a lookup's answer.
const maxLookupResults = 10_000

func (s *Server) lookupResources(ctx context.Context, body json.RawMessage) (any, error) {
	var req lookupResourcesRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	subj, err := engine.ParseSubject(strings.TrimSpace(req.Subject))
	if err != nil {
		return nil, badRequest("subject: %v", err)
	}
	l, err := s.loadEngine(ctx, req.State)
	if err != nil {
		return nil, err
	}
	defer l.release()
	if err := checkNames(l.prog, req.ResourceType, req.Permission, subj); err != nil {
		return nil, err
	}
	out := []lookupResult{}
	_, err = l.env.Engine.LookupResources(ctx, engine.LookupResourcesRequest{ResourceType: req.ResourceType, Permission: req.Permission,
		Subject: subj, Consistency: consistency, Limit: maxLookupResults}, func(r engine.LookupResult) bool {
		out = append(out, lookupResult{ID: req.ResourceType + ":" + r.ResourceID, Result: r.Permissionship.String(), Missing: r.Missing})
		return true
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"resources": out}, nil
}

type lookupSubjectsRequest struct {
	State       State  `json:"state"`
	Resource    string `json:"resource"`
	Permission  string `json:"permission"`
	SubjectType string `json:"subject_type"`
}

func (s *Server) lookupSubjects(ctx context.Context, body json.RawMessage) (any, error) {
	var req lookupSubjectsRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	res, err := engine.ParseObject(strings.TrimSpace(req.Resource))
	if err != nil {
		return nil, badRequest("resource: %v", err)
	}
	typ, rel, _ := strings.Cut(strings.TrimSpace(req.SubjectType), "#")
	l, err := s.loadEngine(ctx, req.State)
	if err != nil {
		return nil, err
	}
	defer l.release()
	if err := checkNames(l.prog, res.Type, req.Permission, engine.Subject{Type: typ, Relation: rel}); err != nil {
		return nil, err
	}
	found, _, err := l.env.Engine.LookupSubjects(ctx, engine.LookupSubjectsRequest{Resource: res, Permission: req.Permission,
		SubjectType: typ, SubjectRelation: rel, Consistency: consistency})
	if err != nil {
		return nil, err
	}
	out := []lookupResult{}
	for _, f := range found {
		id := typ + ":" + f.ID
		if rel != "" {
			id += "#" + rel
		}
		out = append(out, lookupResult{ID: id, Result: f.Permissionship.String(), Missing: f.Missing, Excluded: f.Excluded})
	}
	return map[string]any{"subjects": out}, nil
}

type expandRequest struct {
	State      State  `json:"state"`
	Resource   string `json:"resource"`
	Permission string `json:"permission"`
}

// ExpandTree is a node of Expand's userset tree, for the page.
type ExpandTree struct {
	Label    string        `json:"label"`
	Op       string        `json:"op"`
	Subjects []string      `json:"subjects,omitempty"`
	Children []*ExpandTree `json:"children,omitempty"`
}

func (s *Server) expand(ctx context.Context, body json.RawMessage) (any, error) {
	var req expandRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	res, err := engine.ParseObject(strings.TrimSpace(req.Resource))
	if err != nil {
		return nil, badRequest("resource: %v", err)
	}
	l, err := s.loadEngine(ctx, req.State)
	if err != nil {
		return nil, err
	}
	defer l.release()
	if err := checkNames(l.prog, res.Type, req.Permission, engine.Subject{}); err != nil {
		return nil, err
	}
	n, _, err := l.env.Engine.Expand(ctx, res, req.Permission, consistency)
	if err != nil {
		return nil, err
	}
	var text strings.Builder
	n.WriteTree(&text)
	return map[string]any{"tree": expandTree(n), "text": text.String()}, nil
}

func expandTree(n *engine.ExpandNode) *ExpandTree {
	t := &ExpandTree{Op: n.Op}
	switch {
	case n.Arrow != "":
		t.Label = n.Arrow
	case n.Relation != "":
		t.Label = n.Resource.String() + "#" + n.Relation
	default:
		t.Label = n.Op
	}
	for _, s := range n.Subjects {
		x := s.Subject.String()
		if s.Caveat != "" {
			x += " [" + s.Caveat + "]"
		}
		t.Subjects = append(t.Subjects, x)
	}
	for _, c := range n.Children {
		t.Children = append(t.Children, expandTree(c))
	}
	return t
}

type matrixRequest struct {
	State State `json:"state"`
	// Targets are resources (type:id) or types (every object of the type
	// the relationships name).
	Targets     []string `json:"targets"`
	Subjects    []string `json:"subjects"`
	Permissions []string `json:"permissions,omitempty"`
}

// Matrix is the access matrix: one row per (resource, permission), one
// column per subject.
type Matrix struct {
	Subjects []string    `json:"subjects"`
	Rows     []MatrixRow `json:"rows"`
}

// MatrixRow is one row of a Matrix: a cell per subject, "allowed",
// "denied" or "conditional".
type MatrixRow struct {
	Resource   string   `json:"resource"`
	Permission string   `json:"permission"`
	Cells      []string `json:"cells"`
}

// maxMatrixCells bounds a matrix.
const maxMatrixCells = 200_000

func (s *Server) matrix(ctx context.Context, body json.RawMessage) (any, error) {
	var req matrixRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	l, err := s.loadEngine(ctx, req.State)
	if err != nil {
		return nil, err
	}
	defer l.release()
	return buildMatrix(ctx, l, req)
}

func buildMatrix(ctx context.Context, l *loaded, req matrixRequest) (*Matrix, error) {
	prog := l.prog
	if len(req.Targets) == 0 {
		return nil, badRequest("give a resource (type:id) or a type")
	}
	var subjects []engine.Subject
	m := &Matrix{Subjects: []string{}, Rows: []MatrixRow{}}
	for _, x := range req.Subjects {
		x = strings.TrimSpace(x)
		if x == "" {
			continue
		}
		sub, err := engine.ParseSubject(x)
		if err != nil {
			return nil, badRequest("subject %q: %v", x, err)
		}
		if err := checkNames(prog, sub.Type, "", sub); err != nil {
			return nil, err
		}
		subjects = append(subjects, sub)
		m.Subjects = append(m.Subjects, sub.String())
	}
	if len(subjects) == 0 {
		return nil, badRequest("give at least one subject")
	}
	type row struct {
		res  engine.Object
		perm string
	}
	var rows []row
	for _, target := range req.Targets {
		target = strings.TrimSpace(target)
		var resources []engine.Object
		typ := target
		if strings.Contains(target, ":") {
			obj, err := engine.ParseObject(target)
			if err != nil {
				return nil, badRequest("resource %q: %v", target, err)
			}
			resources, typ = []engine.Object{obj}, obj.Type
		}
		def := prog.Definition(typ)
		if def == nil {
			return nil, badRequest("definition %q not found%s", typ, suggest(typ, typeNames(prog)))
		}
		perms := req.Permissions
		if len(perms) > 0 {
			for _, p := range perms {
				if def.Relation(p) == nil {
					return nil, badRequest("%s has no relation or permission %q%s", typ, p, suggest(p, memberNames(prog, typ)))
				}
			}
		} else {
			perms = defaultRows(def)
		}
		if resources == nil {
			for _, o := range l.env.Objects {
				if o.Type == typ {
					resources = append(resources, o)
				}
			}
		}
		for _, r := range resources {
			for _, p := range perms {
				rows = append(rows, row{r, p})
			}
		}
	}
	if len(rows)*len(subjects) > maxMatrixCells {
		return nil, &apiError{413, fmt.Sprintf("the matrix would have %d cells; at most %d", len(rows)*len(subjects), maxMatrixCells)}
	}
	reqs := make([]engine.CheckRequest, 0, len(rows)*len(subjects))
	for _, r := range rows {
		for _, sub := range subjects {
			reqs = append(reqs, engine.CheckRequest{Resource: r.res, Permission: r.perm, Subject: sub, Consistency: consistency})
		}
	}
	results, err := l.env.Engine.CheckBulk(ctx, reqs)
	if err != nil {
		return nil, err
	}
	i := 0
	for _, r := range rows {
		mr := MatrixRow{Resource: r.res.String(), Permission: r.perm, Cells: make([]string, len(subjects))}
		for j := range subjects {
			mr.Cells[j] = results[i].Permissionship.String()
			i++
		}
		m.Rows = append(m.Rows, mr)
	}
	return m, nil
}

// defaultRows are the rows of a type when none are named: its permissions
// in schema order, else its relations (as reach matrix does).
func defaultRows(def *schema.Definition) []string {
	var perms, rels []string
	for _, r := range def.Relations {
		if r.Kind == schema.KindPermission {
			perms = append(perms, r.Name)
		} else {
			rels = append(rels, r.Name)
		}
	}
	if len(perms) > 0 {
		return perms
	}
	return rels
}

type impactRequest struct {
	State State `json:"state"`
	// Baseline is the schema to compare the state's with (the schema as
	// loaded, before the edits).
	Baseline string `json:"baseline"`
}

type impactResponse struct {
	Changes    []string     `json:"changes"`
	Touched    []string     `json:"touched"`
	Dependents []string     `json:"dependents"`
	Cells      []impactCell `json:"cells"`
	Evaluated  int          `json:"evaluated"`
}

type impactCell struct {
	Resource   string   `json:"resource"`
	Permission string   `json:"permission"`
	Subject    string   `json:"subject"`
	Before     string   `json:"before"`
	After      string   `json:"after"`
	Except     []string `json:"except,omitempty"`
}

// maxImpactCells bounds the cells returned (the count is exact).
const maxImpactCells = 5_000

func (s *Server) impact(ctx context.Context, body json.RawMessage) (any, error) {
	var req impactRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	base, diags := compileSchema(req.Baseline)
	if base == nil {
		return nil, badRequest("the baseline schema does not compile: %s", diags[0].Message)
	}
	l, err := s.loadEngine(ctx, req.State)
	if err != nil {
		return nil, err
	}
	defer l.release()
	rep, err := impact.Analyze(ctx, l.env.Store, 0, base, l.prog, impact.Options{Workers: 1})
	if err != nil {
		return nil, err
	}
	out := impactResponse{Changes: []string{}, Touched: []string{}, Dependents: []string{}, Cells: []impactCell{}, Evaluated: rep.Stats.Evaluated}
	for _, c := range rep.Changes {
		out.Changes = append(out.Changes, c.String())
	}
	for _, r := range rep.Touched {
		out.Touched = append(out.Touched, r.String())
	}
	for _, r := range rep.Dependents {
		out.Dependents = append(out.Dependents, r.String())
	}
	for i, c := range rep.Cells {
		if i == maxImpactCells {
			break
		}
		out.Cells = append(out.Cells, impactCell{Resource: c.Resource.String(), Permission: c.Permission, Subject: c.Subject.String(),
			Before: c.Before.String(), After: c.After.String(), Except: c.Except})
	}
	return map[string]any{"impact": out, "total": len(rep.Cells)}, nil
}

func emptyIfNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
