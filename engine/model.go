package engine

import (
	"fmt"
	"sync"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
)

// model is the engine's view of a schema: the Program's rules with the
// lookups the walks need precomputed (allowed subject types per relation, and
// for lookups, where each relation is used).
type model struct {
	types map[string]*typeDef
	// allowedBy lists the relations that allow a subject (type, subject
	// relation) directly; wildcardBy those that allow type:*.
	allowedBy  map[typeRel][]*relDef
	wildcardBy map[string][]*relDef
	// caveats are the schema's caveats, compiled once per model; nil for
	// a model built by hand without a Program (tests), where a caveated
	// relationship is then conditional, never evaluated.
	caveats map[string]*caveats.Caveat

	// groupRels are the relations the group index may close over (see
	// groupRelations), in the order of relDef.group: the first groupCore
	// are its core, the others its optional upper tier. groupSig names
	// them, "" when there are none. Two models with the same groupSig
	// index the same relations the same way.
	groupRels []*relDef
	groupCore int
	groupSig  string

	// rels lists every relation and permission, in the order of
	// relDef.idx; leads caches leadsTo per target relDef.
	rels  []*relDef
	leads sync.Map
}

// newProgramModel builds the model of a compiled schema, its caveats
// compiled with it.
func newProgramModel(prog *schema.Program) (*model, error) {
	cs, err := caveats.CompileProgram(prog, nil)
	if err != nil {
		return nil, fmt.Errorf("compiling the schema's caveats: %w", err)
	}
	m := newModel(prog.Definitions())
	if cs == nil {
		cs = map[string]*caveats.Caveat{}
	}
	m.caveats = cs
	return m, nil
}

type typeDef struct {
	name string
	rels map[string]*relDef
}

type typeRel struct{ typ, rel string }

// relDef is one relation or permission.
type relDef struct {
	typ, name string
	idx       int // place in model.rels
	perm      bool
	rewrite   *schema.Rewrite // permissions only
	// direct holds the allowed subject types that are plain or subject sets
	// (type, subject relation); wildcard the types allowed as type:*.
	direct   map[typeRel]bool
	wildcard map[string]bool
	// subjectSets lists the distinct allowed subject sets (relation != "").
	subjectSets []typeRel
	// subjectTypes lists, per subject type allowed, the distinct subject
	// relations allowed with it ("" included), for walking up arrows.
	subjectTypes map[string][]string

	// usedBy says where this relation or permission feeds another one, for
	// walking up in LookupResources.
	usedBy []usage

	// upRels, for a relation with subject sets whose nesting reaches only
	// relations (no permission), lists the relations reachable from it
	// through subject sets, itself first: a check of it may then walk up
	// from the subject instead of down (see checker.walkUp). nil otherwise.
	upRels []*relDef
	// upSelf says whether one of upRels allows this relation itself as a
	// subject set (it nests in itself, as team#member does).
	upSelf bool

	// group is this relation's place in model.groupRels (-1: not in the
	// group index); nestsGroups says that every subject set it allows is
	// a relation of the group index, so that a check of it costs one
	// index lookup per subject set.
	group       int
	nestsGroups bool

	// sieve marks a permission whose rewrite holds an intersection, an
	// exclusion or a .all arrow, or names such a permission of its own
	// type: a subject reaching it through one operand may still be denied,
	// and LookupResources sorts such candidates out by the operands the
	// walk reached (upWalk.sieve) before it checks any. arrowBits numbers
	// its arrows (tupleset, target), one bit each, the first 32.
	sieve     bool
	arrowBits map[[2]string]uint32
}

type usageKind uint8

const (
	usedComputed   usageKind = iota // parent permission on the same object
	usedSubjectSet                  // relation parent allows this as type#rel
	usedArrow                       // parent permission arrows through tupleset
)

// usage is one edge of the "walk up" graph: a subject that reaches this
// relation on object x also reaches (or, when !definite, may reach) parent
// on the objects found through it.
type usage struct {
	kind       usageKind
	parentType string
	parent     string   // the parent relation or permission
	parentRD   *relDef  // parentType#parent
	tupleset   string   // usedArrow: the tupleset relation on parentType
	subjRels   []string // usedArrow: subject relations the tupleset allows for this type
	definite   bool     // false under intersection, exclusion or .all: confirm with Check
	bit        uint32   // usedArrow to a sieve permission: the arrow's bit in the parent's arrowBits (0: none)
	shared     bool     // usedArrow: another arrow of this type reads the same tupleset (see markSharedScans)
}

func (m *model) lookup(typ, rel string) *relDef {
	t := m.types[typ]
	if t == nil {
		return nil
	}
	return t.rels[rel]
}

// newModel builds the model of a list of definitions (a Program's, or one
// built by hand in tests).
func newModel(defs []*schema.Definition) *model {
	m := &model{types: make(map[string]*typeDef, len(defs)), allowedBy: map[typeRel][]*relDef{}, wildcardBy: map[string][]*relDef{}}
	for _, d := range defs {
		td := &typeDef{name: d.Name, rels: make(map[string]*relDef, len(d.Relations))}
		m.types[d.Name] = td
		for _, r := range d.Relations {
			rd := &relDef{typ: d.Name, name: r.Name, perm: r.Kind == schema.KindPermission, rewrite: r.Rewrite, group: -1}
			if !rd.perm {
				rd.direct = map[typeRel]bool{}
				rd.wildcard = map[string]bool{}
				rd.subjectTypes = map[string][]string{}
				for _, a := range r.Allowed {
					if a.Wildcard {
						if !rd.wildcard[a.Type] {
							m.wildcardBy[a.Type] = append(m.wildcardBy[a.Type], rd)
						}
						rd.wildcard[a.Type] = true
						if !contains(rd.subjectTypes[a.Type], "") {
							rd.subjectTypes[a.Type] = append(rd.subjectTypes[a.Type], "")
						}
						continue
					}
					k := typeRel{a.Type, a.Relation}
					if !rd.direct[k] {
						rd.direct[k] = true
						m.allowedBy[k] = append(m.allowedBy[k], rd)
						if a.Relation != "" {
							rd.subjectSets = append(rd.subjectSets, k)
						}
						if !contains(rd.subjectTypes[a.Type], a.Relation) {
							rd.subjectTypes[a.Type] = append(rd.subjectTypes[a.Type], a.Relation)
						}
					}
				}
			}
			rd.idx = len(m.rels)
			m.rels = append(m.rels, rd)
			td.rels[r.Name] = rd
		}
	}
	for _, td := range m.types {
		for _, rd := range td.rels {
			rd.upRels, rd.upSelf = m.subjectSetClosure(rd)
		}
	}
	m.groupRelations()
	m.markSieves()
	defer m.markSharedScans()
	// The walk-up graph.
	for _, d := range defs {
		for _, r := range d.Relations {
			rd := m.types[d.Name].rels[r.Name]
			if !rd.perm {
				for _, ss := range rd.subjectSets {
					if child := m.lookup(ss.typ, ss.rel); child != nil {
						child.addUsage(usage{kind: usedSubjectSet, parentType: d.Name, parent: r.Name, parentRD: rd, definite: true})
					}
				}
				continue
			}
			m.addRewriteUsages(d.Name, r.Name, rd.rewrite, true)
		}
	}
	return m
}

// subjectSetClosure returns the relations that rd reaches through subject
// sets (rd first), and whether one of them allows rd itself as a subject
// set; nil if rd is a permission, has no subject set, or reaches a
// permission through one. Subject sets naming a relation that does not
// exist are left out (they are "not a member").
func (m *model) subjectSetClosure(rd *relDef) ([]*relDef, bool) {
	if rd.perm || len(rd.subjectSets) == 0 {
		return nil, false
	}
	out := []*relDef{rd}
	self := false
	for i := 0; i < len(out); i++ {
		for _, ss := range out[i].subjectSets {
			child := m.lookup(ss.typ, ss.rel)
			switch {
			case child == nil:
				continue
			case child.perm:
				return nil, false
			case child == rd:
				self = true
			}
			found := false
			for _, x := range out {
				if x == child {
					found = true
					break
				}
			}
			if !found {
				out = append(out, child)
			}
		}
	}
	return out, self
}

func (rd *relDef) addUsage(u usage) {
	for _, x := range rd.usedBy {
		if x.kind == u.kind && x.parentType == u.parentType && x.parent == u.parent && x.tupleset == u.tupleset {
			if u.definite && !x.definite {
				break // keep both; the definite one wins when walking
			}
			return
		}
	}
	rd.usedBy = append(rd.usedBy, u)
}

// arrowBit returns the bit of the arrow ts->target of a sieve permission,
// giving it one if it has none: 0 if rd is no sieve or has 32 already.
func (rd *relDef) arrowBit(ts, target string) uint32 {
	if !rd.sieve {
		return 0
	}
	k := [2]string{ts, target}
	if b, ok := rd.arrowBits[k]; ok {
		return b
	}
	if len(rd.arrowBits) == 32 {
		return 0
	}
	if rd.arrowBits == nil {
		rd.arrowBits = map[[2]string]uint32{}
	}
	b := uint32(1) << len(rd.arrowBits)
	rd.arrowBits[k] = b
	return b
}

// markSharedScans sets usage.shared: two arrows over the same tupleset
// from relations of one type (send#view's organization->admin and
// organization->any_admin, both met by an organisation's admin) read the
// same relationships when LookupResources walks up through both of them
// on one object, so the walk keeps what the first read found.
func (m *model) markSharedScans() {
	type scan struct{ child, parent, tupleset string }
	n := map[scan]int{}
	for _, rd := range m.rels {
		for _, u := range rd.usedBy {
			if u.kind == usedArrow {
				n[scan{rd.typ, u.parentType, u.tupleset}]++
			}
		}
	}
	for _, rd := range m.rels {
		for i, u := range rd.usedBy {
			if u.kind == usedArrow && n[scan{rd.typ, u.parentType, u.tupleset}] > 1 {
				rd.usedBy[i].shared = true
			}
		}
	}
}

// markSieves sets relDef.sieve.
func (m *model) markSieves() {
	for grew := true; grew; {
		grew = false
		for _, td := range m.types {
			for _, rd := range td.rels {
				if rd.perm && !rd.sieve && m.needsSieve(td, rd.rewrite) {
					rd.sieve, grew = true, true
				}
			}
		}
	}
}

func (m *model) needsSieve(td *typeDef, rw *schema.Rewrite) bool {
	if rw == nil {
		return false
	}
	switch rw.Op {
	case schema.OpIntersection, schema.OpExclusion, schema.OpArrowAll:
		return true
	case schema.OpComputed:
		c := td.rels[rw.Relation]
		return c != nil && c.sieve
	}
	for _, c := range rw.Children {
		if m.needsSieve(td, c) {
			return true
		}
	}
	return false
}

func (m *model) addRewriteUsages(typ, perm string, rw *schema.Rewrite, definite bool) {
	if rw == nil {
		return
	}
	switch rw.Op {
	case schema.OpComputed:
		if child := m.lookup(typ, rw.Relation); child != nil {
			child.addUsage(usage{kind: usedComputed, parentType: typ, parent: perm, parentRD: m.lookup(typ, perm), definite: definite})
		}
	case schema.OpArrow, schema.OpArrowAll:
		ts := m.lookup(typ, rw.Relation)
		if ts == nil || ts.perm {
			return
		}
		for st, rels := range ts.subjectTypes {
			if child := m.lookup(st, rw.Target); child != nil {
				child.addUsage(usage{kind: usedArrow, parentType: typ, parent: perm, parentRD: m.lookup(typ, perm), tupleset: rw.Relation,
					subjRels: rels, definite: definite && rw.Op == schema.OpArrow, bit: m.lookup(typ, perm).arrowBit(rw.Relation, rw.Target)})
			}
		}
	case schema.OpUnion:
		for _, c := range rw.Children {
			m.addRewriteUsages(typ, perm, c, definite)
		}
	case schema.OpIntersection:
		for _, c := range rw.Children {
			m.addRewriteUsages(typ, perm, c, false)
		}
	case schema.OpExclusion:
		// Only the base can grant; the subtracted side never does.
		if len(rw.Children) > 0 {
			m.addRewriteUsages(typ, perm, rw.Children[0], false)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// leadsTo returns, indexed by relDef.idx, the relations and permissions
// from which walking up (the usedBy edges) can reach target, itself
// included: where LookupResources' walk may go. It is computed once per
// model and target.
func (m *model) leadsTo(target *relDef) []bool {
	if v, ok := m.leads.Load(target); ok {
		return v.([]bool)
	}
	out := make([]bool, len(m.rels))
	out[target.idx] = true
	for grew := true; grew; {
		grew = false
		for _, rd := range m.rels {
			if out[rd.idx] {
				continue
			}
			for _, u := range rd.usedBy {
				if out[u.parentRD.idx] {
					out[rd.idx] = true
					grew = true
					break
				}
			}
		}
	}
	m.leads.Store(target, out)
	return out
}
