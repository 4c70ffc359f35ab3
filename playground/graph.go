package playground

import (
	"strings"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
)

// Graph is the picture of a model, for the page to lay out: a node per
// definition (its relations and permissions listed) and per caveat, an
// edge per allowed subject type of each relation, and a dashed edge per
// type reached by each arrow of a permission (the drawing of `reach schema
// graph`).
type Graph struct {
	Nodes []GraphNode `json:"nodes"`
	Edges []GraphEdge `json:"edges"`
}

// GraphNode is a definition or a caveat.
type GraphNode struct {
	Name    string        `json:"name"`
	Caveat  bool          `json:"caveat,omitempty"`
	Members []GraphMember `json:"members"`
	Line    int           `json:"line"`
	Doc     string        `json:"doc,omitempty"`
}

// GraphMember is a relation (Types: its allowed types) or a permission
// (Expr: its expression); for a caveat, its signature.
type GraphMember struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"` // "relation", "permission" or "caveat"
	Types string `json:"types,omitempty"`
	Expr  string `json:"expr,omitempty"`
	Line  int    `json:"line"`
}

// GraphEdge goes from a member of a definition to a definition (or a
// caveat): Kind "relation" for an allowed type (Label: ": #rel", ": *", "
// with caveat"), "arrow" for a permission's arrow (Label: the arrow),
// "caveat" from a relation to the caveat of one of its types.
type GraphEdge struct {
	From   string `json:"from"`
	Member string `json:"member"`
	To     string `json:"to"`
	Kind   string `json:"kind"`
	Label  string `json:"label"`
}

func buildGraph(p *schema.Program) *Graph {
	g := &Graph{Nodes: []GraphNode{}, Edges: []GraphEdge{}}
	seen := map[GraphEdge]bool{}
	add := func(e GraphEdge) {
		if !seen[e] {
			seen[e] = true
			g.Edges = append(g.Edges, e)
		}
	}
	for _, d := range p.Definitions() {
		n := GraphNode{Name: d.Name, Members: []GraphMember{}, Line: d.Pos.Line, Doc: d.Doc}
		for _, r := range d.Relations {
			m := GraphMember{Name: r.Name, Kind: r.Kind.String(), Line: r.Pos.Line}
			if r.Kind == schema.KindPermission {
				m.Expr = schema.RewriteText(r.Rewrite)
			} else {
				var types []string
				for _, a := range r.Allowed {
					types = append(types, a.Type+allowedSuffix(a))
				}
				m.Types = strings.Join(types, " | ")
			}
			n.Members = append(n.Members, m)
		}
		g.Nodes = append(g.Nodes, n)
	}
	for _, c := range p.Caveats() {
		var params []string
		for _, prm := range c.Params {
			params = append(params, prm.Name+" "+prm.Type)
		}
		g.Nodes = append(g.Nodes, GraphNode{Name: c.Name, Caveat: true, Line: c.Pos.Line, Doc: c.Doc,
			Members: []GraphMember{{Name: c.Name, Kind: "caveat", Expr: "(" + strings.Join(params, ", ") + ")", Line: c.Pos.Line}}})
	}
	for _, d := range p.Definitions() {
		for _, r := range d.Relations {
			for _, a := range r.Allowed {
				add(GraphEdge{From: d.Name, Member: r.Name, To: a.Type, Kind: "relation", Label: r.Name + allowedSuffix(a)})
				if a.Caveat != "" {
					add(GraphEdge{From: d.Name, Member: r.Name, To: a.Caveat, Kind: "caveat", Label: "with " + a.Caveat})
				}
			}
			if r.Kind != schema.KindPermission {
				continue
			}
			walk(r.Rewrite, func(rw *schema.Rewrite) {
				if rw.Op != schema.OpArrow && rw.Op != schema.OpArrowAll {
					return
				}
				ts := d.Relation(rw.Relation)
				if ts == nil {
					return
				}
				for _, a := range ts.Allowed {
					if p.Lookup(a.Type, rw.Target) != nil {
						add(GraphEdge{From: d.Name, Member: r.Name, To: a.Type, Kind: "arrow", Label: schema.RewriteText(rw)})
					}
				}
			})
		}
	}
	return g
}

func walk(rw *schema.Rewrite, fn func(*schema.Rewrite)) {
	if rw == nil {
		return
	}
	fn(rw)
	for _, c := range rw.Children {
		walk(c, fn)
	}
}

// allowedSuffix describes an allowed subject type beyond its type:
// "#member", ":*", " with caveat", " with expiration".
func allowedSuffix(a schema.AllowedType) string {
	var s string
	switch {
	case a.Wildcard:
		s = ":*"
	case a.Relation != "":
		s = "#" + a.Relation
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

// Proof is an explanation as a graph: steps (nodes) and the edges from a
// step to the steps it rests on. Node 0 is the check itself. A step
// reached along two paths is one node.
type Proof struct {
	Nodes []ProofNode `json:"nodes"`
	Edges [][2]int    `json:"edges"` // [parent, child]
}

// ProofNode is one step of a proof.
type ProofNode struct {
	Label  string `json:"label"`
	Rule   string `json:"rule"`
	Result string `json:"result"` // allowed, denied or conditional
}

// maxProofNodes bounds the graph of a proof (a denial can try many
// branches).
const maxProofNodes = 400

func buildProof(x *engine.Explanation) *Proof {
	p := &Proof{Nodes: []ProofNode{}, Edges: [][2]int{}}
	if x == nil {
		return p
	}
	ids := map[*engine.Explanation]int{}
	var visit func(n *engine.Explanation) int
	visit = func(n *engine.Explanation) int {
		if id, ok := ids[n]; ok {
			return id
		}
		id := len(p.Nodes)
		ids[n] = id
		p.Nodes = append(p.Nodes, ProofNode{Label: n.Label(), Rule: n.Rule, Result: n.Result.String()})
		for _, c := range n.Children {
			if c == nil {
				continue
			}
			if _, ok := ids[c]; !ok && len(p.Nodes) >= maxProofNodes {
				continue
			}
			p.Edges = append(p.Edges, [2]int{id, visit(c)})
		}
		return id
	}
	visit(x)
	return p
}
