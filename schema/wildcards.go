package schema

// wildcardRef says which wildcard a relation includes and through which
// relation (`def#rel`).
type wildcardRef struct {
	wildcard string // the wildcard's subject type
	via      string // def#rel that lists it
}

// wildcardFinder answers, for every relation, which wildcard it includes,
// directly (`T:*`) or through the subject relations it allows (`T#rel` where
// rel is a relation that includes one). SpiceDB refuses such a relation on
// the left of an arrow and as a subject set of another definition.
//
// The relations and their subject relations form a graph, which may have
// cycles (`relation member: group#member`). Asking each question with a
// fresh depth-first walk took time quadratic in the length of a chain of
// subject relations; here one walk (Tarjan's strongly connected components)
// visits each relation once and keeps every answer.
//
// A relation's answer is its own first wildcard, else the first answer among
// its subject relations in the order written, so that without cycles it is
// exactly what a fresh walk finds. The relations of a cycle all reach the same
// wildcards; each of them gets one of those wildcards.
type wildcardFinder struct {
	c     *checker
	nodes map[string]*wildcardNode // by def#rel
	stack []*wildcardNode
	next  int
}

type wildcardNode struct {
	index, low int
	onStack    bool
	found      *wildcardRef
}

func newWildcardFinder(c *checker) *wildcardFinder {
	return &wildcardFinder{c: c, nodes: map[string]*wildcardNode{}}
}

// find returns the wildcard relation rel of definition def includes, or nil.
func (w *wildcardFinder) find(def string, rel *RelationDecl) *wildcardRef {
	if n, ok := w.nodes[def+"#"+rel.Name]; ok {
		return n.found
	}
	return w.visit(def, rel).found
}

// visit computes the answer for def#rel and every relation it reaches that
// has none yet.
func (w *wildcardFinder) visit(def string, rel *RelationDecl) *wildcardNode {
	key := def + "#" + rel.Name
	n := &wildcardNode{index: w.next, low: w.next, onStack: true}
	w.next++
	w.nodes[key] = n
	w.stack = append(w.stack, n)
	for _, t := range rel.Types {
		if t.Wildcard {
			n.found = &wildcardRef{wildcard: t.Type, via: key}
			break
		}
	}
	for _, t := range rel.Types {
		if t.Relation == "" || t.Relation == "..." {
			continue
		}
		sub, ok := w.c.members[t.Type][t.Relation].(*RelationDecl)
		if !ok {
			continue
		}
		m, seen := w.nodes[t.Type+"#"+t.Relation]
		switch {
		case !seen:
			m = w.visit(t.Type, sub)
			n.low = min(n.low, m.low)
		case m.onStack:
			n.low = min(n.low, m.index)
		}
		if n.found == nil {
			n.found = m.found
		}
	}
	if n.low == n.index {
		// n is the root of a strongly connected component: its members are
		// the nodes above it on the stack. They reach the same wildcards.
		i := len(w.stack) - 1
		for w.stack[i] != n {
			i--
		}
		scc := w.stack[i:]
		found := n.found
		for _, m := range scc {
			if found == nil {
				found = m.found
			}
		}
		for _, m := range scc {
			if m.found == nil {
				m.found = found
			}
			m.onStack = false
		}
		w.stack = w.stack[:i]
	}
	return n
}
