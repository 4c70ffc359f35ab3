package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newMatrixCmd) }

// matrixFormats are the values of --format.
var matrixFormats = []string{"table", "markdown", "csv", "html"}

func newMatrixCmd() *cobra.Command {
	var (
		subjects    []string
		subjectsOf  string
		permissions []string
		format      string
		file        string
	)
	c := &cobra.Command{
		Use:   "matrix RESOURCE|TYPE... (--subjects SUBJ,... | --subjects-of RESOURCE#RELATION)",
		Short: "Print the table of permissions by subjects: who may do what",
		Long: `Print a matrix of checks: one row per permission of RESOURCE (type:id), or
of every object of TYPE (every object the relationships name, sorted by
id), and one column per subject, each cell allowed, denied or conditional
(reached only through a caveat that was not evaluated). Several resources
and types may be given: their rows follow one another, in that order.

The subjects are listed with --subjects (type:id or type:id#relation,
comma-separated, in the order given) or found with --subjects-of: every
subject that holds a relation or permission on a resource (for example
--subjects-of organization:acme#member), found with LookupSubjects and
sorted by type then id. A wildcard (type:*) holder is noted on stderr, not
listed.

The rows are the permissions of each type in schema order (its relations if
it has no permission), or those named with --permissions (which every type
given must define).

It reads the store in --data-dir, or with --file a validation file (zed
validate YAML: schema or schemaFile, relationships) loaded into a fresh
in-memory store, so that a model's example data can be tabulated without
any setup:

  reach matrix organization:acme --file schemas/gifting.yaml \
      --subjects user:olivia,user:dana,user:uma --format markdown

Formats: table (for a terminal; ✓ allowed, ✗ denied, ? conditional),
markdown and html (✅ allowed, 🚫 denied, ❓ conditional), csv (allowed,
denied, conditional; always with a resource column). With -o json the
matrix is printed as JSON.

Exit status: 0 when the matrix is printed, 1 when there is nothing to
tabulate (no object of TYPE, no subject found), 2 for bad arguments (a
type, permission or relation the schema does not define), 3 for other
errors.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(subjects) == 0) == (subjectsOf == "") {
				return usagef("give exactly one of --subjects and --subjects-of")
			}
			if !slices.Contains(matrixFormats, format) {
				return usagef("--format must be one of %s, not %q", strings.Join(matrixFormats, ", "), format)
			}
			if global.output == "json" && cmd.Flags().Changed("format") {
				return usagef("--format and --output json do not go together")
			}
			m, err := buildMatrix(cmd.Context(), cmd.ErrOrStderr(), matrixRequest{
				targets: args, subjects: subjects, subjectsOf: subjectsOf,
				permissions: permissions, file: file,
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if global.output == "json" {
				return m.writeJSON(out)
			}
			switch format {
			case "markdown":
				return m.writeMarkdown(out)
			case "csv":
				return m.writeCSV(out)
			case "html":
				return m.writeHTML(out)
			}
			return m.writeTable(out)
		},
	}
	c.Flags().StringSliceVar(&subjects, "subjects", nil, "subjects, the columns (type:id or type:id#relation, comma-separated)")
	c.Flags().StringVar(&subjectsOf, "subjects-of", "", "take as columns every subject holding RESOURCE#RELATION (a relation or permission)")
	c.Flags().StringSliceVar(&permissions, "permissions", nil, "permissions (or relations), the rows (default: every permission of the type)")
	c.Flags().StringVar(&format, "format", "table", "output format: table, markdown, csv or html")
	c.Flags().StringVar(&file, "file", "", "read a validation file (schema and relationships) into an in-memory store instead of --data-dir")
	return c
}

// matrixRequest is what the command line asks for.
type matrixRequest struct {
	targets     []string // each type:id or type
	subjects    []string
	subjectsOf  string
	permissions []string
	file        string
}

// matrix is a computed table: for every (resource, permission) row, the
// answer for every subject.
type matrix struct {
	// single is set when one resource was asked for (no resource column).
	single      bool
	rows        []matrixRow
	subjects    []engine.Subject
	revision    tuples.Revision
	conditional bool // some cell is conditional
}

type matrixRow struct {
	resource   engine.Object
	permission string
	cells      []engine.Permissionship
}

// buildMatrix opens the data (store or file), resolves the rows and
// columns, and checks every cell in one CheckBulk (one revision, shared
// sub-problems).
func buildMatrix(ctx context.Context, stderr io.Writer, req matrixRequest) (*matrix, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	eng, store, closeFn, err := engineSource(ctx, req.file, engine.Options{})
	if err != nil {
		return nil, err
	}
	defer closeFn()
	prog, _, err := store.Schema(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the schema: %w", err)
	}
	if prog == nil {
		return nil, errNoSchema()
	}
	head, err := store.HeadRevision(ctx)
	if err != nil {
		return nil, err
	}

	// Rows: resources and their permissions, in the order of the targets.
	m := &matrix{revision: head, single: len(req.targets) == 1 && strings.Contains(req.targets[0], ":")}
	type block struct {
		resources []engine.Object
		perms     []string
	}
	var blocks []block
	for _, target := range req.targets {
		var resources []engine.Object
		typ := target
		if strings.Contains(target, ":") {
			obj, err := engine.ParseObject(target)
			if err != nil {
				return nil, usagef("resource %q: %v", target, err)
			}
			resources, typ = []engine.Object{obj}, obj.Type
		}
		def := prog.Definition(typ)
		if def == nil {
			return nil, usagef("%v", undefinedIn(prog, nameRef{typ: typ}))
		}
		perms, err := matrixPermissions(def, req.permissions)
		if err != nil {
			return nil, err
		}
		if resources == nil {
			resources, err = matrixObjectsOfType(ctx, store, head, typ)
			if err != nil {
				return nil, err
			}
			if len(resources) == 0 {
				return nil, exitWith(exitNo, "reach: no object of type %s in the data", typ)
			}
		}
		blocks = append(blocks, block{resources, perms})
	}

	// Columns: subjects.
	if req.subjectsOf != "" {
		m.subjects, err = matrixSubjectsHolding(ctx, stderr, eng, prog, head, req.subjectsOf)
	} else {
		m.subjects, err = matrixParseSubjects(prog, req.subjects)
	}
	if err != nil {
		return nil, err
	}
	if len(m.subjects) == 0 {
		return nil, exitWith(exitNo, "reach: no subject holds %s", req.subjectsOf)
	}

	// Cells.
	cons := engine.Consistency{Mode: engine.AtExactSnapshot, Token: head.Token()}
	var reqs []engine.CheckRequest
	for _, b := range blocks {
		for _, r := range b.resources {
			for _, p := range b.perms {
				for _, s := range m.subjects {
					reqs = append(reqs, engine.CheckRequest{Resource: r, Permission: p, Subject: s, Consistency: cons})
				}
			}
		}
	}
	results, err := eng.CheckBulk(ctx, reqs)
	if err != nil {
		return nil, fmt.Errorf("checking the matrix: %w", err)
	}
	i := 0
	for _, b := range blocks {
		for _, r := range b.resources {
			for _, p := range b.perms {
				row := matrixRow{resource: r, permission: p, cells: make([]engine.Permissionship, len(m.subjects))}
				for j := range m.subjects {
					row.cells[j] = results[i].Permissionship
					if row.cells[j] == engine.Conditional {
						m.conditional = true
					}
					i++
				}
				m.rows = append(m.rows, row)
			}
		}
	}
	return m, nil
}

// matrixPermissions returns the rows: the named permissions (or
// relations), else every permission of def in schema order, else its
// relations.
func matrixPermissions(def *schema.Definition, named []string) ([]string, error) {
	if len(named) > 0 {
		for _, n := range named {
			if def.Relation(n) == nil {
				return nil, usagef("%v", undefinedMember(def, n, false))
			}
		}
		return named, nil
	}
	var perms, rels []string
	for _, r := range def.Relations {
		if r.Kind == schema.KindPermission {
			perms = append(perms, r.Name)
		} else {
			rels = append(rels, r.Name)
		}
	}
	if len(perms) > 0 {
		return perms, nil
	}
	if len(rels) == 0 {
		return nil, usagef("%s has no relation or permission to tabulate", def.Name)
	}
	return rels, nil
}

// matrixObjectsOfType lists, sorted by id, every object of typ named in the
// relationships at rev, as resource or as subject (wildcards excluded).
func matrixObjectsOfType(ctx context.Context, store datastore.Datastore, rev tuples.Revision, typ string) ([]engine.Object, error) {
	seen := map[string]bool{}
	add := func(id string) {
		if id != "*" {
			seen[id] = true
		}
	}
	if _, err := store.ForEach(ctx, rev, tuples.Filter{ResourceType: typ}, func(r tuples.Relationship) (bool, error) {
		add(r.ResourceID)
		return true, nil
	}); err != nil {
		return nil, fmt.Errorf("listing %s objects: %w", typ, err)
	}
	if _, err := store.ForEach(ctx, rev, tuples.Filter{Subject: &tuples.SubjectFilter{Type: typ}}, func(r tuples.Relationship) (bool, error) {
		add(r.SubjectID)
		return true, nil
	}); err != nil {
		return nil, fmt.Errorf("listing %s objects: %w", typ, err)
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	objs := make([]engine.Object, len(ids))
	for i, id := range ids {
		objs[i] = engine.Object{Type: typ, ID: id}
	}
	return objs, nil
}

// matrixParseSubjects reads the --subjects list, checking each type (and subject
// relation) against the schema.
func matrixParseSubjects(prog *schema.Program, list []string) ([]engine.Subject, error) {
	var out []engine.Subject
	for _, s := range list {
		s = strings.TrimSpace(s)
		sub, err := engine.ParseSubject(s)
		if err != nil {
			return nil, usagef("subject %q: %v", s, err)
		}
		if err := undefinedIn(prog, nameRef{typ: sub.Type, member: sub.Relation}); err != nil {
			return nil, usagef("subject %q: %v", s, err)
		}
		out = append(out, sub)
	}
	return out, nil
}

// matrixSubjectsHolding finds the columns of --subjects-of RESOURCE#RELATION:
// the subjects of every object type that can hold it, by LookupSubjects.
func matrixSubjectsHolding(ctx context.Context, stderr io.Writer, eng *engine.Engine, prog *schema.Program, rev tuples.Revision, spec string) ([]engine.Subject, error) {
	objText, rel, ok := strings.Cut(spec, "#")
	if !ok || rel == "" {
		return nil, usagef("--subjects-of %q: want RESOURCE#RELATION, such as organization:acme#member", spec)
	}
	obj, err := engine.ParseObject(objText)
	if err != nil {
		return nil, usagef("--subjects-of %q: %v", spec, err)
	}
	if err := undefinedIn(prog, nameRef{typ: obj.Type, member: rel}); err != nil {
		return nil, usagef("--subjects-of %q: %v", spec, err)
	}
	cons := engine.Consistency{Mode: engine.AtExactSnapshot, Token: rev.Token()}
	var out []engine.Subject
	for _, typ := range matrixSubjectTypes(prog, obj.Type, rel) {
		found, _, err := eng.LookupSubjects(ctx, engine.LookupSubjectsRequest{
			Resource: obj, Permission: rel, SubjectType: typ, Consistency: cons,
		})
		if err != nil {
			return nil, fmt.Errorf("looking up the subjects of %s: %w", spec, err)
		}
		for _, f := range found {
			if f.ID == "*" {
				fmt.Fprintf(stderr, "reach: note: every %s (%s:*) holds %s; wildcards are not listed\n", typ, typ, spec)
				continue
			}
			out = append(out, engine.Subject{Type: typ, ID: f.ID})
		}
	}
	return out, nil
}

// matrixSubjectTypes returns the object types whose plain objects (no subject
// relation) can reach typ#rel, in the order the schema meets them: the
// allowed types of relations, followed through subject sets, computed
// usersets and arrows.
func matrixSubjectTypes(prog *schema.Program, typ, rel string) []string {
	var out []string
	seenType := map[string]bool{}
	visited := map[[2]string]bool{}
	var visitRel func(typ, rel string)
	var visitRewrite func(typ string, rw *schema.Rewrite)
	visitRel = func(typ, rel string) {
		k := [2]string{typ, rel}
		if visited[k] {
			return
		}
		visited[k] = true
		r := prog.Lookup(typ, rel)
		if r == nil {
			return
		}
		if r.Kind == schema.KindPermission {
			visitRewrite(typ, r.Rewrite)
			return
		}
		for _, a := range r.Allowed {
			if a.Relation != "" {
				visitRel(a.Type, a.Relation)
				continue
			}
			if !seenType[a.Type] {
				seenType[a.Type] = true
				out = append(out, a.Type)
			}
		}
	}
	visitRewrite = func(typ string, rw *schema.Rewrite) {
		if rw == nil {
			return
		}
		switch rw.Op {
		case schema.OpComputed:
			visitRel(typ, rw.Relation)
		case schema.OpArrow, schema.OpArrowAll:
			if ts := prog.Lookup(typ, rw.Relation); ts != nil {
				for _, a := range ts.Allowed {
					visitRel(a.Type, rw.Target)
				}
			}
		default:
			for _, c := range rw.Children {
				visitRewrite(typ, c)
			}
		}
	}
	visitRel(typ, rel)
	return out
}

// Cell texts by format.
func matrixCell(p engine.Permissionship, format string) string {
	switch format {
	case "table":
		return [...]string{engine.Denied: "✗", engine.Conditional: "?", engine.Allowed: "✓"}[p]
	case "csv", "json":
		return [...]string{engine.Denied: "denied", engine.Conditional: "conditional", engine.Allowed: "allowed"}[p]
	}
	return [...]string{engine.Denied: "🚫", engine.Conditional: "❓", engine.Allowed: "✅"}[p]
}

// header returns the column headers of the table, markdown and html
// formats: the resource as the first header when there is one, else
// "resource" and "permission" columns.
func (m *matrix) header() []string {
	var h []string
	if m.single {
		h = append(h, m.rows[0].resource.String())
	} else {
		h = append(h, "resource", "permission")
	}
	for _, s := range m.subjects {
		h = append(h, s.String())
	}
	return h
}

// lines returns the body rows of the table, markdown and html formats.
func (m *matrix) lines(format string) [][]string {
	var out [][]string
	for _, r := range m.rows {
		var l []string
		if !m.single {
			l = append(l, r.resource.String())
		}
		l = append(l, r.permission)
		for _, c := range r.cells {
			l = append(l, matrixCell(c, format))
		}
		out = append(out, l)
	}
	return out
}

func (m *matrix) writeTable(w io.Writer) error {
	head := m.header()
	body := m.lines("table")
	width := make([]int, len(head))
	for _, l := range append([][]string{head}, body...) {
		for i, c := range l {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, l := range append([][]string{head}, body...) {
		for i, c := range l {
			if i == len(l)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
		}
		b.WriteByte('\n')
	}
	if m.conditional {
		b.WriteString("\n✓ allowed  ✗ denied  ? conditional (through a caveat not evaluated)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// matrixMarkdownEscape keeps a cell from breaking the table.
func matrixMarkdownEscape(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

func (m *matrix) writeMarkdown(w io.Writer) error {
	head := m.header()
	var b strings.Builder
	row := func(l []string) {
		b.WriteString("|")
		for _, c := range l {
			b.WriteString(" " + matrixMarkdownEscape(c) + " |")
		}
		b.WriteByte('\n')
	}
	row(head)
	b.WriteString("|")
	for i := range head {
		if i < len(head)-len(m.subjects) {
			b.WriteString("---|")
		} else {
			b.WriteString(":---:|")
		}
	}
	b.WriteByte('\n')
	for _, l := range m.lines("markdown") {
		row(l)
	}
	if m.conditional {
		b.WriteString("\n✅ allowed, 🚫 denied, ❓ conditional (through a caveat not evaluated)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (m *matrix) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"resource", "permission"}
	for _, s := range m.subjects {
		head = append(head, s.String())
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range m.rows {
		l := []string{r.resource.String(), r.permission}
		for _, c := range r.cells {
			l = append(l, matrixCell(c, "csv"))
		}
		if err := cw.Write(l); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func (m *matrix) writeHTML(w io.Writer) error {
	var b strings.Builder
	b.WriteString("<table class=\"reach-matrix\">\n<thead>\n<tr>")
	for _, h := range m.header() {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>\n</thead>\n<tbody>\n")
	names := [...]string{engine.Denied: "denied", engine.Conditional: "conditional", engine.Allowed: "allowed"}
	for _, r := range m.rows {
		b.WriteString("<tr>")
		if !m.single {
			fmt.Fprintf(&b, "<th scope=\"row\">%s</th>", html.EscapeString(r.resource.String()))
		}
		fmt.Fprintf(&b, "<th scope=\"row\">%s</th>", html.EscapeString(r.permission))
		for _, c := range r.cells {
			fmt.Fprintf(&b, "<td class=\"%s\" title=\"%s\">%s</td>", names[c], names[c], matrixCell(c, "html"))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// matrixJSON is the -o json form.
type matrixJSON struct {
	Revision string          `json:"revision"`
	Subjects []string        `json:"subjects"`
	Rows     []matrixRowJSON `json:"rows"`
}

type matrixRowJSON struct {
	Resource   string   `json:"resource"`
	Permission string   `json:"permission"`
	Cells      []string `json:"cells"`
}

func (m *matrix) writeJSON(w io.Writer) error {
	out := matrixJSON{Revision: m.revision.Token(), Subjects: []string{}, Rows: []matrixRowJSON{}}
	for _, s := range m.subjects {
		out.Subjects = append(out.Subjects, s.String())
	}
	for _, r := range m.rows {
		row := matrixRowJSON{Resource: r.resource.String(), Permission: r.permission}
		for _, c := range r.cells {
			row.Cells = append(row.Cells, matrixCell(c, "json"))
		}
		out.Rows = append(out.Rows, row)
	}
	return writeJSON(w, out)
}
