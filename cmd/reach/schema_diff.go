package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/internal/impact"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

func init() { schemaSubcommands = append(schemaSubcommands, newSchemaDiffCmd) }

// diffFormats are the values of --format of `schema diff`.
var diffFormats = []string{"text", "markdown"}

func newSchemaDiffCmd() *cobra.Command {
	var (
		withImpact bool
		file       string
		format     string
	)
	c := &cobra.Command{
		Use:   "diff [OLD] NEW [--impact [--file X.yaml]]",
		Short: "Show what changes between two schemas, and with --impact whose access changes",
		Long: `Print the structural changes from schema OLD to schema NEW, as SpiceDB's
DiffSchema reports them: definitions, relations, permissions and caveats
added or removed, permission expressions changed, allowed subject types
added or removed, doc comments, caveat parameters and expressions. With one
argument, OLD is the schema in force in the store (or in --file). It works
on local data only (reach schema write --dry-run shows the structural
changes against a server's schema).

With --impact it also lists every answer that changes on the data: each
(resource, permission, subject) whose check would answer differently under
NEW than under OLD, grouped by permission, with the answer before and after.
The data is the store in --data-dir, or with --file the relationships of a
validation file (zed validate YAML) loaded into memory. A subject the data
does not name is covered by a wildcard line (user:*, "any other user").

Only what the change touches is evaluated: the relations and permissions
whose rules changed, on every resource of their type, and the rules that
depend on them, only on the resources where what they depend on flipped.

  reach schema diff old.zed new.zed
  reach schema diff new.zed --impact                 # the store's schema and data
  reach schema diff schemas/gifting.zed new.zed --impact --file schemas/gifting.yaml --format markdown

Formats: text (default), markdown (--format markdown), JSON (-o json).
Exit status: 0 when nothing changes (no structural change, and no answer
with --impact), 1 when something does, 2 for bad arguments, 3 when a file
or the store cannot be read or a schema does not compile.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(diffFormats, format) {
				return usagef("--format must be text or markdown, not %q", format)
			}
			if global.output == "json" && cmd.Flags().Changed("format") {
				return usagef("--format and --output json do not go together")
			}
			if file != "" && !withImpact && len(args) == 2 {
				return usagef("--file gives the data of --impact (or the old schema with one argument); add --impact")
			}
			if err := schemaStdinOnce(args); err != nil {
				return err
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			newArg := args[len(args)-1]
			cur, err := compileSchemaArg(cmd, newArg)
			if err != nil {
				return err
			}
			var old *schema.Program
			if len(args) == 2 {
				if old, err = compileSchemaArg(cmd, args[0]); err != nil {
					return err
				}
			}
			d := schemaDiff{cur: cur, format: format}
			if withImpact || len(args) == 1 {
				src, err := openDiffData(ctx, file)
				if err != nil {
					return err
				}
				defer src.close()
				if len(args) == 1 {
					old = src.prog
				}
				d.where = src.where
				if withImpact {
					d.report, err = impact.Analyze(ctx, src.store, 0, old, cur, impact.Options{})
					if err != nil {
						return exitWith(exitError3, "reach: computing the impact: %v", err)
					}
				}
			}
			d.old = old
			return d.print(cmd.OutOrStdout())
		},
	}
	c.Flags().BoolVar(&withImpact, "impact", false, "also list every (resource, permission, subject) whose answer changes on the data")
	c.Flags().StringVar(&file, "file", "", "the data (and, with one argument, the old schema) of a validation file instead of the store in --data-dir")
	c.Flags().StringVar(&format, "format", "text", "output format: text or markdown (JSON: -o json)")
	return c
}

// compileSchemaArg reads and compiles a schema file argument; its errors go
// to stderr.
func compileSchemaArg(cmd *cobra.Command, path string) (*schema.Program, error) {
	src, name, err := readSchemaInput(cmd.InOrStdin(), path)
	if err != nil {
		return nil, exitWith(exitError3, "reach: %v", err)
	}
	prog, diags, err := schema.Compile(name, src)
	if err != nil {
		for _, d := range diags {
			if d.Severity == schema.Error {
				fmt.Fprintln(cmd.ErrOrStderr(), d)
			}
		}
		return nil, exitWith(exitError3, "%s: invalid (%s)", name, schemaPlural(schemaCount(diags, schema.Error), "error"))
	}
	return prog, nil
}

// diffData is the data an impact is computed on, and the schema in force
// there.
type diffData struct {
	store datastore.Datastore
	prog  *schema.Program
	where string
	close func() error
}

// openDiffData opens the local store, or a validation file in memory.
func openDiffData(ctx context.Context, file string) (*diffData, error) {
	if file != "" {
		f, err := validation.Read(file)
		if err != nil {
			return nil, exitWith(exitError3, "reach: %v", err)
		}
		env, err := validation.Load(ctx, f, engine.Options{})
		if err != nil {
			return nil, exitWith(exitError3, "reach: %s: %v", file, err)
		}
		return &diffData{store: env.Store, prog: env.Program, where: file, close: env.Close}, nil
	}
	if isRemote() {
		return nil, usagef("--impact and the store's schema need the local store: drop --endpoint, or give --file and both schemas")
	}
	s, err := openLocalStore(ctx, readAccess)
	if err != nil {
		return nil, exitWith(exitError3, "reach: %v", err)
	}
	prog, _, err := s.Schema(ctx)
	if err != nil {
		s.Close()
		return nil, exitWith(exitError3, "reach: reading the schema: %v", err)
	}
	return &diffData{store: s, prog: prog, where: "the store in " + datastoreName(), close: s.Close}, nil
}

// schemaDiff is what `schema diff` and `schema write --dry-run` print.
type schemaDiff struct {
	old, cur *schema.Program
	report   *impact.Report // nil without --impact
	where    string         // where the data is
	format   string
	// dryRun notes that nothing was written (schema write --dry-run).
	dryRun bool
}

func (d *schemaDiff) changes() []schema.Change {
	if d.report != nil {
		return d.report.Changes
	}
	return schema.Diff(d.old, d.cur)
}

// print writes the diff in the chosen format and returns the exit status
// as an error (nil: nothing changes).
func (d *schemaDiff) print(w io.Writer) error {
	var err error
	switch {
	case global.output == "json":
		err = d.writeJSON(w)
	case d.format == "markdown":
		err = d.writeMarkdown(w)
	default:
		err = d.writeText(w)
	}
	if err != nil {
		return err
	}
	if len(d.changes()) > 0 || (d.report != nil && len(d.report.Cells) > 0) {
		if d.dryRun {
			return nil
		}
		return exitWith(exitNo, "")
	}
	return nil
}

// permissionGroup is the cells of one permission of one type.
type permissionGroup struct {
	rule  impact.Rule
	cells []impact.Cell
}

func groupCells(cells []impact.Cell) []permissionGroup {
	var out []permissionGroup
	for _, c := range cells {
		r := impact.Rule{Type: c.Resource.Type, Name: c.Permission}
		if len(out) == 0 || out[len(out)-1].rule != r {
			out = append(out, permissionGroup{rule: r})
		}
		out[len(out)-1].cells = append(out[len(out)-1].cells, c)
	}
	return out
}

// subjectText names a cell's subject: a wildcard is "user:* (any other
// user)".
func subjectText(c impact.Cell) string {
	if c.Subject.ID != "*" {
		return c.Subject.String()
	}
	s := c.Subject.String() + " (any other " + c.Subject.Type
	if len(c.Except) > 0 {
		s += fmt.Sprintf(" than the %d listed with this resource", len(c.Except))
	}
	return s + ")"
}

func rulesText(rs []impact.Rule) string {
	if len(rs) == 0 {
		return "none"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func (d *schemaDiff) writeText(w io.Writer) error {
	var b strings.Builder
	changes := d.changes()
	if len(changes) == 0 {
		b.WriteString("no schema change\n")
	} else {
		fmt.Fprintf(&b, "schema changes (%d):\n", len(changes))
		for _, c := range changes {
			b.WriteString("  " + c.String() + "\n")
		}
	}
	if rep := d.report; rep != nil {
		fmt.Fprintf(&b, "\nimpact on %s at revision %s: %s change\n", d.where, rep.Revision.Token(), nplural(len(rep.Cells), "answer"))
		fmt.Fprintf(&b, "  rules changed: %s\n  rules depending on them: %s\n", rulesText(rep.Touched), rulesText(rep.Dependents))
		for _, g := range groupCells(rep.Cells) {
			fmt.Fprintf(&b, "\n%s (%d)\n", g.rule, len(g.cells))
			width := 0
			for _, c := range g.cells {
				width = max(width, len(c.Resource.String()))
			}
			swidth := 0
			for _, c := range g.cells {
				swidth = max(swidth, len(subjectText(c)))
			}
			for _, c := range g.cells {
				fmt.Fprintf(&b, "  %-*s  %-*s  %s -> %s\n", width, c.Resource, swidth, subjectText(c), c.Before, c.After)
			}
		}
		st := rep.Stats
		fmt.Fprintf(&b, "\nevaluated %s with %s over %s in %s\n", nplural(st.Evaluated, "(rule, resource) pair"),
			nplural(st.Lookups, "lookup"), nplural(st.Resources, "resource"), st.Duration.Round(time.Millisecond))
	}
	if d.dryRun {
		b.WriteString("dry run: the schema was not written\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// markdownCell shows an answer as the matrix does.
func markdownCell(p engine.Permissionship) string { return matrixCell(p, "markdown") }

func (d *schemaDiff) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	changes := d.changes()
	b.WriteString("## Schema changes\n\n")
	if len(changes) == 0 {
		b.WriteString("None.\n")
	}
	for _, c := range changes {
		b.WriteString("- " + matrixMarkdownEscape(c.String()) + "\n")
	}
	if rep := d.report; rep != nil {
		fmt.Fprintf(&b, "\n## Impact\n\nOn %s at revision `%s`: %s change.\n", d.where, rep.Revision.Token(), nplural(len(rep.Cells), "answer"))
		fmt.Fprintf(&b, "Rules changed: %s. Rules depending on them: %s.\n", rulesText(rep.Touched), rulesText(rep.Dependents))
		for _, g := range groupCells(rep.Cells) {
			fmt.Fprintf(&b, "\n### %s (%d)\n\n| resource | subject | before | after |\n|---|---|:---:|:---:|\n", g.rule, len(g.cells))
			for _, c := range g.cells {
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", matrixMarkdownEscape(c.Resource.String()), matrixMarkdownEscape(subjectText(c)),
					markdownCell(c.Before), markdownCell(c.After))
			}
		}
	}
	if d.dryRun {
		b.WriteString("\nDry run: the schema was not written.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// diffJSON is the -o json form.
type diffJSON struct {
	Changes []changeJSON `json:"changes"`
	Impact  *impactJSON  `json:"impact,omitempty"`
	DryRun  bool         `json:"dry_run,omitempty"`
}

type changeJSON struct {
	Kind        schema.ChangeKind `json:"kind"`
	Definition  string            `json:"definition,omitempty"`
	Member      string            `json:"member,omitempty"`
	Caveat      string            `json:"caveat,omitempty"`
	Parameter   string            `json:"parameter,omitempty"`
	SubjectType string            `json:"subject_type,omitempty"`
	Old         string            `json:"old,omitempty"`
	New         string            `json:"new,omitempty"`
	Text        string            `json:"text"`
}

type impactJSON struct {
	Data        string           `json:"data"`
	Revision    string           `json:"revision"`
	Touched     []string         `json:"touched"`
	Dependents  []string         `json:"dependents"`
	Cells       int              `json:"cells"`
	Permissions []permissionJSON `json:"permissions"`
	Stats       statsJSON        `json:"stats"`
}

type permissionJSON struct {
	Type       string     `json:"type"`
	Permission string     `json:"permission"`
	Cells      []cellJSON `json:"cells"`
}

type cellJSON struct {
	Resource string   `json:"resource"`
	Subject  string   `json:"subject"`
	Before   string   `json:"before"`
	After    string   `json:"after"`
	Except   []string `json:"except,omitempty"`
}

type statsJSON struct {
	Evaluated  int     `json:"evaluated"`
	Lookups    int     `json:"lookups"`
	Resources  int     `json:"resources"`
	DurationMS float64 `json:"duration_ms"`
}

func (d *schemaDiff) writeJSON(w io.Writer) error {
	out := diffJSON{Changes: []changeJSON{}, DryRun: d.dryRun}
	for _, c := range d.changes() {
		cj := changeJSON{Kind: c.Kind, Definition: c.Definition, Member: c.Member, Caveat: c.Caveat, Parameter: c.Parameter, Old: c.Old, New: c.New, Text: c.String()}
		if c.SubjectType != nil {
			cj.SubjectType = cj.Old + cj.New
		}
		out.Changes = append(out.Changes, cj)
	}
	if rep := d.report; rep != nil {
		ij := &impactJSON{Data: d.where, Revision: rep.Revision.Token(), Touched: []string{}, Dependents: []string{}, Cells: len(rep.Cells),
			Permissions: []permissionJSON{}, Stats: statsJSON{rep.Stats.Evaluated, rep.Stats.Lookups, rep.Stats.Resources,
				float64(rep.Stats.Duration.Microseconds()) / 1000}}
		for _, r := range rep.Touched {
			ij.Touched = append(ij.Touched, r.String())
		}
		for _, r := range rep.Dependents {
			ij.Dependents = append(ij.Dependents, r.String())
		}
		for _, g := range groupCells(rep.Cells) {
			pj := permissionJSON{Type: g.rule.Type, Permission: g.rule.Name}
			for _, c := range g.cells {
				pj.Cells = append(pj.Cells, cellJSON{Resource: c.Resource.String(), Subject: c.Subject.String(),
					Before: matrixCell(c.Before, "json"), After: matrixCell(c.After, "json"), Except: c.Except})
			}
			ij.Permissions = append(ij.Permissions, pj)
		}
		out.Impact = ij
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// nplural is plural (tuple.go) for an int.
func nplural(n int, what string) string { return plural(int64(n), what) }

// schemaWriteDryRun is `schema write --dry-run FILE`: the diff from the
// schema in force to FILE and, on the local store, its impact on the
// stored data; nothing is written.
func schemaWriteDryRun(cmd *cobra.Command, path string) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	cur, err := compileSchemaArg(cmd, path)
	if err != nil {
		return err
	}
	d := schemaDiff{cur: cur, format: "text", dryRun: true}
	if isRemote() {
		s, err := openStore(ctx, readAccess)
		if err != nil {
			return exitWith(exitError3, "reach: %v", err)
		}
		defer s.Close()
		d.old, _, err = s.Schema(ctx)
		if err != nil {
			return exitWith(exitError3, "reach: reading the schema: %v", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "reach: note: the impact on the data is computed on the local store only; %s gets the structural diff\n", storeName())
		return d.print(cmd.OutOrStdout())
	}
	src, err := openDiffData(ctx, "")
	if err != nil {
		return err
	}
	defer src.close()
	d.old, d.where = src.prog, src.where
	d.report, err = impact.Analyze(ctx, src.store, tuples.Revision(0), d.old, cur, impact.Options{})
	if err != nil {
		return exitWith(exitError3, "reach: computing the impact: %v", err)
	}
	return d.print(cmd.OutOrStdout())
}
