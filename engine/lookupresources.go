package engine

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// ctxEvery is how many relationships a lookup reads (or results it gives)
// between two looks at its context.
const ctxEvery = 128

// upNode is "the subject reaches rel on typ:id", met while walking up.
type upNode struct{ typ, id, rel string }

// LookupResources calls fn, in resource id order, for each resource of
// req.ResourceType that req.Subject reaches through req.Permission, until fn
// returns false or req.Limit results were given. It returns a cursor to
// continue from when results remain (read at the same revision), or "".
//
// It walks up from the subject through the reverse index (relationships
// that name the subject, then the subject sets and arrows that lead from
// there), never by checking every resource. Resources reached only through
// union-like rules are certain; those reached through an intersection,
// exclusion, .all arrow or a caveat are candidates. A candidate is then
// judged by which operands of its rewrite the walk reached (upWalk.sieve):
// one side of an intersection alone rules it out, every side for certain
// proves it, and only what remains (a caveat, an exclusion's base, .all) is
// confirmed with Check.
func (e *Engine) LookupResources(ctx context.Context, req LookupResourcesRequest, fn func(LookupResult) bool) (string, error) {
	var rev tuples.Revision
	after := ""
	var err error
	if req.Cursor != "" {
		rev, after, err = decodeCursor(req.Cursor)
	} else {
		rev, err = e.revision(ctx, req.Consistency)
	}
	if err != nil {
		return "", err
	}
	snap, m, err := e.snapshot(ctx, rev)
	if err != nil {
		return "", err
	}
	defer snap.Close()
	if m.lookup(req.ResourceType, req.Permission) == nil {
		return "", errUnknownRelation(req.ResourceType, req.Permission, m)
	}
	s := req.Subject
	if m.types[s.Type] == nil {
		return "", errUnknownRelation(s.Type, "", m)
	}
	if s.Relation != "" && m.lookup(s.Type, s.Relation) == nil {
		return "", errUnknownRelation(s.Type, s.Relation, m)
	}

	target := m.lookup(req.ResourceType, req.Permission)
	w, err := walkUp(ctx, snap, m, e.groups.view(rev, m), s, target, e.opts.MaxDepth)
	if err != nil {
		return "", err
	}
	// Candidates the walk alone rules out are dropped before they are
	// sorted; those it proves need no check.
	type cand struct {
		id string
		t  tri
	}
	ids := make([]cand, 0, len(w.cands))
	for id, def := range w.cands {
		if id <= after {
			continue
		}
		t := triYes
		if !def {
			t = w.sieve(upKey{target, id})
		}
		if t != triNo {
			ids = append(ids, cand{id, t})
		}
	}
	slices.SortFunc(ids, func(a, b cand) int { return strings.Compare(a.id, b.id) })

	c := e.newChecker(ctx, snap, m, false)
	c.setContext(req.Context)
	n, last := 0, ""
	for i, cd := range ids {
		if i%ctxEvery == ctxEvery-1 {
			if err := ctx.Err(); err != nil {
				return "", err
			}
		}
		id, p := cd.id, Allowed
		var missing []string
		if cd.t == triMaybe {
			o, err := c.check(req.ResourceType, id, req.Permission, s)
			if err != nil {
				return "", fmt.Errorf("confirming %s:%s: %w", req.ResourceType, id, err)
			}
			p = o.perm
			if p == Conditional {
				missing = o.missing
			}
		}
		if p == Denied {
			continue
		}
		if req.Limit > 0 && n == req.Limit {
			return encodeCursor(rev, last), nil // one more exists
		}
		if !fn(LookupResult{ResourceID: id, Permissionship: p, Missing: missing}) {
			return encodeCursor(rev, id), nil
		}
		n++
		last = id
	}
	return "", nil
}

// upWalk is what walkUp found: the candidates and every node met, so that
// sieve can tell a candidate reached through one side of an intersection
// only from one that needs a check.
type upWalk struct {
	m       *model
	cands   map[string]bool
	visited map[upKey]upState
	memo    map[upKey]tri
}

// upKey is "the subject reaches rd on the object of rd's type with this
// id": upNode keyed by the relation's definition, cheaper to hash.
type upKey struct {
	rd *relDef
	id string
}

// upState is what the walk knows of a node: whether the subject reaches it
// for certain, and, for a node of a sieve permission, which of its arrows
// (relDef.arrowBits) the walk arrived through at all (any) and with
// certainty (sure). A computed userset needs no record: its node on the
// same object is in visited.
type upState struct {
	def       bool
	any, sure uint32
}

// tri is a three-valued answer: the subject is not in a set, may be, or is.
type tri uint8

const (
	triNo tri = iota
	triMaybe
	triYes
)

// sieve answers, from the walk alone, whether the subject reaches n: triNo
// when an operand the rewrite needs was never reached (the walk meets every
// node the subject may reach, so an operand it did not meet is empty for
// the subject), triYes when the operands reached for certain decide it,
// triMaybe when only a Check can tell (a caveat, a subtracted side, .all).
func (w *upWalk) sieve(n upKey) tri {
	st, ok := w.visited[n]
	switch {
	case !ok:
		return triNo
	case st.def:
		return triYes
	case !n.rd.sieve:
		return triMaybe
	}
	if t, ok := w.memo[n]; ok {
		return t
	}
	if w.memo == nil {
		w.memo = map[upKey]tri{}
	}
	w.memo[n] = triMaybe // a cycle through computed usersets: no answer
	t := w.sieveRewrite(n, st, n.rd.rewrite)
	w.memo[n] = t
	return t
}

func (w *upWalk) sieveRewrite(n upKey, st upState, rw *schema.Rewrite) tri {
	switch rw.Op {
	case schema.OpComputed:
		c := w.m.lookup(n.rd.typ, rw.Relation)
		if c == nil {
			return triNo // a relation the type lacks: empty, as in Check
		}
		return w.sieve(upKey{c, n.id})
	case schema.OpArrow, schema.OpArrowAll:
		bit := n.rd.arrowBits[[2]string{rw.Relation, rw.Target}]
		switch {
		case bit == 0: // more arrows than bits: not recorded
			return triMaybe
		case st.any&bit == 0:
			return triNo
		case st.sure&bit != 0 && rw.Op == schema.OpArrow:
			return triYes
		}
		return triMaybe
	case schema.OpUnion:
		t := triNo
		for _, c := range rw.Children {
			t = max(t, w.sieveRewrite(n, st, c))
			if t == triYes {
				break
			}
		}
		return t
	case schema.OpIntersection:
		t := triYes
		for _, c := range rw.Children {
			t = min(t, w.sieveRewrite(n, st, c))
			if t == triNo {
				break
			}
		}
		return t
	case schema.OpExclusion:
		// The subtracted side is not walked (it never grants): only an
		// unreached base decides.
		if w.sieveRewrite(n, st, rw.Children[0]) == triNo {
			return triNo
		}
		return triMaybe
	}
	return triNo // OpNil
}

// walkUp finds the ids of resources of type rtype that s may reach through
// perm (upWalk.cands), each with whether it is certain (true) or needs
// confirming (upWalk.sieve, then Check).
//
// It applies Check's depth limit: the level of a node is the number of
// nested checks a Check of it for s needs (a relation naming s directly: 1;
// each computed userset, subject set or arrow above it: one more), the
// walk is breadth first so that a node's first level is its least, and a
// node whose level passes maxDepth fails the lookup with ErrMaxDepth, as
// its Check would fail. SpiceDB's LookupResources fails the same way when
// its dispatch depth runs out. Nodes that cannot lead to rtype#perm are not
// walked (nor counted against the limit). Where the group index gidx (nil:
// none) knows the groups that name a group as a subject set, it gives them
// instead of the store's reverse index.
func walkUp(ctx context.Context, snap tuples.Snapshot, m *model, gidx *groupIndex, s Subject, target *relDef, maxDepth int) (*upWalk, error) {
	useful := m.leadsTo(target)
	type item struct {
		n     upKey
		def   bool
		level int
	}
	visited := map[upKey]upState{}
	var queue []item
	var err error
	// push records that the subject reaches n (def: for certain), through
	// the arrow bit of n's permission if bit != 0 (sure: reaching the
	// arrow's target for certain), and queues n when that is news.
	push := func(n upKey, def bool, level int, bit uint32, sure bool) {
		if !useful[n.rd.idx] {
			return
		}
		st, ok := visited[n]
		if bit != 0 {
			st.any |= bit
			if sure {
				st.sure |= bit
			}
		}
		if ok && (st.def || !def) {
			if bit != 0 {
				visited[n] = st
			}
			return
		}
		if level > maxDepth && err == nil {
			err = fmt.Errorf("looking up %s#%s for %s: reaching %s:%s#%s: %w (%d)", target.typ, target.name, s, n.rd.typ, n.id, n.rd.name, ErrMaxDepth, maxDepth)
			return
		}
		st.def = def
		visited[n] = st
		queue = append(queue, item{n, def, level})
	}

	if s.Relation != "" {
		// A subject set is a member of itself: no check needed.
		if rd := m.lookup(s.Type, s.Relation); rd != nil {
			push(upKey{rd, s.ID}, true, 0, 0, false)
		}
	}
	read := 0
	// scans keeps what the reads of shared arrows (usage.shared) found.
	type scanKey struct{ st, sid, srel, typ, rel string }
	type scanHit struct {
		id    string
		clean bool // no caveat
	}
	var scans map[scanKey][]scanHit
	// from pushes the objects x of parent's type whose relation rel names
	// st:sid#srel, as parent on x. When bit != 0, that is an arrow of the
	// sieve permission parent, and sure is whether the subject is in the
	// arrow's target on st:sid for certain (def adds the rewrite's doubt).
	// keep says that another arrow may read the same: keep what is found.
	from := func(st, sid, srel string, rel string, parent *relDef, def bool, level int, bit uint32, sure, keep bool) {
		if err != nil || !useful[parent.idx] {
			return
		}
		var hits []scanHit
		var k scanKey
		if keep {
			k = scanKey{st, sid, srel, parent.typ, rel}
			if kept, ok := scans[k]; ok {
				for _, h := range kept {
					push(upKey{parent, h.id}, def && h.clean, level, bit, sure && h.clean)
				}
				return
			}
			hits = []scanHit{}
		}
		if gidx != nil && rel == parent.name && gidx.parentsOf(st, sid, srel, typeRel{parent.typ, rel}, snap.Revision(), func(id string) {
			push(upKey{parent, id}, def, level, 0, false)
		}) {
			return
		}
		serr := snap.Resources(st, sid, srel, parent.typ, rel, func(r tuples.Relationship) bool {
			if read++; read%ctxEvery == 0 {
				if err = ctx.Err(); err != nil {
					return false
				}
			}
			clean := r.Caveat == nil
			if hits != nil {
				hits = append(hits, scanHit{r.ResourceID, clean})
			}
			push(upKey{parent, r.ResourceID}, def && clean, level, bit, sure && clean)
			return err == nil
		})
		if err == nil {
			err = serr
		}
		if err == nil && hits != nil {
			if scans == nil {
				scans = map[scanKey][]scanHit{}
			}
			scans[k] = hits
		}
	}
	for _, rd := range m.allowedBy[typeRel{s.Type, s.Relation}] {
		from(s.Type, s.ID, s.Relation, rd.name, rd, true, 1, 0, false, false)
	}
	if s.ID != wildcardID { // a wildcard reaches subject sets too, as in Check
		for _, rd := range m.wildcardBy[s.Type] {
			from(s.Type, "*", "", rd.name, rd, true, 1, 0, false, false)
		}
	}
	cands := map[string]bool{}
	for i := 0; i < len(queue) && err == nil; i++ {
		if i&1023 == 1023 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		it := queue[i]
		if visited[it.n].def != it.def {
			continue // superseded by a certain visit
		}
		n := it.n
		if n.rd == target {
			cands[n.id] = cands[n.id] || it.def
		}
		up := it.level + 1 // one more check above this one
		for _, u := range n.rd.usedBy {
			switch u.kind {
			case usedComputed:
				push(upKey{u.parentRD, n.id}, it.def && u.definite, up, 0, false)
			case usedSubjectSet:
				from(n.rd.typ, n.id, n.rd.name, u.parent, u.parentRD, it.def, up, 0, false, false)
			case usedArrow:
				for _, sr := range u.subjRels {
					from(n.rd.typ, n.id, sr, u.tupleset, u.parentRD, it.def && u.definite, up, u.bit, it.def, u.shared)
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return &upWalk{m: m, cands: cands, visited: visited}, nil
}

const cursorPrefix = "c1."

func encodeCursor(rev tuples.Revision, after string) string {
	return cursorPrefix + rev.Token() + "." + base64.RawURLEncoding.EncodeToString([]byte(after))
}

func decodeCursor(s string) (tuples.Revision, string, error) {
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	tok, id, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return 0, "", fmt.Errorf("%w %q", ErrBadCursor, s)
	}
	rev, err := tuples.ParseToken(tok)
	if err != nil {
		return 0, "", fmt.Errorf("%w %q: %v", ErrBadCursor, s, err)
	}
	after, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return 0, "", fmt.Errorf("%w %q: %v", ErrBadCursor, s, err)
	}
	return rev, string(after), nil
}
