package impact

import (
	"context"
	"fmt"
	"sort"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// This file narrows the subjects to compare on one resource. Answering a
// permission in full (LookupSubjects) before and after costs as much as the
// permission is wide: `cancel = sender + department->admins +
// organization->admins` reaches every admin of the department, while
// dropping `sender` can only flip the sender. So the two expressions are
// compared as trees first: the branches they share, and that read no rule
// the change affects, answer alike on both sides; a subject can flip only
// if it is reached by a branch that differs. Those branches are walked
// (cheaply: a relation's relationships are read directly) to list the
// candidate subjects, and each candidate is checked under both schemas.
// A wildcard among the candidates, or a rule that is a relation (its
// allowed types changed) or exists on one side only, falls back to the
// full comparison.

// plan says how to compare a rule on a resource: in full, or by the
// candidates of the expressions in delta (old side, new side).
type plan struct {
	full  bool
	delta [2][]*schema.Rewrite
}

// planFor decides how rule r is compared.
func (a *analysis) planFor(r Rule) plan {
	var rels [2]*schema.Relation
	for i, p := range a.progs {
		if p != nil {
			rels[i] = p.Lookup(r.Type, r.Name)
		}
	}
	for _, rel := range rels {
		if rel == nil || rel.Kind != schema.KindPermission {
			return plan{full: true}
		}
	}
	d1, d2 := a.delta(r.Type, rels[0].Rewrite, rels[1].Rewrite)
	return plan{delta: [2][]*schema.Rewrite{d1, d2}}
}

// stable reports whether rw reads no rule the change affects, so that it
// answers alike under both schemas.
func (a *analysis) stable(typ string, rw *schema.Rewrite) bool {
	ok := true
	walkRewrite(rw, func(n *schema.Rewrite) {
		switch n.Op {
		case schema.OpComputed:
			ok = ok && !a.affected[Rule{typ, n.Relation}]
		case schema.OpArrow, schema.OpArrowAll:
			ok = ok && !a.affected[Rule{typ, n.Relation}]
			for _, p := range a.progs {
				if p == nil {
					continue
				}
				for _, d := range p.Definitions() {
					if d.Relation(n.Target) != nil && a.affected[Rule{d.Name, n.Target}] {
						ok = false
					}
				}
			}
		}
	})
	return ok
}

// terms are the operands of rw under op (rw itself when it is another
// operation).
func terms(rw *schema.Rewrite, op schema.Op) []*schema.Rewrite {
	if rw.Op == op {
		return rw.Children
	}
	return []*schema.Rewrite{rw}
}

// delta returns expressions on the old side (d1) and the new side (d2)
// such that every subject whose answer differs between old and cur on an
// object of typ is reached by one of them (on its side).
func (a *analysis) delta(typ string, old, cur *schema.Rewrite) (d1, d2 []*schema.Rewrite) {
	whole := func() ([]*schema.Rewrite, []*schema.Rewrite) { return []*schema.Rewrite{old}, []*schema.Rewrite{cur} }
	if schema.SameRewrite(old, cur) && a.stable(typ, old) {
		return nil, nil
	}
	for _, op := range []schema.Op{schema.OpUnion, schema.OpIntersection} {
		if old.Op != op && cur.Op != op {
			continue
		}
		if op == schema.OpIntersection && (old.Op != op || cur.Op != op) {
			break // a & b against c: no shared operand to lean on
		}
		t1, t2 := terms(old, op), terms(cur, op)
		used := make([]bool, len(t2))
		var rest1, rest2 []*schema.Rewrite
		shared := 0
		for _, x := range t1 {
			matched := false
			if a.stable(typ, x) {
				for j, y := range t2 {
					if !used[j] && schema.SameRewrite(x, y) {
						used[j], matched = true, true
						shared++
						break
					}
				}
			}
			if !matched {
				rest1 = append(rest1, x)
			}
		}
		for j, y := range t2 {
			if !used[j] {
				rest2 = append(rest2, y)
			}
		}
		if len(rest1) == 1 && len(rest2) == 1 {
			// old = S op x, new = S op y: a subject flips only if x and y
			// answer it differently.
			return a.delta(typ, rest1[0], rest2[0])
		}
		if op == schema.OpUnion {
			// old = S + X, new = S + Y: a flip is reached by X or Y.
			return rest1, rest2
		}
		// old = S & X, new = S & Y: a subject reached by all of X or all
		// of Y is reached by any one of them.
		if len(rest1) > 0 && len(rest2) > 0 {
			return []*schema.Rewrite{pick(rest1)}, []*schema.Rewrite{pick(rest2)}
		}
		return whole()
	}
	if old.Op == schema.OpExclusion && cur.Op == schema.OpExclusion {
		b1, b2 := old.Children[0], cur.Children[0]
		s1, s2 := old.Children[1], cur.Children[1]
		switch {
		case schema.SameRewrite(b1, b2) && a.stable(typ, b1):
			// b - x against b - y: a flip is in b, and x and y disagree on
			// it.
			return a.delta(typ, s1, s2)
		case schema.SameRewrite(s1, s2) && a.stable(typ, s1):
			return a.delta(typ, b1, b2)
		}
	}
	return whole()
}

// pick chooses the operand of an intersection to list candidates from:
// one without a wildcard if it can tell, else the first.
func pick(ts []*schema.Rewrite) *schema.Rewrite {
	for _, t := range ts {
		if t.Op == schema.OpComputed || t.Op == schema.OpArrow {
			return t
		}
	}
	return ts[0]
}

// candidates lists the subjects of type st that expressions exprs reach on
// obj under side i's schema (a superset: an intersection or exclusion is
// listed by one operand), and whether a wildcard was met.
func (a *analysis) candidates(ctx context.Context, snap tuples.Snapshot, i int, obj engine.Object, st string, exprs []*schema.Rewrite, out map[string]bool) (wildcard bool, lookups int, err error) {
	p := a.progs[i]
	var visit func(rw *schema.Rewrite) error
	subjectsOf := func(o engine.Object, rel string) error {
		r := p.Lookup(o.Type, rel)
		if r == nil {
			return nil
		}
		if r.Kind == schema.KindRelation && plainOnly(r) {
			// Its relationships are its answer.
			return snap.Subjects(o.Type, o.ID, rel, "", "", func(t tuples.Relationship) bool {
				if t.SubjectType == st {
					if t.IsWildcard() {
						wildcard = true
					} else {
						out[t.SubjectID] = true
					}
				}
				return true
			})
		}
		found, err := a.lookup(ctx, i, o, rel, st)
		lookups++
		if err != nil {
			return err
		}
		for _, f := range found {
			if f.ID == "*" {
				wildcard = true
			} else {
				out[f.ID] = true
			}
		}
		return nil
	}
	visit = func(rw *schema.Rewrite) error {
		switch rw.Op {
		case schema.OpNil:
			return nil
		case schema.OpComputed:
			return subjectsOf(obj, rw.Relation)
		case schema.OpArrow, schema.OpArrowAll:
			var ys []engine.Object
			if err := snap.Subjects(obj.Type, obj.ID, rw.Relation, "", "", func(t tuples.Relationship) bool {
				if !t.IsWildcard() && p.Lookup(t.SubjectType, rw.Target) != nil {
					ys = append(ys, engine.Object{Type: t.SubjectType, ID: t.SubjectID})
				}
				return true
			}); err != nil {
				return err
			}
			for _, y := range ys {
				if err := subjectsOf(y, rw.Target); err != nil {
					return err
				}
			}
			return nil
		case schema.OpUnion:
			for _, c := range rw.Children {
				if err := visit(c); err != nil {
					return err
				}
			}
			return nil
		case schema.OpIntersection:
			return visit(pick(rw.Children))
		case schema.OpExclusion:
			return visit(rw.Children[0])
		}
		return fmt.Errorf("unknown rewrite %v", rw.Op)
	}
	for _, e := range exprs {
		if err := visit(e); err != nil {
			return false, lookups, err
		}
		if wildcard {
			break
		}
	}
	return wildcard, lookups, nil
}

// plainOnly reports whether a relation holds plain subjects only (no
// subject sets): its relationships are then its whole answer.
func plainOnly(r *schema.Relation) bool {
	for _, at := range r.Allowed {
		if at.Relation != "" {
			return false
		}
	}
	return true
}

// lookup is LookupSubjects on side i, remembered for the analysis (the
// same department's admins are asked for by every send of the department).
func (a *analysis) lookup(ctx context.Context, i int, o engine.Object, rel, st string) ([]engine.FoundSubject, error) {
	k := lookupKey{i, o, rel, st}
	a.memoMu.Lock()
	if f, ok := a.memo[k]; ok {
		a.memoMu.Unlock()
		return f, nil
	}
	a.memoMu.Unlock()
	found, _, err := a.engines[i].LookupSubjects(ctx, engine.LookupSubjectsRequest{
		Resource: o, Permission: rel, SubjectType: st,
		Consistency: engine.Consistency{Mode: engine.AtExactSnapshot, Token: a.rev.Token()},
	})
	if err != nil {
		return nil, fmt.Errorf("%s#%s for %s subjects (%s schema): %w", o, rel, st, [2]string{"old", "new"}[i], err)
	}
	a.memoMu.Lock()
	if len(a.memo) >= memoSize {
		clear(a.memo)
	}
	a.memo[k] = found
	a.memoMu.Unlock()
	return found, nil
}

type lookupKey struct {
	side     int
	obj      engine.Object
	rel, typ string
}

// memoSize bounds the remembered lookups.
const memoSize = 1 << 14

// compareByCandidates checks each candidate subject of type st on each
// resource of ids under both schemas (one bulk check per schema for them
// all), and returns the cells that differ; rest are the resources where a
// wildcard was met, to compare in full instead.
func (a *analysis) compareByCandidates(ctx context.Context, r Rule, pl plan, ids []string, st string) (cells []Cell, lookups int, rest []string, err error) {
	snap, err := a.store.Snapshot(ctx, a.rev)
	if err != nil {
		return nil, 0, nil, err
	}
	defer snap.Close()
	type pair struct{ res, subj string }
	var pairs []pair
	for _, id := range ids {
		res := engine.Object{Type: r.Type, ID: id}
		cands := map[string]bool{}
		wild := false
		for i := range a.progs {
			if a.progs[i] == nil || a.progs[i].Definition(st) == nil {
				continue
			}
			w, n, err := a.candidates(ctx, snap, i, res, st, pl.delta[i], cands)
			lookups += n
			if err != nil {
				return nil, lookups, nil, err
			}
			if w {
				wild = true
				break
			}
		}
		if wild {
			rest = append(rest, id)
			continue
		}
		subjs := make([]string, 0, len(cands))
		for x := range cands {
			subjs = append(subjs, x)
		}
		sort.Strings(subjs)
		for _, x := range subjs {
			pairs = append(pairs, pair{id, x})
		}
	}
	if len(pairs) == 0 {
		return nil, lookups, rest, nil
	}
	var answers [2][]engine.Permissionship
	for i, p := range a.progs {
		answers[i] = make([]engine.Permissionship, len(pairs))
		if p == nil || p.Definition(st) == nil || p.Lookup(r.Type, r.Name) == nil {
			continue
		}
		reqs := make([]engine.CheckRequest, len(pairs))
		for j, pr := range pairs {
			reqs[j] = engine.CheckRequest{Resource: engine.Object{Type: r.Type, ID: pr.res}, Permission: r.Name, Subject: engine.Subject{Type: st, ID: pr.subj},
				Consistency: engine.Consistency{Mode: engine.AtExactSnapshot, Token: a.rev.Token()}}
		}
		results, err := a.engines[i].CheckBulk(ctx, reqs)
		if err != nil {
			return nil, lookups, nil, fmt.Errorf("checking %s#%s (%s schema): %w", r.Type, r.Name, [2]string{"old", "new"}[i], err)
		}
		for j := range results {
			answers[i][j] = results[j].Permissionship
		}
	}
	for j, pr := range pairs {
		if b, af := answers[0][j], answers[1][j]; b != af {
			cells = append(cells, Cell{Resource: engine.Object{Type: r.Type, ID: pr.res}, Permission: r.Name, Subject: engine.Subject{Type: st, ID: pr.subj}, Before: b, After: af})
		}
	}
	return cells, lookups, rest, nil
}
