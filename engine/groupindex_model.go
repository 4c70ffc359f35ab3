package engine

import (
	"slices"
	"strings"
)

// groupRelations picks the relations the group index may close over and
// numbers them (relDef.group, model.groupRels, model.groupCore,
// model.groupSig).
//
// The subject-set graph has an edge R -> Q when relation R allows the
// subject set type#Q and Q is a relation (not a permission). The relations
// that nest are those on a cycle of that graph: a strongly connected
// component with an edge inside it, as group#member allowing group#member,
// or team#member and department#member allowing each other. The core of
// the index is them and every relation reachable from them (the subject
// sets a member of a group may be), so that the closure is complete: the
// index is built only if the core fits its memory bound.
//
// Above the core, the relations whose every allowed subject set is a
// relation of the core or of this upper tier (department#member: user |
// team#member; campaign#viewer: user | department#member) are indexed too
// where memory allows, children first: "is ana in any team of sales?" is
// then one lookup on department:sales#member, not a read of its teams.
// An upper relation may have very many objects (every document with a
// viewer group), so each is optional: the build adds them in order while
// the index stays under half its bound, and leaves the rest to the walk
// (which asks the index for each subject set it reads).
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
	add := func(rd *relDef) {
		rd.group = len(m.groupRels)
		m.groupRels = append(m.groupRels, rd)
		names = append(names, rd.typ+"#"+rd.name)
	}
	for _, rd := range rels {
		if in[rd] {
			add(rd)
		}
	}
	m.groupCore = len(m.groupRels)
	if m.groupCore == 0 {
		return
	}
	// The upper tier, in rounds: a relation joins once every subject set
	// it allows is in.
	for grew := true; grew; {
		grew = false
		var round []*relDef
		for _, rd := range rels {
			if rd.group >= 0 || len(rd.subjectSets) == 0 {
				continue
			}
			ok := true
			for _, ss := range rd.subjectSets {
				if q := m.lookup(ss.typ, ss.rel); q == nil || q.group < 0 {
					ok = false
					break
				}
			}
			if ok {
				round = append(round, rd)
			}
		}
		for _, rd := range round {
			add(rd)
			grew = true
		}
	}
	m.groupSig = strings.Join(names[:m.groupCore], ",") + "|" + strings.Join(names[m.groupCore:], ",")
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
