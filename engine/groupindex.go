package engine

// The group index: Zanzibar's Leopard (section 3.2.4 of the paper) for
// reach. Leopard keeps, for nested groups, the transitive closure of
// "group contains group" and the direct "member of group" pairs, so that
// "is ana in group G?" is one intersection instead of a walk down every
// subgroup. reach keeps the same, in memory, in every engine (each node of
// a shared store builds its own from the store: it works on every driver).
//
// What it closes over. The relations that nest (see groupRelations: the
// relations on a cycle of the subject-set graph, as group#member allowing
// group#member, and every relation below them: the core), and where
// memory allows the relations above them whose subject sets are all
// indexed (department#member: user | team#member: the upper tier), are
// pure unions of their relationships: a relation has no rewrite. Of
// their relationships only the clean ones enter the closure: one without
// a caveat, without an expiration and without a wildcard subject. Such a relationship whose
// subject is a subject set of an indexed relation is an edge from group to
// group; one whose subject is a plain object is a member. Every other
// relationship (a caveat, an expiration, a wildcard, or a subject set of a
// relation not indexed, such as a permission) is unclean: the index counts
// it on its group and marks every group above as "unclean below". For a
// group clean below, the index answers both ways; for the others it
// answers only Allowed (a clean chain is proof: a union cannot be undone)
// and leaves Denied to the walk, which then evaluates caveats and
// expirations as before. Permissions (intersections, exclusions, arrows)
// are never indexed: they walk as before, asking the index when they meet
// an indexed relation.
//
// Representation. Groups are nodes numbered from 0; per node: the clean
// subject-set edges to other nodes (children, and parents for walking
// up), desc (every node reachable through clean edges, sorted; a node
// is in its own desc only on a cycle), the number of unclean
// relationships on it, whether one is reachable (reachDirty), a bound on
// the nested checks the walk down would need (bound) and the revision it
// last changed at (changed). The members of one strongly connected
// component (a cycle of groups) have the same closure and share one desc
// slice, so a cycle of k groups costs k, not k*k. Members are kept the
// other way round, per subject: the groups a subject is a direct, clean
// member of (one node inline in the map value, more in a side table).
// "Does s reach G" is then: some group p that s is a member of is G or
// in desc(G); for a subject set of an indexed relation, its node is in
// desc(G).
//
// Revisions. The index is at one revision, caughtUp, and follows the
// store's change feed (datastore.ChangeFeed.Changes) from the revision it
// was built at (read with ForEach at that revision). Reads at older
// revisions are exact too, without keeping old versions: each node keeps
// the revision at which the part of the graph reachable from it last
// changed (its own relationships, or those of any node below). A node
// that did not change after revision r has the same closure, members and
// uncleanness at r as now, so the index answers a read at r for it when
// builtAt <= r <= caughtUp and changed <= r; otherwise (a read newer than
// the index, or a group changed since) the check walks. A change on node
// X changes the graph reachable from exactly X's ancestors (adding or
// removing an edge out of X never changes who reaches X), and a batch of
// change sets marks the ancestors of each changed node, in the graph
// after the batch, with the last revision that changed it: a node whose
// graph changed between r and now has, along the path it had, a first
// edge that is gone now; that edge's node changed after r and is still
// reached, so the node is marked after r.
//
// Walking up. LookupResources walks up from the subject; for a group
// named as a subject set, the index gives the groups that name it
// (parents) instead of the store's reverse index, when no relationship
// naming it changed after the revision read (inChanged) and none naming
// it is unclean (dirtyIn).
//
// Maintenance. After a batch, the closures of the changed nodes'
// ancestors are computed again from the edges held in memory, children
// first: Tarjan's algorithm over the ancestors (edges into other nodes
// keep those nodes' closures, which did not change), each component's
// closure the union of its children's. Deletions and cycles need nothing
// special: the affected closures are recomputed, not patched. The work of
// one change is the size of the closures above it; a rebuild from the
// store happens only when the schema changes which relations nest, when
// the change feed has been garbage-collected past the index, or when the
// index is first needed.
//
// Memory. Options.GroupIndexMaxBytes (512 MiB by default) bounds the
// estimate of bytes(): the core must fit under it (or there is no index,
// and checks walk), the upper relations under half of it; an index that
// grows past it while following the feed is built again with fewer upper
// relations. reach bench's gifting dataset at 10M relationships takes 122
// MiB of heap (BenchmarkGroupIndexSize).
//
// Depth. A check answered by the index needs at most bound nested checks
// (the number of groups on the longest chain below the group, a cycle
// counting its groups): the index answers only where that fits under
// Options.MaxDepth, so that it never answers what the walk would refuse
// with ErrMaxDepth; deeper it walks, as before.

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/reach-authz/reach/tuples"
)

// maxBound caps gnode.bound.
const maxBound = 1 << 20

// multiBit marks a member's value as an index into groupIndex.multi.
const multiBit = 1 << 31

type gnode struct {
	id       string
	rel      uint16
	ownsDesc bool // this node's desc is counted in pairs (one per component)
	// reachDirty: an unclean relationship is on this node or below.
	reachDirty bool
	ndirty     int32 // unclean relationships on this node
	bound      int32
	changed    tuples.Revision
	// dirtyIn counts the unclean relationships naming this node as their
	// subject (a caveated nesting, say); inChanged is the revision at
	// which a relationship naming it last changed. Walking up (parents)
	// at revision r is exact when inChanged <= r and dirtyIn is 0.
	dirtyIn   int32
	inChanged tuples.Revision
	children  []uint32 // sorted
	parents   []uint32 // sorted
	desc      []uint32 // sorted; shared by the members of a component
}

// dirtyKey names an unclean relationship: its group and its subject.
type dirtyKey struct {
	node          uint32
	st, sid, srel string
}

// groupIndex is the index of one set of nesting relations (one groupSig).
// Readers hold mu for reading; the one writer (groupIndexer) for writing.
type groupIndex struct {
	sig  string
	rels []typeRel // the model's groupRels
	// present says which of them the index holds (the core, and the
	// upper relations the build found room for); relIdx maps those.
	present []bool
	relIdx  map[typeRel]int
	builtAt tuples.Revision

	caughtUp atomic.Uint64
	hits     atomic.Uint64 // answers given

	mu    sync.RWMutex
	ids   []map[string]uint32 // per relation: object id -> node
	nodes []gnode
	// members: per subject kind (type, subject relation), subject id ->
	// the node it is a clean member of, or multiBit|i for multi[i].
	members   map[typeRel]map[string]uint32
	multi     [][]uint32
	freeMulti []uint32
	// dirty holds the unclean relationships; true for those also counted
	// as members (a subject set of a relation not indexed).
	dirty map[dirtyKey]bool

	nEdges, nMembers, pairs, idBytes int

	// Scratch for recompute, one entry per node, each array with its
	// epoch (a mark is set when it equals the epoch): umark/uep the
	// affected nodes, epoch/ep those Tarjan visited (tIdx 0: done),
	// cmark/cep the component being closed, dmark/dep its closure.
	uep, ep, cep, dep        uint32
	umark, epoch, tIdx, tLow []uint32
	cmark, dmark             []uint32
	unionBuf, sccStack       []uint32
}

// newGroupIndex returns an empty index of m's core relations and its
// first upper ones, at revision rev.
func newGroupIndex(m *model, rev tuples.Revision, upper int) *groupIndex {
	x := &groupIndex{sig: m.groupSig, relIdx: map[typeRel]int{}, builtAt: rev,
		members: map[typeRel]map[string]uint32{}, dirty: map[dirtyKey]bool{}}
	for i, rd := range m.groupRels {
		k := typeRel{rd.typ, rd.name}
		x.rels = append(x.rels, k)
		x.ids = append(x.ids, map[string]uint32{})
		in := i < m.groupCore+upper
		x.present = append(x.present, in)
		if in {
			x.relIdx[k] = i
		}
	}
	x.caughtUp.Store(uint64(rev))
	return x
}

// holds reports whether the index holds relation rd.
func (x *groupIndex) holds(rd *relDef) bool {
	return rd.group >= 0 && rd.group < len(x.present) && x.present[rd.group]
}

func (x *groupIndex) revision() tuples.Revision { return tuples.Revision(x.caughtUp.Load()) }

// node returns the node of relation ri on object id, made if absent.
func (x *groupIndex) node(ri int, id string) uint32 {
	if n, ok := x.ids[ri][id]; ok {
		return n
	}
	id = strings.Clone(id)
	x.idBytes += len(id)
	n := uint32(len(x.nodes))
	x.nodes = append(x.nodes, gnode{id: id, rel: uint16(ri), bound: 1})
	x.ids[ri][id] = n
	return n
}

// classify says what r, a relationship of an indexed relation, is: an
// edge to node child (edge), a member (member), and/or unclean (dirty).
func (x *groupIndex) classify(r *tuples.Relationship) (edge, member, dirty bool, childRel int) {
	if r.SubjectID == wildcardID || r.Caveat != nil || r.Expiration != nil {
		return false, false, true, -1
	}
	if r.SubjectRelation == "" {
		return false, true, false, -1
	}
	if ri, ok := x.relIdx[typeRel{r.SubjectType, r.SubjectRelation}]; ok {
		return true, false, false, ri
	}
	return false, true, true, -1
}

// add records relationship r of group g (absent before). sorted says to
// keep the edge lists sorted (false while building: finish sorts them).
func (x *groupIndex) add(g uint32, r *tuples.Relationship, sorted bool) {
	edge, member, dirty, cri := x.classify(r)
	if dirty {
		x.dirty[dirtyKey{g, strings.Clone(r.SubjectType), strings.Clone(r.SubjectID), strings.Clone(r.SubjectRelation)}] = member
		x.nodes[g].ndirty++
		if r.SubjectRelation != "" {
			// A group named in an unclean relationship gets a node,
			// to count it there (see parentsOf).
			if ri, ok := x.relIdx[typeRel{r.SubjectType, r.SubjectRelation}]; ok {
				x.nodes[x.node(ri, r.SubjectID)].dirtyIn++
			}
		}
	}
	if member {
		x.addMember(typeRel{r.SubjectType, r.SubjectRelation}, r.SubjectID, g)
	}
	if edge {
		c := x.node(cri, r.SubjectID)
		if sorted {
			if insertSorted(&x.nodes[g].children, c) {
				insertSorted(&x.nodes[c].parents, g)
				x.nEdges++
			}
		} else {
			x.nodes[g].children = append(x.nodes[g].children, c)
		}
	}
}

// remove forgets relationship r of group g, if it was there.
func (x *groupIndex) remove(g uint32, r *tuples.Relationship) {
	k := dirtyKey{g, r.SubjectType, r.SubjectID, r.SubjectRelation}
	if member, ok := x.dirty[k]; ok {
		delete(x.dirty, k)
		x.nodes[g].ndirty--
		if c, ok := x.subjectNode(r); ok {
			x.nodes[c].dirtyIn--
		}
		if member {
			x.removeMember(typeRel{r.SubjectType, r.SubjectRelation}, r.SubjectID, g)
		}
		return
	}
	if r.SubjectRelation != "" {
		if ri, ok := x.relIdx[typeRel{r.SubjectType, r.SubjectRelation}]; ok {
			if c, ok := x.ids[ri][r.SubjectID]; ok && removeSorted(&x.nodes[g].children, c) {
				removeSorted(&x.nodes[c].parents, g)
				x.nEdges--
			}
			return
		}
	}
	x.removeMember(typeRel{r.SubjectType, r.SubjectRelation}, r.SubjectID, g)
}

func (x *groupIndex) addMember(kind typeRel, id string, g uint32) {
	m := x.members[kind]
	if m == nil {
		m = map[string]uint32{}
		x.members[typeRel{strings.Clone(kind.typ), strings.Clone(kind.rel)}] = m
	}
	v, ok := m[id]
	switch {
	case !ok:
		m[strings.Clone(id)] = g
		x.idBytes += len(id)
	case v&multiBit == 0:
		if v == g {
			return
		}
		var i uint32
		if n := len(x.freeMulti); n > 0 {
			i = x.freeMulti[n-1]
			x.freeMulti = x.freeMulti[:n-1]
		} else {
			i = uint32(len(x.multi))
			x.multi = append(x.multi, nil)
		}
		x.multi[i] = []uint32{min(v, g), max(v, g)}
		m[id] = multiBit | i
	default:
		if !insertSorted(&x.multi[v&^multiBit], g) {
			return
		}
	}
	x.nMembers++
}

func (x *groupIndex) removeMember(kind typeRel, id string, g uint32) {
	m := x.members[kind]
	v, ok := m[id]
	switch {
	case !ok:
		return
	case v&multiBit == 0:
		if v != g {
			return
		}
		delete(m, id)
		x.idBytes -= len(id)
	default:
		i := v &^ multiBit
		if !removeSorted(&x.multi[i], g) {
			return
		}
		if len(x.multi[i]) == 1 {
			m[id] = x.multi[i][0]
			x.multi[i] = nil
			x.freeMulti = append(x.freeMulti, i)
		}
	}
	x.nMembers--
}

// groupsOf returns the groups subject (kind, id) is a clean member of.
func (x *groupIndex) groupsOf(kind typeRel, id string, one *[1]uint32) []uint32 {
	v, ok := x.members[kind][id]
	switch {
	case !ok:
		return nil
	case v&multiBit == 0:
		one[0] = v
		return one[:]
	}
	return x.multi[v&^multiBit]
}

// finish ends a build: sorts the edge lists and computes every closure.
func (x *groupIndex) finish() {
	for g := range x.nodes {
		n := &x.nodes[g]
		slices.Sort(n.children)
		n.children = slices.Clip(slices.Compact(n.children))
		x.nEdges += len(n.children)
		for _, c := range n.children {
			x.nodes[c].parents = append(x.nodes[c].parents, uint32(g))
		}
	}
	all := make([]uint32, len(x.nodes))
	for g := range all {
		all[g] = uint32(g)
		x.nodes[g].parents = slices.Clip(x.nodes[g].parents) // appended in order: sorted
	}
	x.recompute(all)
}

// apply applies change sets read from the feed up to revision upto.
func (x *groupIndex) apply(sets []tuples.ChangeSet, upto tuples.Revision) {
	x.mu.Lock()
	defer x.mu.Unlock()
	touched := map[uint32]tuples.Revision{}
	for _, cs := range sets {
		for i := range cs.Changes {
			ch := &cs.Changes[i]
			r := &ch.Relationship
			ri, ok := x.relIdx[typeRel{r.ResourceType, r.Relation}]
			if !ok {
				continue
			}
			var g uint32
			if ch.Op == tuples.Delete {
				if g, ok = x.ids[ri][r.ResourceID]; !ok {
					continue
				}
				x.remove(g, r)
			} else {
				g = x.node(ri, r.ResourceID)
				x.remove(g, r) // a touch replaces
				x.add(g, r, true)
			}
			touched[g] = cs.Revision
			if c, ok := x.subjectNode(r); ok {
				x.nodes[c].inChanged = cs.Revision
			}
		}
	}
	if len(touched) > 0 {
		x.propagate(touched)
	}
	if upto > x.revision() {
		x.caughtUp.Store(uint64(upto))
	}
}

// propagate marks the ancestors of the touched nodes with the last
// revision that touched a node below them and recomputes their closures.
func (x *groupIndex) propagate(touched map[uint32]tuples.Revision) {
	order := make([]uint32, 0, len(touched))
	for g := range touched {
		order = append(order, g)
	}
	// Latest first: a node's first mark is its latest.
	slices.SortFunc(order, func(a, b uint32) int { return cmp.Compare(touched[b], touched[a]) })
	x.grow()
	x.uep = x.nextEpoch(x.uep, x.umark)
	var affected []uint32
	for _, g := range order {
		rev := touched[g]
		if x.umark[g] == x.uep {
			continue
		}
		x.umark[g] = x.uep
		x.nodes[g].changed = rev
		start := len(affected)
		affected = append(affected, g)
		for i := start; i < len(affected); i++ {
			for _, p := range x.nodes[affected[i]].parents {
				if x.umark[p] != x.uep {
					x.umark[p] = x.uep
					x.nodes[p].changed = rev
					affected = append(affected, p)
				}
			}
		}
	}
	x.recompute(affected)
}

// nextEpoch returns the epoch after ep for a mark array, clearing it when
// the counter wraps.
func (x *groupIndex) nextEpoch(ep uint32, marks []uint32) uint32 {
	ep++
	if ep == 0 {
		clear(marks)
		ep = 1
	}
	return ep
}

func (x *groupIndex) grow() {
	if n := len(x.nodes); len(x.umark) < n {
		x.umark = slices.Grow(x.umark, n-len(x.umark))[:n]
		x.epoch = slices.Grow(x.epoch, n-len(x.epoch))[:n]
		x.tIdx = slices.Grow(x.tIdx, n-len(x.tIdx))[:n]
		x.tLow = slices.Grow(x.tLow, n-len(x.tLow))[:n]
		x.cmark = slices.Grow(x.cmark, n-len(x.cmark))[:n]
		x.dmark = slices.Grow(x.dmark, n-len(x.dmark))[:n]
	}
}

// recompute computes the closure, bound and reachDirty of every node of
// affected (a set closed upwards: every parent of a member is a member),
// from the closures of the nodes below outside it.
func (x *groupIndex) recompute(affected []uint32) {
	x.grow()
	// affected membership: umark == uep (propagate set it; a build marks
	// all).
	x.uep = x.nextEpoch(x.uep, x.umark)
	for _, g := range affected {
		x.umark[g] = x.uep
	}
	inAffected := x.uep
	x.ep = x.nextEpoch(x.ep, x.epoch)
	counter := uint32(0)
	type frame struct {
		v  uint32
		ci int
	}
	var frames []frame
	stack := x.sccStack[:0]
	visit := func(v uint32) {
		counter++
		x.epoch[v] = x.ep
		x.tIdx[v], x.tLow[v] = counter, counter
		stack = append(stack, v)
		frames = append(frames, frame{v, 0})
	}
	for _, root := range affected {
		if x.epoch[root] == x.ep {
			continue
		}
		visit(root)
		for len(frames) > 0 {
			f := &frames[len(frames)-1]
			v := f.v
			if ch := x.nodes[v].children; f.ci < len(ch) {
				c := ch[f.ci]
				f.ci++
				if x.umark[c] != inAffected {
					continue
				}
				if x.epoch[c] != x.ep {
					visit(c)
				} else if x.tIdx[c] != 0 { // on the stack
					x.tLow[v] = min(x.tLow[v], x.tIdx[c])
				}
				continue
			}
			frames = frames[:len(frames)-1]
			if len(frames) > 0 {
				p := frames[len(frames)-1].v
				x.tLow[p] = min(x.tLow[p], x.tLow[v])
			}
			if x.tLow[v] != x.tIdx[v] {
				continue
			}
			i := len(stack) - 1
			for stack[i] != v {
				i--
			}
			comp := stack[i:]
			for _, m := range comp {
				x.tIdx[m] = 0 // done
			}
			x.closeComponent(comp)
			stack = stack[:i]
		}
	}
	x.sccStack = stack[:0]
}

// closeComponent computes the closure of one strongly connected component
// of affected nodes whose components below are all final.
func (x *groupIndex) closeComponent(comp []uint32) {
	x.cep = x.nextEpoch(x.cep, x.cmark)
	for _, m := range comp {
		x.cmark[m] = x.cep
	}
	x.dep = x.nextEpoch(x.dep, x.dmark)
	out := x.unionBuf[:0]
	addOne := func(v uint32) {
		if x.dmark[v] != x.dep {
			x.dmark[v] = x.dep
			out = append(out, v)
		}
	}
	cyclic := false
	bound := int32(0)
	dirty := false
	for _, m := range comp {
		n := &x.nodes[m]
		if n.ndirty > 0 {
			dirty = true
		}
		for _, c := range n.children {
			if x.cmark[c] == x.cep {
				cyclic = true
				continue
			}
			cn := &x.nodes[c]
			addOne(c)
			for _, d := range cn.desc {
				addOne(d)
			}
			bound = max(bound, cn.bound)
			dirty = dirty || cn.reachDirty
		}
	}
	size := int32(1)
	if cyclic {
		size = int32(len(comp))
		for _, m := range comp {
			addOne(m)
		}
	}
	slices.Sort(out)
	var desc []uint32
	if len(out) > 0 {
		desc = slices.Clone(out)
	}
	x.unionBuf = out[:0]
	bound = min(bound+size, maxBound)
	for i, m := range comp {
		n := &x.nodes[m]
		if n.ownsDesc {
			x.pairs -= len(n.desc)
		}
		n.desc, n.bound, n.reachDirty, n.ownsDesc = desc, bound, dirty, i == 0
	}
	x.pairs += len(desc)
}

// check answers whether s reaches the indexed relation ri on object id at
// revision rev. ok is false when the index cannot tell: it is busy, the
// group changed after rev, or the answer is Denied and something unclean
// is below the group. need is the nested checks the walk would need at
// most (see gnode.bound).
func (x *groupIndex) check(ri int, id string, s Subject, rev tuples.Revision) (p Permissionship, need int32, ok bool) {
	if !x.present[ri] || !x.mu.TryRLock() {
		return Denied, 0, false
	}
	defer x.mu.RUnlock()
	g, found := x.ids[ri][id]
	if !found {
		// No relationship since the index was built.
		x.hits.Add(1)
		return Denied, 1, true
	}
	n := &x.nodes[g]
	if n.changed > rev {
		return Denied, 0, false
	}
	if x.reaches(g, n, s) {
		x.hits.Add(1)
		return Allowed, n.bound, true
	}
	if n.reachDirty {
		return Denied, 0, false
	}
	x.hits.Add(1)
	return Denied, n.bound, true
}

func (x *groupIndex) reaches(g uint32, n *gnode, s Subject) bool {
	if s.Relation != "" {
		if sri, ok := x.relIdx[typeRel{s.Type, s.Relation}]; ok {
			y, ok := x.ids[sri][s.ID]
			return ok && (y == g || containsSorted(n.desc, y))
		}
	}
	var one [1]uint32
	for _, p := range x.groupsOf(typeRel{s.Type, s.Relation}, s.ID, &one) {
		if p == g || containsSorted(n.desc, p) {
			return true
		}
	}
	return false
}

func containsSorted(s []uint32, v uint32) bool {
	_, ok := slices.BinarySearch(s, v)
	return ok
}

func insertSorted(s *[]uint32, v uint32) bool {
	i, ok := slices.BinarySearch(*s, v)
	if ok {
		return false
	}
	*s = slices.Insert(*s, i, v)
	return true
}

func removeSorted(s *[]uint32, v uint32) bool {
	i, ok := slices.BinarySearch(*s, v)
	if !ok {
		return false
	}
	*s = slices.Delete(*s, i, i+1)
	return true
}

// holdsSubjectSets reports whether the index holds every relation rd
// allows as a subject set.
func (x *groupIndex) holdsSubjectSets(rd *relDef, m *model) bool {
	for _, ss := range rd.subjectSets {
		if q := m.lookup(ss.typ, ss.rel); q == nil || !x.holds(q) {
			return false
		}
	}
	return true
}

// relations names the relations the index holds.
func (x *groupIndex) relations() string {
	var names []string
	for i, k := range x.rels {
		if x.present[i] {
			names = append(names, k.typ+"#"+k.rel)
		}
	}
	return strings.Join(names, ",")
}

// subjectNode returns the node r's subject is, if it is a subject set of a
// relation the index holds and has a node.
func (x *groupIndex) subjectNode(r *tuples.Relationship) (uint32, bool) {
	if r.SubjectRelation == "" {
		return 0, false
	}
	ri, ok := x.relIdx[typeRel{r.SubjectType, r.SubjectRelation}]
	if !ok {
		return 0, false
	}
	c, ok := x.ids[ri][r.SubjectID]
	return c, ok
}

// parentsOf calls fn with the id of every object whose relation parent
// (held by the index) names the subject set st:sid#srel (of a relation
// the index holds) in a clean relationship, at revision rev. ok is false
// when the index cannot tell (busy, not at rev, a relationship naming the
// subject set changed after rev, or one is unclean): then fn was not
// called.
func (x *groupIndex) parentsOf(st, sid, srel string, parent typeRel, rev tuples.Revision, fn func(id string)) (ok bool) {
	pri, ok := x.relIdx[parent]
	if !ok {
		return false
	}
	sri, ok := x.relIdx[typeRel{st, srel}]
	if !ok || rev < x.builtAt || !x.mu.TryRLock() {
		return false
	}
	defer x.mu.RUnlock()
	if rev > x.revision() {
		return false
	}
	n, found := x.ids[sri][sid]
	if !found {
		return true // nothing has named it since the build
	}
	nd := &x.nodes[n]
	if nd.inChanged > rev || nd.dirtyIn > 0 {
		return false
	}
	for _, p := range nd.parents {
		if pn := &x.nodes[p]; int(pn.rel) == pri {
			fn(pn.id)
		}
	}
	x.hits.Add(1)
	return true
}
