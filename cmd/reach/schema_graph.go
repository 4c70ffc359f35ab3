package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/reach-authz/reach/schema"
	"github.com/spf13/cobra"
)

func init() { schemaSubcommands = append(schemaSubcommands, newSchemaGraphCmd) }

func newSchemaGraphCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "graph FILE [--format dot|mermaid]",
		Short: "Draw a schema as a graph (Graphviz DOT or Mermaid)",
		Long: `Draw the model of a schema file: each definition is a node that lists its
permissions. A solid edge goes from a definition to each subject type its
relations allow, with one line per relation (and ": #rel" for a subject set,
": *" for a wildcard, "with ..." for a caveat or expiration). A dashed edge
goes to each subject type reached by the arrows of its permissions
(rel->perm, rel.any(perm), rel.all(perm)), with one line per arrow naming the
permissions that use it. Caveats are drawn as separate nodes. A FILE of - reads the standard input.

  reach schema graph model.zed | dot -Tsvg > model.svg
  reach schema graph model.zed --format mermaid

An invalid schema is not drawn: its errors go to the standard error.
Exit status: 0 on success, 1 for an invalid schema, 2 on a usage error, 3
when the file cannot be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "dot" && format != "mermaid" {
				return usagef("--format must be dot or mermaid, not %q", format)
			}
			src, name, err := readSchemaInput(cmd.InOrStdin(), args[0])
			if err != nil {
				return exitWith(exitError3, "reach: %v", err)
			}
			prog, diags, err := schema.Compile(name, src)
			for _, d := range diags {
				fmt.Fprintln(cmd.ErrOrStderr(), d)
			}
			if err != nil {
				return exitWith(exitNo, "%s: invalid (%s): not drawn", name, schemaPlural(schemaCount(diags, schema.Error), "error"))
			}
			g := buildSchemaGraph(prog)
			w := bufio.NewWriter(cmd.OutOrStdout())
			if format == "dot" {
				g.writeDOT(w)
			} else {
				g.writeMermaid(w)
			}
			return w.Flush()
		},
	}
	c.Flags().StringVar(&format, "format", "dot", "output format: dot (Graphviz) or mermaid")
	return c
}

// schemaGraph is the drawing of a Program: nodes and edges in source order.
type schemaGraph struct {
	nodes []graphNode
	edges []graphEdge
}

type graphNode struct {
	name   string   // definition or caveat name
	caveat bool     // a caveat, not a definition
	lines  []string // below the name: permissions, or the caveat's signature
}

type graphEdge struct {
	from, to string
	labels   []string // one line each: a relation, or the permissions of an arrow
	arrow    bool     // arrows of permissions (dashed), not relations
}

// buildSchemaGraph lays out prog: a node per definition (listing its
// permissions) and per caveat; one solid edge from a definition to each
// subject type its relations allow, labelled with those relations (one line
// each); and one dashed edge to each subject type its permissions' arrows
// reach, labelled with each arrow and the permissions that use it. Parallel
// lines between two nodes are merged into one labelled edge, so that a large
// model stays readable (the gifting model: 45 edges instead of 103).
func buildSchemaGraph(prog *schema.Program) *schemaGraph {
	g := &schemaGraph{}
	type key struct {
		from, to string
		arrow    bool
	}
	edges := map[key]*graphEdge{}
	var order []key
	edge := func(k key) *graphEdge {
		e := edges[k]
		if e == nil {
			e = &graphEdge{from: k.from, to: k.to, arrow: k.arrow}
			edges[k] = e
			order = append(order, k)
		}
		return e
	}
	for _, d := range prog.Definitions() {
		n := graphNode{name: d.Name}
		for _, r := range d.Relations {
			if r.Kind == schema.KindPermission {
				n.lines = append(n.lines, r.Name+" = "+rewriteText(r.Rewrite, 0))
			}
		}
		g.nodes = append(g.nodes, n)
	}
	for _, c := range prog.Caveats() {
		var params []string
		for _, p := range c.Params {
			params = append(params, p.Name+" "+p.Type)
		}
		g.nodes = append(g.nodes, graphNode{name: c.Name, caveat: true, lines: []string{"caveat " + c.Name + "(" + strings.Join(params, ", ") + ")"}})
	}
	for _, d := range prog.Definitions() {
		for _, r := range d.Relations {
			for _, a := range r.Allowed {
				e := edge(key{d.Name, a.Type, false})
				if l := r.Name + allowedSuffix(a); !slices.Contains(e.labels, l) {
					e.labels = append(e.labels, l)
				}
			}
		}
		// Each arrow once per target, with every permission that uses it.
		type arrowKey struct{ to, text string }
		users := map[arrowKey][]string{}
		var arrows []arrowKey
		for _, r := range d.Relations {
			if r.Kind != schema.KindPermission {
				continue
			}
			for _, arrow := range arrowsOf(r.Rewrite) {
				tupleset := d.Relation(arrow.Relation)
				if tupleset == nil {
					continue
				}
				for _, a := range tupleset.Allowed {
					k := arrowKey{a.Type, rewriteText(arrow, 0)}
					if _, ok := users[k]; !ok {
						arrows = append(arrows, k)
					}
					if !slices.Contains(users[k], r.Name) {
						users[k] = append(users[k], r.Name)
					}
				}
			}
		}
		for _, k := range arrows {
			e := edge(key{d.Name, k.to, true})
			e.labels = append(e.labels, k.text+" ("+strings.Join(users[k], ", ")+")")
		}
	}
	for _, k := range order {
		g.edges = append(g.edges, *edges[k])
	}
	return g
}

// allowedSuffix describes an allowed subject type beyond its type:
// ": #member", ": *", " with caveat", " with expiration".
func allowedSuffix(a schema.AllowedType) string {
	var s string
	switch {
	case a.Wildcard:
		s = ": *"
	case a.Relation != "":
		s = ": #" + a.Relation
	}
	switch {
	case a.Caveat != "" && a.Expiration:
		s += " with " + a.Caveat + " and expiration"
	case a.Caveat != "":
		s += " with " + a.Caveat
	case a.Expiration:
		s += " with expiration"
	}
	return s
}

// arrowsOf returns the arrow nodes of a rewrite tree, in order.
func arrowsOf(r *schema.Rewrite) []*schema.Rewrite {
	if r == nil {
		return nil
	}
	if r.Op == schema.OpArrow || r.Op == schema.OpArrowAll {
		return []*schema.Rewrite{r}
	}
	var out []*schema.Rewrite
	for _, c := range r.Children {
		out = append(out, arrowsOf(c)...)
	}
	return out
}

// rewriteText prints a rewrite tree as schema text; an operation nested in
// one of another kind is parenthesised (as the schema printer does).
func rewriteText(r *schema.Rewrite, parent schema.Op) string {
	switch r.Op {
	case schema.OpNil:
		return "nil"
	case schema.OpComputed:
		return r.Relation
	case schema.OpArrow:
		return r.Relation + "->" + r.Target
	case schema.OpArrowAll:
		return r.Relation + ".all(" + r.Target + ")"
	}
	op := map[schema.Op]string{schema.OpUnion: " + ", schema.OpIntersection: " & ", schema.OpExclusion: " - "}[r.Op]
	parts := make([]string, len(r.Children))
	for i, c := range r.Children {
		parts[i] = rewriteText(c, r.Op)
		if r.Op == schema.OpExclusion && i == 1 && c.Op == schema.OpExclusion {
			parts[i] = "(" + parts[i] + ")" // a - (b - c)
		}
	}
	s := strings.Join(parts, op)
	if parent != 0 && parent != r.Op {
		return "(" + s + ")"
	}
	return s
}

// writeDOT writes the graph in Graphviz's DOT language.
func (g *schemaGraph) writeDOT(w io.Writer) {
	fmt.Fprintln(w, "digraph schema {")
	fmt.Fprintln(w, "\trankdir=LR;")
	fmt.Fprintln(w, "\tnode [shape=box, fontname=\"Helvetica\", fontsize=11];")
	fmt.Fprintln(w, "\tedge [fontname=\"Helvetica\", fontsize=9];")
	for _, n := range g.nodes {
		if n.caveat {
			fmt.Fprintf(w, "\t%s [shape=note, label=%s];\n", dotID(n.name), dotID(n.lines[0]))
			continue
		}
		// The name centred, then one left-justified line (\l) per permission.
		label := dotEscape(n.name)
		if len(n.lines) > 0 {
			label += `\n`
			for _, l := range n.lines {
				label += dotEscape(l) + `\l`
			}
		}
		fmt.Fprintf(w, "\t%s [label=\"%s\"];\n", dotID(n.name), label)
	}
	for _, e := range g.edges {
		style := ""
		if e.arrow {
			style = ", style=dashed"
		}
		label := ""
		for _, l := range e.labels {
			label += dotEscape(l) + `\l`
		}
		fmt.Fprintf(w, "\t%s -> %s [label=\"%s\"%s];\n", dotID(e.from), dotID(e.to), label, style)
	}
	fmt.Fprintln(w, "}")
}

// dotID quotes s as a DOT identifier.
func dotID(s string) string { return `"` + dotEscape(s) + `"` }

func dotEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s)
}

// writeMermaid writes the graph as a Mermaid flowchart.
func (g *schemaGraph) writeMermaid(w io.Writer) {
	ids := map[string]string{}
	for i, n := range g.nodes {
		ids[n.name] = fmt.Sprintf("n%d", i)
	}
	fmt.Fprintln(w, "flowchart LR")
	for _, n := range g.nodes {
		if n.caveat {
			fmt.Fprintf(w, "\t%s>\"%s\"]\n", ids[n.name], mermaidEscape(n.lines[0]))
			continue
		}
		label := "<b>" + mermaidEscape(n.name) + "</b>"
		for _, l := range n.lines {
			label += "<br/>" + mermaidEscape(l)
		}
		fmt.Fprintf(w, "\t%s[\"%s\"]\n", ids[n.name], label)
	}
	for _, e := range g.edges {
		link := "-->"
		if e.arrow {
			link = "-.->"
		}
		labels := make([]string, len(e.labels))
		for i, l := range e.labels {
			labels[i] = mermaidEscape(l)
		}
		fmt.Fprintf(w, "\t%s %s|\"%s\"| %s\n", ids[e.from], link, strings.Join(labels, "<br/>"), ids[e.to])
	}
}

// mermaidEscape writes the characters Mermaid would read as syntax as entity
// codes.
func mermaidEscape(s string) string {
	return strings.NewReplacer("#", "#35;", `"`, "#quot;", "<", "#lt;", ">", "#gt;", "&", "#amp;").Replace(s)
}
