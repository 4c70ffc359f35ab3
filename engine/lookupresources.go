package engine

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

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
// exclusion, .all arrow or a caveat are candidates, confirmed with Check.
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

	cands, err := walkUp(ctx, snap, m, e.groups.view(rev, m), s, req.ResourceType, req.Permission, e.opts.MaxDepth)
	if err != nil {
		return "", err
	}
	ids := make([]string, 0, len(cands))
	for id := range cands {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)

	c := e.newChecker(ctx, snap, m, false)
	c.setContext(req.Context)
	n, last := 0, ""
	for i, id := range ids {
		if i%ctxEvery == ctxEvery-1 {
			if err := ctx.Err(); err != nil {
				return "", err
			}
		}
		p := Allowed
		var missing []string
		if !cands[id] {
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

// walkUp returns the ids of resources of type rtype that s may reach through
// perm, each with whether it is certain (true) or needs confirming.
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
func walkUp(ctx context.Context, snap tuples.Snapshot, m *model, gidx *groupIndex, s Subject, rtype, perm string, maxDepth int) (map[string]bool, error) {
	useful := m.leadsTo(rtype, perm)
	type item struct {
		n     upNode
		def   bool
		level int
	}
	visited := map[upNode]bool{}
	var queue []item
	var err error
	push := func(n upNode, def bool, level int) {
		if !useful[typeRel{n.typ, n.rel}] {
			return
		}
		if d, ok := visited[n]; ok && (d || !def) {
			return
		}
		if level > maxDepth && err == nil {
			err = fmt.Errorf("looking up %s#%s for %s: reaching %s:%s#%s: %w (%d)", rtype, perm, s, n.typ, n.id, n.rel, ErrMaxDepth, maxDepth)
			return
		}
		visited[n] = def
		queue = append(queue, item{n, def, level})
	}
	cands := map[string]bool{}

	if s.Relation != "" {
		// A subject set is a member of itself: no check needed.
		push(upNode{s.Type, s.ID, s.Relation}, true, 0)
	}
	read := 0
	from := func(st, sid, srel, typ, rel, parent string, def bool, level int) {
		if err != nil || !useful[typeRel{typ, parent}] {
			return
		}
		if gidx != nil && rel == parent && gidx.parentsOf(st, sid, srel, typeRel{typ, rel}, snap.Revision(), func(id string) {
			push(upNode{typ, id, parent}, def, level)
		}) {
			return
		}
		serr := snap.Resources(st, sid, srel, typ, rel, func(r tuples.Relationship) bool {
			if read++; read%ctxEvery == 0 {
				if err = ctx.Err(); err != nil {
					return false
				}
			}
			push(upNode{typ, r.ResourceID, parent}, def && r.Caveat == nil, level)
			return err == nil
		})
		if err == nil {
			err = serr
		}
	}
	for _, rd := range m.allowedBy[typeRel{s.Type, s.Relation}] {
		from(s.Type, s.ID, s.Relation, rd.typ, rd.name, rd.name, true, 1)
	}
	if s.ID != wildcardID { // a wildcard reaches subject sets too, as in Check
		for _, rd := range m.wildcardBy[s.Type] {
			from(s.Type, "*", "", rd.typ, rd.name, rd.name, true, 1)
		}
	}
	for i := 0; i < len(queue) && err == nil; i++ {
		if i&1023 == 1023 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		it := queue[i]
		if visited[it.n] != it.def {
			continue // superseded by a certain visit
		}
		n := it.n
		if n.typ == rtype && n.rel == perm {
			cands[n.id] = cands[n.id] || it.def
		}
		rd := m.lookup(n.typ, n.rel)
		if rd == nil {
			continue
		}
		up := it.level + 1 // one more check above this one
		for _, u := range rd.usedBy {
			switch u.kind {
			case usedComputed:
				push(upNode{n.typ, n.id, u.parent}, it.def && u.definite, up)
			case usedSubjectSet:
				from(n.typ, n.id, n.rel, u.parentType, u.parent, u.parent, it.def, up)
			case usedArrow:
				for _, sr := range u.subjRels {
					from(n.typ, n.id, sr, u.parentType, u.tupleset, u.parent, it.def && u.definite, up)
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return cands, nil
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
