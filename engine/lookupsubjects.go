package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// LookupSubjects returns the subjects of req.SubjectType (with
// req.SubjectRelation) that reach req.Permission on req.Resource, sorted by
// id, the wildcard first. It is LookupSubjectsStream with every result held
// in one slice: for lookups whose results may be many, use the stream.
func (e *Engine) LookupSubjects(ctx context.Context, req LookupSubjectsRequest) ([]FoundSubject, tuples.Revision, error) {
	var out []FoundSubject
	rev, err := e.LookupSubjectsStream(ctx, req, func(f FoundSubject) bool {
		out = append(out, f)
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	SortFoundSubjects(out)
	return out, rev, nil
}

// SortFoundSubjects puts subjects in LookupSubjects' order: the wildcard
// first, then by id. Clients of a server, which streams subjects as found,
// use it to print what the local call prints.
func SortFoundSubjects(fs []FoundSubject) {
	slices.SortFunc(fs, func(a, b FoundSubject) int {
		switch {
		case a.ID == wildcardID:
			return -1
		case b.ID == wildcardID:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// LookupSubjectsStream calls fn with each subject of req.SubjectType (with
// req.SubjectRelation) that reaches req.Permission on req.Resource, as it
// is found, until fn returns false, and returns the revision it read. Each
// subject is given once, in no particular order. As SpiceDB does, a
// wildcard is reported as the subject "*", with the subjects it does not
// cover in Excluded (for example `user:*` minus a banned user); it comes
// last, once every exclusion is known.
//
// It walks down from the resource, breadth first, through the rules of the
// schema and the relationships met. A subject met through union-like rules
// only (unions, computed usersets, arrows, subject sets) by relationships
// without caveats is certain, and given at once; one met under an
// intersection, an exclusion, a .all arrow or a caveat is confirmed with
// Check. The walk applies Check's depth limit (a node a Check would meet
// deeper than Options.MaxDepth fails the lookup with ErrMaxDepth, as it
// does in SpiceDB, possibly after some subjects were given), and stops
// with the context's error when ctx is done.
//
// What it holds in memory does not grow with the number of subjects
// beyond Options.MaxLookupResults: the ids given so far, to give each only
// once, are remembered up to that many; past it a subject is looked up in
// the relations read since (one read each) to tell whether it was given.
// The exclusions of a wildcard must all be held until it is given: more
// than Options.MaxLookupResults of them fail the lookup with
// ErrTooManyResults rather than give an incomplete list.
func (e *Engine) LookupSubjectsStream(ctx context.Context, req LookupSubjectsRequest, fn func(FoundSubject) bool) (tuples.Revision, error) {
	rev, err := e.revision(ctx, req.Consistency)
	if err != nil {
		return 0, err
	}
	snap, m, err := e.snapshot(ctx, rev)
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	if m.lookup(req.Resource.Type, req.Permission) == nil {
		return 0, errUnknownRelation(req.Resource.Type, req.Permission, m)
	}
	if m.types[req.SubjectType] == nil {
		return 0, errUnknownRelation(req.SubjectType, "", m)
	}
	if req.SubjectRelation != "" && m.lookup(req.SubjectType, req.SubjectRelation) == nil {
		return 0, errUnknownRelation(req.SubjectType, req.SubjectRelation, m)
	}
	l := &subjectLookup{e: e, ctx: ctx, snap: snap, m: m, req: req, fn: fn,
		c: e.newChecker(ctx, snap, m, false), seen: map[string]struct{}{}, visited: map[upNode]struct{}{}}
	l.c.setContext(req.Context)
	if err := l.run(); err != nil && err != errStop {
		return 0, err
	}
	return rev, nil
}

// subjectLookup is one LookupSubjectsStream under way.
type subjectLookup struct {
	e    *Engine
	ctx  context.Context
	snap tuples.Snapshot
	m    *model
	req  LookupSubjectsRequest
	fn   func(FoundSubject) bool
	c    *checker // confirms candidates

	// wild is the answer for the wildcard subject (Denied: no wildcard to
	// give, and no exclusions to keep).
	wild     outcome
	excluded []string

	visited map[upNode]struct{}
	queue   []downItem

	// seen holds the plain subjects met so far, up to MaxLookupResults.
	// Once it is full (full is then true), leaves lists the relations read
	// from the one where it filled on: a subject not in seen was met
	// before if one of those holds it.
	seen   map[string]struct{}
	full   bool
	leaves []upNode

	reads int
}

// downItem is a node of the walk down: the relation or permission n.rel of
// n.typ:n.id, the number of nested checks a Check of the resource reaches
// it at (level), and whether the path to it is certain (def).
type downItem struct {
	n     upNode
	level int
	def   bool
}

// lookupMemoMax bounds the memo of the checker that confirms candidates: it
// is cleared between two candidates when it grew past this.
const lookupMemoMax = 1 << 14

func (l *subjectLookup) run() error {
	st := l.req.SubjectType
	// The wildcard first: whether st:* reaches the permission says whether
	// the subjects found Denied are exclusions to keep. (Only a wildcard
	// relationship grants st:*, so if none is allowed anywhere there is
	// nothing to check.)
	if len(l.m.wildcardBy[st]) > 0 {
		o, err := l.confirm(wildcardID)
		if err != nil {
			return fmt.Errorf("confirming %s:*: %w", st, err)
		}
		l.wild = o
	}
	if err := l.push(upNode{l.req.Resource.Type, l.req.Resource.ID, l.req.Permission}, 1, true); err != nil {
		return err
	}
	for len(l.queue) > 0 {
		if err := l.tick(); err != nil {
			return err
		}
		it := l.queue[0]
		l.queue = l.queue[1:]
		if err := l.visit(it); err != nil {
			return err
		}
	}
	if l.wild.perm == Denied {
		return nil
	}
	w := FoundSubject{ID: wildcardID, Permissionship: l.wild.perm}
	if l.wild.perm == Conditional {
		w.Missing = l.wild.missing
	}
	slices.Sort(l.excluded)
	w.Excluded = l.excluded
	if !l.fn(w) {
		return errStop
	}
	return nil
}

// tick checks the context now and then (every ctxEvery relationships
// read), so that a cancelled or expired request stops within a short time
// even while a slow client holds up every result.
func (l *subjectLookup) tick() error {
	if l.reads++; l.reads%ctxEvery == 0 {
		return l.ctx.Err()
	}
	return nil
}

// push queues node n, met at level with certainty def, unless it was met
// before (breadth first: its first level is its least). A node deeper than
// MaxDepth fails the lookup, as its Check would.
func (l *subjectLookup) push(n upNode, level int, def bool) error {
	if _, ok := l.visited[n]; ok {
		return nil
	}
	if level > l.e.opts.MaxDepth {
		return fmt.Errorf("looking up %s#%s subjects of %s#%s: reaching %s:%s#%s: %w (%d)",
			l.req.SubjectType, l.req.SubjectRelation, l.req.Resource, l.req.Permission, n.typ, n.id, n.rel, ErrMaxDepth, l.e.opts.MaxDepth)
	}
	l.visited[n] = struct{}{}
	l.queue = append(l.queue, downItem{n, level, def})
	return nil
}

func (l *subjectLookup) visit(it downItem) error {
	n := it.n
	st, srel := l.req.SubjectType, l.req.SubjectRelation
	if srel != "" && n.typ == st && n.rel == srel {
		// A subject set is a member of itself; the visited set makes
		// this its only visit.
		if err := l.found(n, n.id, it.def); err != nil {
			return err
		}
	}
	rd := l.m.lookup(n.typ, n.rel)
	if rd == nil {
		return nil
	}
	if rd.perm {
		return l.rewrite(it, rd.rewrite, it.def)
	}
	return l.subjects(n.typ, n.id, n.rel, func(r *tuples.Relationship) error {
		switch {
		case r.SubjectType == st && r.IsWildcard():
			// st:* stands for every subject of type st, subject sets
			// st:id#srel included: l.wild has it.
		case srel == "" && r.SubjectType == st && r.SubjectRelation == "":
			if err := l.found(n, r.SubjectID, it.def && r.Caveat == nil); err != nil {
				return err
			}
		}
		if r.SubjectRelation != "" {
			return l.push(upNode{r.SubjectType, r.SubjectID, r.SubjectRelation}, it.level+1, it.def && r.Caveat == nil)
		}
		return nil
	})
}

// rewrite walks a permission's expression on it.n.
func (l *subjectLookup) rewrite(it downItem, rw *schema.Rewrite, def bool) error {
	n := it.n
	switch rw.Op {
	case schema.OpComputed:
		return l.push(upNode{n.typ, n.id, rw.Relation}, it.level+1, def)
	case schema.OpArrow, schema.OpArrowAll:
		def = def && rw.Op == schema.OpArrow
		return l.subjects(n.typ, n.id, rw.Relation, func(r *tuples.Relationship) error {
			if r.IsWildcard() || l.m.lookup(r.SubjectType, rw.Target) == nil {
				return nil
			}
			return l.push(upNode{r.SubjectType, r.SubjectID, rw.Target}, it.level+1, def && r.Caveat == nil)
		})
	case schema.OpUnion:
		for _, c := range rw.Children {
			if err := l.rewrite(it, c, def); err != nil {
				return err
			}
		}
	default: // intersection, exclusion: every side, none certain
		for _, c := range rw.Children {
			if err := l.rewrite(it, c, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// subjects calls fn for each relationship of typ:id#rel.
func (l *subjectLookup) subjects(typ, id, rel string, fn func(*tuples.Relationship) error) error {
	var ferr error
	err := l.snap.Subjects(typ, id, rel, "", "", func(r tuples.Relationship) bool {
		if ferr = l.tick(); ferr == nil {
			ferr = fn(&r)
		}
		return ferr == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// found decides the subject id met at node n of the walk: given at once
// when certain, else confirmed with Check; a Denied one is an exclusion of
// the wildcard, if there is one. Each id is decided once, where it is first
// met.
func (l *subjectLookup) found(n upNode, id string, certain bool) error {
	if l.req.SubjectRelation == "" { // (subject sets are decided once by the visited set)
		met, err := l.metBefore(n, id)
		if err != nil || met {
			return err
		}
	}
	f := FoundSubject{ID: id, Permissionship: Allowed}
	if !certain {
		o, err := l.confirm(id)
		if err != nil {
			return fmt.Errorf("confirming %s:%s: %w", l.req.SubjectType, id, err)
		}
		if o.perm == Denied {
			if l.wild.perm == Denied {
				return nil
			}
			if len(l.excluded) >= l.e.opts.MaxLookupResults {
				return fmt.Errorf("subjects of %s#%s: the wildcard %s:* excludes more than %d: %w",
					l.req.Resource, l.req.Permission, l.req.SubjectType, l.e.opts.MaxLookupResults, ErrTooManyResults)
			}
			l.excluded = append(l.excluded, id)
			return nil
		}
		f.Permissionship = o.perm
		if o.perm == Conditional {
			f.Missing = o.missing
		}
	}
	if !l.fn(f) {
		return errStop
	}
	return nil
}

// metBefore reports whether the plain subject id, met at relation n, was
// met before (at another relation: a relation holds a subject once), and
// notes it met.
func (l *subjectLookup) metBefore(n upNode, id string) (bool, error) {
	if _, ok := l.seen[id]; ok {
		return true, nil
	}
	if !l.full {
		l.seen[id] = struct{}{}
		if len(l.seen) >= l.e.opts.MaxLookupResults {
			l.full = true
			l.leaves = append(l.leaves, n) // the first leaf
		}
		return false, nil
	}
	if l.leaves[len(l.leaves)-1] != n {
		l.leaves = append(l.leaves, n)
	}
	for _, prev := range l.leaves[:len(l.leaves)-1] {
		if err := l.tick(); err != nil {
			return false, err
		}
		_, ok, err := l.snap.Get(prev.typ, prev.id, prev.rel, l.req.SubjectType, id, "")
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// confirm checks the subject id (with the request's subject relation).
func (l *subjectLookup) confirm(id string) (outcome, error) {
	if len(l.c.memo) > lookupMemoMax {
		clear(l.c.memo) // between two top-level checks: nothing provisional
	}
	return l.c.check(l.req.Resource.Type, l.req.Resource.ID, l.req.Permission, Subject{l.req.SubjectType, id, l.req.SubjectRelation})
}
