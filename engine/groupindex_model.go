package engine

import (
	"slices"
	"strings"
)

// groupRelations picks the relations the group index closes over and
// numbers them (relDef.group, model.groupRels, model.groupSig).
//
// The subject-set graph has an edge R -> Q when relation R allows the
// subject set type#Q and Q is a relation (not a permission). The relations
// that nest are those on a cycle of that graph: a strongly connected
// component with an edge inside it, as group#member allowing group#member,
// or team#member and department#member allowing each other. The index
// holds them and every relation reachable from them (the subject sets a
// member of a group may be), so that the closure is complete. A relation
// that only points into them (campaign#viewer: department#member) is not
// indexed: its check reads its own subject sets and asks the index once
// for each, which keeps the index as small as the groups themselves.
func (m *model) groupRelations() {
	var rels []*relDef
	for _, td := range m.types {
		for _, rd := range td.rels {
			if !rd.perm {
				rels = append(rels, rd)
			}
		}
	}
	slices.SortFunc(rels, func(a, b *relDef) int {
		if c := strings.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	children := func(rd *relDef) []*relDef {
		var out []*relDef
		for _, ss := range rd.subjectSets {
			if q := m.lookup(ss.typ, ss.rel); q != nil && !q.perm {
				out = append(out, q)
			}
		}
		return out
	}
	// Tarjan's strongly connected components (the graph is the schema's:
	// small, so recursion is fine).
	index := map[*relDef]int{}
	low := map[*relDef]int{}
	onStack := map[*relDef]bool{}
	var stack []*relDef
	nesting := map[*relDef]bool{}
	var visit func(rd *relDef)
	visit = func(rd *relDef) {
		index[rd] = len(index)
		low[rd] = index[rd]
		stack = append(stack, rd)
		onStack[rd] = true
		for _, q := range children(rd) {
			if _, seen := index[q]; !seen {
				visit(q)
				low[rd] = min(low[rd], low[q])
			} else if onStack[q] {
				low[rd] = min(low[rd], index[q])
			}
		}
		if low[rd] != index[rd] {
			return
		}
		var comp []*relDef
		for {
			q := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[q] = false
			comp = append(comp, q)
			if q == rd {
				break
			}
		}
		cyclic := len(comp) > 1 || slices.Contains(children(rd), rd)
		if cyclic {
			for _, q := range comp {
				nesting[q] = true
			}
		}
	}
	for _, rd := range rels {
		if _, seen := index[rd]; !seen {
			visit(rd)
		}
	}
	// Close downwards.
	in := map[*relDef]bool{}
	var queue []*relDef
	for _, rd := range rels {
		if nesting[rd] {
			in[rd] = true
			queue = append(queue, rd)
		}
	}
	for i := 0; i < len(queue); i++ {
		for _, q := range children(queue[i]) {
			if !in[q] {
				in[q] = true
				queue = append(queue, q)
			}
		}
	}
	var names []string
	for _, rd := range rels {
		if in[rd] {
			rd.group = len(m.groupRels)
			m.groupRels = append(m.groupRels, rd)
			names = append(names, rd.typ+"#"+rd.name)
		}
	}
	m.groupSig = strings.Join(names, ",")
	for _, rd := range rels {
		if len(rd.subjectSets) == 0 {
			continue
		}
		rd.nestsGroups = true
		for _, ss := range rd.subjectSets {
			if q := m.lookup(ss.typ, ss.rel); q == nil || q.group < 0 {
				rd.nestsGroups = false
				break
			}
		}
	}
}
