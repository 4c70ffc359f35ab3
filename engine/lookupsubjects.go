package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// LookupSubjects returns the subjects of req.SubjectType (with
// req.SubjectRelation) that reach req.Permission on req.Resource, sorted by
// id. As SpiceDB does, a wildcard is reported as the subject "*", with the
// subjects it does not cover in Excluded (for example `user:*` minus a
// banned user).
//
// It walks down from the resource to collect every subject of the type met
// on the way (the candidates), then confirms each with Check; the wildcard
// is confirmed by checking the subject type:* itself, which stands for any
// subject the data does not name.
func (e *Engine) LookupSubjects(ctx context.Context, req LookupSubjectsRequest) ([]FoundSubject, tuples.Revision, error) {
	rev, err := e.revision(ctx, req.Consistency)
	if err != nil {
		return nil, 0, err
	}
	snap, m, err := e.snapshot(ctx, rev)
	if err != nil {
		return nil, 0, err
	}
	defer snap.Close()
	if m.lookup(req.Resource.Type, req.Permission) == nil {
		return nil, 0, errUnknownRelation(req.Resource.Type, req.Permission, m)
	}
	if m.types[req.SubjectType] == nil {
		return nil, 0, errUnknownRelation(req.SubjectType, "", m)
	}
	if req.SubjectRelation != "" && m.lookup(req.SubjectType, req.SubjectRelation) == nil {
		return nil, 0, errUnknownRelation(req.SubjectType, req.SubjectRelation, m)
	}
	cands, wildcard, err := walkDown(ctx, snap, m, req)
	if err != nil {
		return nil, 0, err
	}
	ids := make([]string, 0, len(cands))
	for id := range cands {
		ids = append(ids, id)
	}
	slices.Sort(ids)

	c := e.newChecker(ctx, snap, m, false)
	c.setContext(req.Context)
	var out, denied []FoundSubject
	for _, id := range ids {
		o, err := c.check(req.Resource.Type, req.Resource.ID, req.Permission, Subject{req.SubjectType, id, req.SubjectRelation})
		if err != nil {
			return nil, 0, fmt.Errorf("confirming %s:%s: %w", req.SubjectType, id, err)
		}
		if o.perm == Denied {
			denied = append(denied, FoundSubject{ID: id})
			continue
		}
		f := FoundSubject{ID: id, Permissionship: o.perm}
		if o.perm == Conditional {
			f.Missing = o.missing
		}
		out = append(out, f)
	}
	if wildcard {
		o, err := c.check(req.Resource.Type, req.Resource.ID, req.Permission, Subject{req.SubjectType, "*", req.SubjectRelation})
		if err != nil {
			return nil, 0, fmt.Errorf("confirming %s:*: %w", req.SubjectType, err)
		}
		if o.perm != Denied {
			w := FoundSubject{ID: "*", Permissionship: o.perm}
			if o.perm == Conditional {
				w.Missing = o.missing
			}
			for _, d := range denied {
				w.Excluded = append(w.Excluded, d.ID)
			}
			out = append([]FoundSubject{w}, out...)
		}
	}
	return out, rev, nil
}

// walkDown collects the ids of subjects of the requested type and relation
// met below req.Resource#req.Permission, and whether a wildcard was met.
func walkDown(ctx context.Context, snap tuples.Snapshot, m *model, req LookupSubjectsRequest) (map[string]bool, bool, error) {
	st, srel := req.SubjectType, req.SubjectRelation
	cands := map[string]bool{}
	wildcard := false
	visited := map[upNode]bool{}
	var stack []upNode
	push := func(n upNode) {
		if !visited[n] {
			visited[n] = true
			stack = append(stack, n)
		}
	}
	push(upNode{req.Resource.Type, req.Resource.ID, req.Permission})
	var err error
	subjects := func(typ, id, rel string, fn func(tuples.Relationship)) {
		if err != nil {
			return
		}
		err = snap.Subjects(typ, id, rel, "", "", func(r tuples.Relationship) bool {
			fn(r)
			return true
		})
	}
	var rewrite func(n upNode, rw *schema.Rewrite)
	rewrite = func(n upNode, rw *schema.Rewrite) {
		switch rw.Op {
		case schema.OpComputed:
			push(upNode{n.typ, n.id, rw.Relation})
		case schema.OpArrow, schema.OpArrowAll:
			subjects(n.typ, n.id, rw.Relation, func(r tuples.Relationship) {
				if !r.IsWildcard() && m.lookup(r.SubjectType, rw.Target) != nil {
					push(upNode{r.SubjectType, r.SubjectID, rw.Target})
				}
			})
		default:
			for _, c := range rw.Children {
				rewrite(n, c)
			}
		}
	}
	for steps := 0; len(stack) > 0 && err == nil; steps++ {
		if steps&1023 == 1023 {
			if err = ctx.Err(); err != nil {
				break
			}
		}
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n.typ == st && n.rel == srel && srel != "" {
			cands[n.id] = true
		}
		rd := m.lookup(n.typ, n.rel)
		if rd == nil {
			continue
		}
		if rd.perm {
			rewrite(n, rd.rewrite)
			continue
		}
		subjects(n.typ, n.id, n.rel, func(r tuples.Relationship) {
			switch {
			case r.SubjectType == st && r.IsWildcard():
				// As in Check, st:* stands for every subject of type st,
				// subject sets st:id#srel included.
				wildcard = true
			case r.SubjectType == st && r.SubjectRelation == srel:
				cands[r.SubjectID] = true
			}
			if r.SubjectRelation != "" {
				push(upNode{r.SubjectType, r.SubjectID, r.SubjectRelation})
			}
		})
	}
	return cands, wildcard, err
}
