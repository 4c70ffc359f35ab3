package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// nodeKey names one sub-problem of a request: does s reach rel on rt:rid?
type nodeKey struct {
	rt, rid, rel string
	s            Subject
}

// exact is the "lowest cut" of a result that depends on no cycle cut-off.
const exact = math.MaxInt32

// outcome is the result of a sub-problem. low is the stack index of the
// deepest-reaching cycle cut the result depended on (exact when none): a
// result computed while an ancestor was assumed Denied is only provisional.
type outcome struct {
	perm Permissionship
	low  int32
	expl *Explanation // only when explaining
	// missing: for Conditional, the caveat parameters lacking (sorted).
	missing []string
	// need is the number of nested checks, this one's included, that
	// computing the result took (0 for one that needed no check of its
	// own: a cycle cut, a subject set met as itself, an undefined
	// relation). A cache entry, or a memo entry of an earlier top-level
	// check (gen), answers a sub-problem met at depth d only when
	// d+need <= MaxDepth; deeper, it is computed again (once: the new
	// entry is the current check's), so that whether a check fails with
	// ErrMaxDepth does not depend on what other checks computed before it
	// (SpiceDB's DepthRequired does the same for its dispatch cache).
	// Inside one top-level check entries are reused at any depth: the
	// walk is deterministic, and recomputing them could take exponential
	// time on cyclic data.
	need int32
	gen  uint32
}

// mergeMissing returns the sorted union of two sorted lists of names (a
// or b itself when the other adds nothing).
func mergeMissing(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// andMissing is the missing list of min(a, b) for a relationship whose
// caveat gave cv (with cvMissing) and whose sub-problem gave sub: the names
// of the Conditional sides, nil unless the result is Conditional.
func andMissing(cv Permissionship, cvMissing []string, sub outcome) []string {
	if min(cv, sub.perm) != Conditional {
		return nil
	}
	var m []string
	if cv == Conditional {
		m = cvMissing
	}
	if sub.perm == Conditional {
		m = mergeMissing(m, sub.missing)
	}
	return m
}

// checker evaluates the sub-problems of one request (or one CheckBulk) at
// one revision, with one memo table.
//
// Cycles: a sub-problem met again while it is still being evaluated (on the
// stack) is cut off as Denied. For the monotone rules (union, intersection,
// arrows, subject sets) this computes the least fixpoint: an Allowed answer
// is always right, and a Denied or Conditional answer is final once the
// stack node it assumed Denied has itself finished. Results that depend on a
// cut-off still on the stack are kept as "provisional" memo entries (reused
// under the same assumption, dropped if the assumption turns out false, made
// final when it is confirmed) and never enter the shared cache.
type checker struct {
	e        *Engine
	ctx      context.Context
	snap     tuples.Snapshot
	m        *model
	rev      tuples.Revision
	explain  bool
	useCache bool
	// gidx is the group index this request may use (nil: none).
	gidx *groupIndex

	// reqCtx is the caveat context of the request being answered; ctxKey
	// its canonical JSON ("" when empty), which the memo entries were
	// computed under (CheckBulk clears the memo when it changes). A
	// request with a context never uses the shared cache, whose keys have
	// none.
	reqCtx map[string]any
	ctxKey string

	memo    map[nodeKey]outcome
	onStack map[nodeKey]int32
	depth   int32
	// deepest is the stack index of the deepest check the evaluation
	// under way has reached (or would reach, for memo and cache entries
	// reused): a finished check's need is deepest-index+1.
	deepest int32
	// gen counts the top-level checks (those entered at depth 0).
	gen   uint32
	prov  []nodeKey
	bufs  [][]tuples.Relationship
	steps int

	rootLooked bool // the next check is the top one, already missed in the cache

	// expiring is set once the request has read a relationship with an
	// expiration. From then on nothing it computes enters the shared cache:
	// the cache is keyed on revision, not time, and with no writes the
	// revision stays the same after the relationship expires. (Expired
	// relationships are invisible to the snapshot, so answers computed
	// without them stay true at their revision.)
	expiring bool
}

// fits reports whether a result that needed need nested checks may answer
// a sub-problem met at stack depth depth.
func (c *checker) fits(depth, need int32) bool {
	return int(depth)+int(need) <= c.e.opts.MaxDepth
}

// reached notes that a check at depth depth used a result that needed
// need nested checks.
func (c *checker) reached(depth, need int32) {
	if need > 0 {
		c.deepest = max(c.deepest, depth+need-1)
	}
}

func (e *Engine) newChecker(ctx context.Context, snap tuples.Snapshot, m *model, explain bool) *checker {
	return &checker{
		e: e, ctx: ctx, snap: snap, m: m, rev: snap.Revision(), explain: explain,
		useCache: e.cache != nil && !explain, gidx: e.groups.view(snap.Revision(), m),
		memo:    make(map[nodeKey]outcome),
		onStack: make(map[nodeKey]int32),
	}
}

// Check answers one CheckRequest.
func (e *Engine) Check(ctx context.Context, req CheckRequest) (CheckResult, error) {
	if err := validateCheck(req); err != nil {
		return CheckResult{}, err
	}
	rev, err := e.revision(ctx, req.Consistency)
	if err != nil {
		return CheckResult{}, err
	}
	// The warm path: the answer is in the cache; no snapshot is opened.
	// Not for at_exact_snapshot, whose revision may have left the GC window
	// since it was cached (opening the snapshot says so).
	cacheable := e.cache != nil && !req.Explain && req.Consistency.Mode != AtExactSnapshot && len(req.Context) == 0
	if cacheable {
		k := cacheKey{rev, req.Resource.Type, req.Resource.ID, req.Permission, req.Subject.Type, req.Subject.ID, req.Subject.Relation}
		if v, ok := e.cache.get(k); ok && int(v.need) <= e.opts.MaxDepth {
			return CheckResult{Permissionship: v.perm, Revision: rev, Missing: v.missing}, nil
		}
	}
	snap, m, err := e.snapshot(ctx, rev)
	if err != nil {
		return CheckResult{}, err
	}
	defer snap.Close()
	c := e.pooledChecker(ctx, snap, m, req.Explain)
	defer releaseChecker(c)
	return c.top(req, cacheable)
}

// checkers keeps the checkers of finished Check calls, so that a cold check
// does not build its memo tables (and their growth) anew.
var checkers sync.Pool

// maxPooledMemo: a checker whose memo grew past this is dropped rather
// than kept (clearing a large table costs more than making a small one).
const maxPooledMemo = 512

func (e *Engine) pooledChecker(ctx context.Context, snap tuples.Snapshot, m *model, explain bool) *checker {
	c, _ := checkers.Get().(*checker)
	if c == nil {
		return e.newChecker(ctx, snap, m, explain)
	}
	c.e, c.ctx, c.snap, c.m, c.rev, c.explain = e, ctx, snap, m, snap.Revision(), explain
	c.useCache = e.cache != nil && !explain
	c.expiring = false
	c.gidx = e.groups.view(c.rev, m)
	return c
}

func releaseChecker(c *checker) {
	if len(c.memo) > maxPooledMemo {
		return
	}
	clear(c.memo)
	clear(c.onStack)
	c.e, c.ctx, c.snap, c.m, c.gidx = nil, nil, nil, nil, nil
	c.reqCtx, c.ctxKey = nil, ""
	c.depth, c.steps, c.deepest = 0, 0, 0
	c.prov = c.prov[:0]
	checkers.Put(c)
}

// CheckBulk answers many checks at one revision with one memo table, so
// that shared sub-problems are solved once. Every request must carry the
// same Consistency (as SpiceDB's CheckBulkPermissions has one for the whole
// request). The results are in the order of reqs; the first invalid request
// fails the whole call.
func (e *Engine) CheckBulk(ctx context.Context, reqs []CheckRequest) ([]CheckResult, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	for i, req := range reqs {
		if req.Consistency != reqs[0].Consistency {
			return nil, fmt.Errorf("check %d: consistency %s differs from the first check's %s: a bulk check reads one revision",
				i, req.Consistency.Mode, reqs[0].Consistency.Mode)
		}
		if err := validateCheck(req); err != nil {
			return nil, fmt.Errorf("check %d: %w", i, err)
		}
	}
	rev, err := e.revision(ctx, reqs[0].Consistency)
	if err != nil {
		return nil, err
	}
	out := make([]CheckResult, len(reqs))
	var c *checker
	for i, req := range reqs {
		cacheable := e.cache != nil && !req.Explain && req.Consistency.Mode != AtExactSnapshot && len(req.Context) == 0
		if cacheable {
			k := cacheKey{rev, req.Resource.Type, req.Resource.ID, req.Permission, req.Subject.Type, req.Subject.ID, req.Subject.Relation}
			if v, ok := e.cache.get(k); ok && int(v.need) <= e.opts.MaxDepth {
				out[i] = CheckResult{Permissionship: v.perm, Revision: rev, Missing: v.missing}
				continue
			}
		}
		if c == nil {
			snap, m, err := e.snapshot(ctx, rev)
			if err != nil {
				return nil, err
			}
			defer snap.Close()
			c = e.newChecker(ctx, snap, m, false)
		}
		c.explain = req.Explain
		c.useCache = e.cache != nil && !req.Explain
		res, err := c.top(req, cacheable)
		if err != nil {
			return nil, fmt.Errorf("check %d (%s#%s@%s): %w", i, req.Resource, req.Permission, req.Subject, err)
		}
		out[i] = res
	}
	return out, nil
}

func validateCheck(req CheckRequest) error {
	if req.Resource.Type == "" || req.Resource.ID == "" || req.Permission == "" || req.Subject.Type == "" || req.Subject.ID == "" {
		return fmt.Errorf("check %s#%s@%s: resource, permission and subject are required", req.Resource, req.Permission, req.Subject)
	}
	if req.Subject.ID == wildcardID {
		return fmt.Errorf("check %s#%s@%s: %w", req.Resource, req.Permission, req.Subject, ErrWildcardSubject)
	}
	return nil
}

// top answers req; looked says the caller found it missing from the cache
// already (so the walk does not ask the cache again).
func (c *checker) top(req CheckRequest, looked bool) (CheckResult, error) {
	if c.m.lookup(req.Resource.Type, req.Permission) == nil {
		return CheckResult{}, errUnknownRelation(req.Resource.Type, req.Permission, c.m)
	}
	if c.m.types[req.Subject.Type] == nil {
		return CheckResult{}, errUnknownRelation(req.Subject.Type, "", c.m)
	}
	if req.Subject.Relation != "" && c.m.lookup(req.Subject.Type, req.Subject.Relation) == nil {
		return CheckResult{}, errUnknownRelation(req.Subject.Type, req.Subject.Relation, c.m)
	}
	if c.explain {
		// An explanation needs every step, not memo entries of earlier checks.
		clear(c.memo)
	}
	c.setContext(req.Context)
	c.rootLooked = looked
	o, err := c.check(req.Resource.Type, req.Resource.ID, req.Permission, req.Subject)
	c.rootLooked = false
	if err != nil {
		return CheckResult{}, err
	}
	res := CheckResult{Permissionship: o.perm, Revision: c.rev}
	if o.perm == Conditional {
		res.Missing = o.missing
	}
	if c.explain {
		res.Explanation = o.expl
	}
	return res, nil
}

// setContext makes ctx the caveat context of the checks that follow. The
// memo entries computed under another context are dropped (a CheckBulk's
// requests may differ), and a non-empty context turns the shared cache off,
// but under a schema without caveats, where no answer depends on it.
func (c *checker) setContext(ctx map[string]any) {
	if len(c.m.caveats) == 0 {
		ctx = nil
	}
	key := ""
	if len(ctx) > 0 {
		c.useCache = false
		b, err := json.Marshal(ctx) // map keys sorted: canonical
		if err != nil {
			key = "\x00unencodable" // never equal to a JSON text; compared below
			clear(c.memo)
		} else {
			key = string(b)
		}
	}
	if key != c.ctxKey {
		clear(c.memo)
	}
	c.reqCtx, c.ctxKey = ctx, key
}

// caveat evaluates the caveat of r with the request's context and returns
// what r counts as: Allowed (no caveat, or a true one: as if uncaveated),
// Denied (a false one: the relationship is absent) or Conditional (the
// context lacks parameters that decide it). SpiceDB merges the contexts
// with the relationship's stored one winning (caveats.Caveat.Evaluate). A
// model without compiled caveats (built by hand in tests) answers
// Conditional for every caveat.
// For Conditional it also returns the parameters missing.
func (c *checker) caveat(r *tuples.Relationship) (Permissionship, []string, error) {
	if r.Caveat == nil {
		return Allowed, nil, nil
	}
	if c.m.caveats == nil {
		return Conditional, nil, nil
	}
	cv := c.m.caveats[r.Caveat.Name]
	if cv == nil {
		return Denied, nil, fmt.Errorf("relationship %s: caveat %q: %w", r, r.Caveat.Name, ErrUnknown)
	}
	res, err := cv.Evaluate(r.Caveat.Context, c.reqCtx)
	if err != nil {
		return Denied, nil, fmt.Errorf("relationship %s: %w", r, err)
	}
	switch res.Outcome {
	case caveats.True:
		return Allowed, nil, nil
	case caveats.False:
		return Denied, nil, nil
	}
	return Conditional, res.Missing, nil
}

// check answers the sub-problem "does s reach rel on rt:rid?".
func (c *checker) check(rt, rid, rel string, s Subject) (outcome, error) {
	looked := c.rootLooked
	c.rootLooked = false
	k := nodeKey{rt, rid, rel, s}
	if c.depth == 0 {
		c.gen++
	}
	if o, ok := c.memo[k]; ok && (o.gen == c.gen || c.fits(c.depth, o.need)) {
		c.reached(c.depth, o.need)
		return o, nil
	}
	if i, ok := c.onStack[k]; ok {
		o := outcome{perm: Denied, low: i}
		if c.explain {
			o.expl = &Explanation{Resource: Object{rt, rid}, Relation: rel, Rule: RuleCycle, Result: Denied}
		}
		return o, nil
	}
	// SpiceDB: a subject set is a member of itself (check.go: "If we have
	// found the goal's ONR, then we know that the ONR is a member").
	if s.Type == rt && s.ID == rid && s.Relation == rel {
		o := outcome{perm: Allowed, low: exact}
		if c.explain {
			o.expl = &Explanation{Resource: Object{rt, rid}, Relation: rel, Rule: RuleIdentity, Result: Allowed}
		}
		return o, nil
	}
	rd := c.m.lookup(rt, rel)
	if rd == nil {
		// SpiceDB: an arrow or subject set reaching a type that lacks the
		// relation is "not a member", not an error.
		o := outcome{perm: Denied, low: exact}
		if c.explain {
			o.expl = &Explanation{Resource: Object{rt, rid}, Relation: rel, Rule: RuleUndefined, Result: Denied}
		}
		return o, nil
	}
	// The group index answers a nested group at once, where it can.
	if rd.group >= 0 && c.gidx != nil && !c.explain && s.ID != wildcardID {
		if p, need, ok := c.gidx.check(rd.group, rid, s, c.rev); ok && c.fits(c.depth, need) {
			c.reached(c.depth, need)
			return outcome{perm: p, low: exact, need: need, gen: c.gen}, nil
		}
	}
	// The shared cache, but for the relationships of a leaf relation (no
	// subject set) below the top: looking one up is a Get or two, no
	// dearer than the cache, whose entries are better spent on the
	// sub-problems that walk.
	useCache := c.useCache && (c.depth == 0 || rd.perm || len(rd.subjectSets) > 0)
	var ck cacheKey
	if useCache {
		ck = cacheKey{c.rev, rt, rid, rel, s.Type, s.ID, s.Relation}
		if !looked { // (else the caller asked the cache already)
			if v, ok := c.e.cache.get(ck); ok && c.fits(c.depth, v.need) {
				o := outcome{perm: v.perm, low: exact, missing: v.missing, need: v.need, gen: c.gen}
				c.memo[k] = o
				c.reached(c.depth, o.need)
				return o, nil
			}
		}
	}
	if int(c.depth) >= c.e.opts.MaxDepth {
		err := fmt.Errorf("checking %s:%s#%s for %s: %w (%d)", rt, rid, rel, s, ErrMaxDepth, c.e.opts.MaxDepth)
		return outcome{}, c.fail(err, &Explanation{Resource: Object{rt, rid}, Relation: rel, Rule: ruleOf(rd)})
	}
	c.steps++
	if c.steps&1023 == 0 {
		if err := c.ctx.Err(); err != nil {
			return outcome{}, c.fail(err, &Explanation{Resource: Object{rt, rid}, Relation: rel, Rule: ruleOf(rd)})
		}
	}
	idx := c.depth
	c.onStack[k] = idx
	c.depth++
	mark := len(c.prov)
	outer := c.deepest
	c.deepest = idx

	var o outcome
	var err error
	if rd.perm {
		o, err = c.rewrite(rd, rid, rd.rewrite, s)
	} else {
		o, err = c.direct(rd, rid, s)
	}
	delete(c.onStack, k)
	c.depth--
	o.need, o.gen = c.deepest-idx+1, c.gen
	c.deepest = max(outer, c.deepest)
	if err != nil {
		// What was provisional under this check can be neither confirmed
		// nor refuted now: forget it (the caller may go on, see
		// deferDepth).
		c.dropProvisional(mark)
		c.prov = c.prov[:mark]
		return outcome{}, c.fail(err, &Explanation{Resource: Object{rt, rid}, Relation: rel, Rule: ruleOf(rd)})
	}
	if c.explain {
		kind := ruleOf(rd)
		var children []*Explanation
		if o.expl != nil {
			if o.expl.Rule == ruleList {
				children = o.expl.Children
			} else {
				children = []*Explanation{o.expl}
			}
		}
		o.expl = &Explanation{Resource: Object{rt, rid}, Relation: rel, Rule: kind, Result: o.perm, Children: children}
	}

	if o.perm == Allowed || o.low >= idx {
		o.low = exact
	}
	if o.low == exact {
		if o.perm == Denied {
			// The assumption "k is Denied" held: what was provisional on
			// it is final.
			for _, pk := range c.prov[mark:] {
				po := c.memo[pk]
				po.low = exact
				// Computed again elsewhere, its cut-off check would be
				// computed too: count that check's depth in.
				po.need += o.need
				c.memo[pk] = po
				if c.useCache && !c.expiring {
					c.e.cache.add(cacheKey{c.rev, pk.rt, pk.rid, pk.rel, pk.s.Type, pk.s.ID, pk.s.Relation}, cacheValue{po.perm, po.missing, po.need})
				}
			}
		} else {
			c.dropProvisional(mark)
		}
		c.prov = c.prov[:mark]
		c.memo[k] = o
		if useCache && !c.expiring {
			c.e.cache.add(ck, cacheValue{o.perm, o.missing, o.need})
		}
		return o, nil
	}
	if o.perm != Denied {
		c.dropProvisional(mark)
		c.prov = c.prov[:mark]
	} else {
		for _, pk := range c.prov[mark:] {
			po := c.memo[pk]
			po.low = min(po.low, o.low)
			c.memo[pk] = po
		}
	}
	c.memo[k] = o
	c.prov = append(c.prov, k)
	return o, nil
}

// ruleOf is the rule of the step that evaluates rd.
func ruleOf(rd *relDef) string {
	if rd.perm {
		return RulePermission
	}
	return RuleRelation
}

// fail returns err, an error met in the step x, as the error of that step:
// when explaining, an *ExplainedError whose explanation is x, marked
// failed, with the failed step err came from (if it carries one) added to
// the steps x tried (x.Children; a list of steps is added as its steps).
// Not explaining, err itself.
func (c *checker) fail(err error, x *Explanation) error {
	if !c.explain {
		return err
	}
	if xe, ok := err.(*ExplainedError); ok {
		err = xe.Err
		if sub := xe.Explanation; sub != nil {
			if sub.Rule == ruleList {
				x.Children = append(x.Children, sub.Children...)
			} else {
				x.Children = append(x.Children, sub)
			}
		}
	}
	x.Failed = true
	return &ExplainedError{Err: err, Explanation: x, Revision: c.rev}
}

// failRel is fail for an error met in following relationship r.
func (c *checker) failRel(err error, r *tuples.Relationship) error {
	if !c.explain {
		return err
	}
	return c.fail(err, &Explanation{Rule: RuleRelationship, Relationship: r.String()})
}

func (c *checker) dropProvisional(mark int) {
	for _, pk := range c.prov[mark:] {
		delete(c.memo, pk)
	}
}

// direct evaluates a relation: its relationships, the subject sets among
// them (recursively) and wildcards.
func (c *checker) direct(rd *relDef, rid string, s Subject) (outcome, error) {
	res := outcome{perm: Denied, low: exact}
	var tried []*Explanation
	// The subject itself, and the wildcard of its type.
	for _, wild := range [2]bool{false, true} {
		sid, srel := s.ID, s.Relation
		if wild {
			// SpiceDB matches a wildcard to every subject of its type,
			// whatever its subject relation: checkDirect
			// (internal/graph/check.go) queries T:* with the ellipsis
			// relation for any subject of type T.
			if !rd.wildcard[s.Type] || (s.ID == wildcardID && s.Relation == "" && rd.direct[typeRel{s.Type, ""}]) {
				continue // (the subject type:* itself was just looked up)
			}
			sid, srel = wildcardID, ""
		} else if !rd.direct[typeRel{s.Type, s.Relation}] {
			continue
		}
		r, ok, err := c.snap.Get(rd.typ, rid, rd.name, s.Type, sid, srel)
		if err != nil {
			return outcome{}, c.fail(err, &Explanation{Rule: ruleList, Children: tried})
		}
		if ok && r.Expiration != nil {
			c.expiring = true
		}
		if !ok {
			if c.explain {
				tried = append(tried, &Explanation{Rule: RuleRelationship, Relationship: relString(rd.typ, rid, rd.name, s.Type, sid, srel), Result: Denied})
			}
			continue
		}
		p, missing, err := c.caveat(&r)
		if err != nil {
			return outcome{}, c.fail(c.failRel(err, &r), &Explanation{Rule: ruleList, Children: tried})
		}
		if p == Conditional {
			res.missing = mergeMissing(res.missing, missing)
		}
		if c.explain {
			e := &Explanation{Rule: RuleRelationship, Relationship: r.String(), Result: p}
			if p == Denied { // (it exists: its caveat was false)
				e.CaveatFalse = r.Caveat.Name
			}
			if p == Allowed {
				return outcome{perm: Allowed, low: exact, expl: e}, nil
			}
			tried = append(tried, e)
		} else if p == Allowed {
			return outcome{perm: Allowed, low: exact}, nil
		}
		res.perm = max(res.perm, p)
	}
	if len(rd.subjectSets) == 0 {
		return c.finishDirect(rd, rid, res, tried), nil
	}
	// Subject sets: read them all, then recurse into each. Where there
	// are many and the subject is a plain one, walking up from the subject
	// is cheaper (see walkUp): the read stops past walkUpFanOut.
	limit := -1
	if rd.upRels != nil && !c.explain && s.Relation == "" {
		limit = walkUpFanOut
		if rd.nestsGroups && c.gidx != nil && c.gidx.holdsSubjectSets(rd, c.m) {
			// Each subject set is one index lookup: walking down pays
			// for many more of them.
			limit = indexedFanOut
		}
	}
	buf := c.takeBuf()
	defer func() { c.putBuf(buf) }()
	var err error
	if buf, err = c.subjectSets(rd, rid, buf, limit); err != nil {
		return outcome{}, c.fail(err, &Explanation{Rule: ruleList, Children: tried})
	}
	if limit >= 0 && len(buf) > limit {
		p, missing, ok, err := c.walkUp(rd, rid, s)
		if err != nil {
			return outcome{}, err
		}
		if ok {
			o := outcome{perm: max(res.perm, p), low: exact}
			if o.perm == Conditional {
				o.missing = mergeMissing(res.missing, missing)
			}
			return o, nil
		}
		if buf, err = c.subjectSets(rd, rid, buf[:0], -1); err != nil {
			return outcome{}, c.fail(err, &Explanation{Rule: ruleList, Children: tried})
		}
	}
	var deferred error
	for i := range buf {
		r := &buf[i]
		p, sub, missing, ok, err := c.through(r, r.SubjectRelation, s, &tried)
		if err != nil {
			if deferred, err = deferDepth(deferred, err); err != nil {
				return outcome{}, c.fail(err, &Explanation{Rule: ruleList, Children: tried})
			}
			continue
		}
		if !ok {
			continue
		}
		res.missing = mergeMissing(res.missing, missing)
		if c.explain {
			e := &Explanation{Rule: RuleRelationship, Relationship: r.String(), Result: p, Children: []*Explanation{sub.expl}}
			if p == Allowed {
				return outcome{perm: Allowed, low: exact, expl: e}, nil
			}
			tried = append(tried, e)
		} else if p == Allowed {
			return outcome{perm: Allowed, low: exact}, nil
		}
		res.perm = max(res.perm, p)
		res.low = min(res.low, sub.low)
	}
	if deferred != nil {
		return outcome{}, c.fail(deferred, &Explanation{Rule: ruleList, Children: tried})
	}
	return c.finishDirect(rd, rid, res, tried), nil
}

// deferDepth sorts the error of one operand of a rule that another operand
// may still decide (a union's or arrow's Allowed, an intersection's or
// .all's Denied, an exclusion's subtracted Allowed): ErrMaxDepth is held
// back in deferred (the first one kept) for the rule to return if nothing
// decides it, any other error is returned at once. So the answer does not
// depend on the order of the operands: a subject one operand grants within
// the depth limit is Allowed even if another operand's walk is too deep
// (SpiceDB's union returns whichever answer arrives first; reach's is the
// one that does not depend on timing).
func deferDepth(deferred, err error) (error, error) {
	if !errors.Is(err, ErrMaxDepth) {
		return deferred, err
	}
	if deferred == nil {
		deferred = err
	}
	return deferred, nil
}

// through takes one step of a union through relationship r: its caveat,
// then whether s reaches rel on r's subject. p is the step's answer and
// missing the caveat context it lacks. ok is false when the caveat is false:
// the relationship counts as absent (noted in tried when explaining).
func (c *checker) through(r *tuples.Relationship, rel string, s Subject, tried *[]*Explanation) (p Permissionship, sub outcome, missing []string, ok bool, err error) {
	cv, cvMissing, err := c.caveat(r)
	if err != nil {
		return Denied, outcome{}, nil, false, c.failRel(err, r)
	}
	if cv == Denied {
		if c.explain {
			*tried = append(*tried, &Explanation{Rule: RuleRelationship, Relationship: r.String(), Result: Denied, CaveatFalse: r.Caveat.Name})
		}
		return Denied, outcome{}, nil, false, nil
	}
	sub, err = c.check(r.SubjectType, r.SubjectID, rel, s)
	if err != nil {
		return Denied, outcome{}, nil, false, c.failRel(err, r)
	}
	return min(sub.perm, cv), sub, andMissing(cv, cvMissing, sub), true, nil
}

// subjectSets appends the subject-set relationships of rd.typ:rid#rd.name
// to buf, all of them, or limit+1 at most when limit >= 0.
func (c *checker) subjectSets(rd *relDef, rid string, buf []tuples.Relationship, limit int) ([]tuples.Relationship, error) {
	for _, ss := range rd.subjectSets {
		err := c.snap.Subjects(rd.typ, rid, rd.name, ss.typ, ss.rel, func(r tuples.Relationship) bool {
			if r.Expiration != nil {
				c.expiring = true
			}
			buf = append(buf, r)
			return limit < 0 || len(buf) <= limit
		})
		if err != nil {
			return buf, err
		}
		if limit >= 0 && len(buf) > limit {
			break
		}
	}
	return buf, nil
}

func (c *checker) finishDirect(rd *relDef, rid string, res outcome, tried []*Explanation) outcome {
	if c.explain {
		if len(tried) == 0 { // no subject type to look up, no subject set
			tried = append(tried, &Explanation{Rule: RuleRelationship, Relationship: rd.typ + ":" + rid + "#" + rd.name, Result: Denied})
		}
		res.expl = &Explanation{Rule: ruleList, Children: tried}
	}
	return res
}

// Walking up. A check of a relation whose subject sets nest only relations
// (team#member in team#member in department#member) walks down through
// every subject set of the object: a department with hundreds of teams
// costs hundreds of lookups, all of them for a subject in none. Walking up
// from the subject instead (its relationships through the reverse index,
// then those of the subject sets found, and so on) costs a few lookups per
// group the subject is in. The answer is the same: the relation holds for
// the subject if a chain of relationships, each allowed by the schema, leads
// from the object to the subject or to its type's wildcard; Allowed if one
// chain has no caveat, Conditional if every chain has one (the least
// fixpoint the downward walk computes, cycles included).
const (
	// walkUpFanOut: more subject sets than this on the object and the walk
	// goes up.
	walkUpFanOut = 4
	// walkUpBudget bounds the lookups and relationships read by one walk
	// up; past it (a subject in very many groups) the walk goes down.
	walkUpBudget = 256
	// indexedFanOut replaces walkUpFanOut where every subject set is a
	// relation of the group index.
	indexedFanOut = 64
)

type walkNode struct {
	typ, id, rel string
}

type upEntry struct {
	perm     Permissionship
	level    int32
	expanded bool
	missing  []string // Conditional: the caveat parameters lacking on the chain
}

// walkUp answers whether plain subject s reaches rd on rd.typ:rid through
// rd's subject sets (the relationships naming s itself were looked up by
// direct). ok is false when the walk gave up (its budget, or a chain so deep
// that the downward walk's depth limit must decide). missing, for a
// Conditional answer, lists the caveat parameters lacking on the chains
// that reached the object.
func (c *checker) walkUp(rd *relDef, rid string, s Subject) (_ Permissionship, missing []string, ok bool, _ error) {
	if err := c.ctx.Err(); err != nil {
		return 0, nil, false, err
	}
	target := walkNode{rd.typ, rid, rd.name}
	maxLevel := int32(c.e.opts.MaxDepth) - c.depth - 1
	seen := map[walkNode]*upEntry{}
	var allowedQ, condQ []walkNode
	found := Denied
	var foundMissing []string
	budget := walkUpBudget
	add := func(n walkNode, p Permissionship, m []string, level int32) {
		if p != Conditional {
			m = nil
		}
		if n == target {
			if p > found {
				foundMissing = m
			} else if p == Conditional && found == Conditional {
				foundMissing = mergeMissing(foundMissing, m)
			}
			found = max(found, p)
			return
		}
		e := seen[n]
		switch {
		case e == nil:
			seen[n] = &upEntry{perm: p, level: level, missing: m}
		case p > e.perm && !e.expanded:
			e.perm, e.level, e.missing = p, level, m
		case p == Conditional && e.perm == Conditional:
			// Another conditional chain: its names count too (the walk
			// down merges every conditional path). New names are carried
			// up by expanding n again; names only grow, so this ends.
			merged := mergeMissing(e.missing, m)
			if len(merged) == len(e.missing) {
				return
			}
			e.missing, e.level, e.expanded = merged, min(e.level, level), false
		default:
			return
		}
		if p == Allowed {
			allowedQ = append(allowedQ, n)
		} else {
			condQ = append(condQ, n)
		}
	}
	// expand follows the relationships whose subject is n into the
	// relations of the walk that allow n.
	expand := func(n walkNode, p Permissionship, pm []string, level int32, wildcard bool) error {
		// edge: what a chain reaching n gives through one more
		// relationship whose caveat gave cv.
		edge := func(cv Permissionship, cvMissing []string) (Permissionship, []string) {
			return min(p, cv), andMissing(cv, cvMissing, outcome{perm: p, missing: pm})
		}
		for _, q := range rd.upRels {
			if wildcard {
				if !q.wildcard[n.typ] {
					continue
				}
			} else if !q.direct[typeRel{n.typ, n.rel}] {
				continue
			}
			budget--
			if q == rd && !rd.upSelf {
				// Only the object asked about matters here.
				if n.typ == s.Type && (n.id == s.ID || wildcard) && n.rel == "" {
					continue // direct looked these up
				}
				r, ok, err := c.snap.Get(rd.typ, rid, rd.name, n.typ, n.id, n.rel)
				if err != nil {
					return err
				}
				if ok && r.Expiration != nil {
					c.expiring = true
				}
				if ok {
					cv, cvMissing, err := c.caveat(&r)
					if err != nil {
						return err
					}
					if cv != Denied {
						ep, em := edge(cv, cvMissing)
						add(target, ep, em, level+1)
					}
				}
				continue
			}
			var cerr error
			err := c.snap.Resources(n.typ, n.id, n.rel, q.typ, q.name, func(r tuples.Relationship) bool {
				budget--
				if r.Expiration != nil {
					c.expiring = true
				}
				cv, cvMissing, err := c.caveat(&r)
				if err != nil {
					cerr = err
					return false
				}
				if cv != Denied { // a false caveat: the relationship is absent
					ep, em := edge(cv, cvMissing)
					add(walkNode{q.typ, r.ResourceID, q.name}, ep, em, level+1)
				}
				return budget > 0
			})
			if err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if budget <= 0 {
				return nil
			}
		}
		return nil
	}
	if err := expand(walkNode{s.Type, s.ID, ""}, Allowed, nil, 0, false); err != nil {
		return 0, nil, false, err
	}
	if err := expand(walkNode{s.Type, wildcardID, ""}, Allowed, nil, 0, true); err != nil {
		return 0, nil, false, err
	}
	// The walk answers here only while every level it expanded would have
	// fitted under the limit (see outcome.need): the level-L node it
	// expanded stands for a check L+1 below this one's.
	maxExpanded := int32(0)
	defer func() { c.deepest = max(c.deepest, c.depth+maxExpanded+1) }()
	for budget > 0 && found != Allowed {
		var n walkNode
		switch {
		case len(allowedQ) > 0:
			n, allowedQ = allowedQ[0], allowedQ[1:]
		case len(condQ) > 0:
			// No more Allowed chain can be found (every node reached
			// without a caveat was expanded), but the conditional
			// chains left may lack other names.
			n, condQ = condQ[0], condQ[1:]
		default:
			return found, foundMissing, true, nil
		}
		e := seen[n]
		if e.expanded {
			continue
		}
		e.expanded = true
		if e.level >= maxLevel {
			return 0, nil, false, nil
		}
		maxExpanded = max(maxExpanded, e.level)
		if err := expand(n, e.perm, e.missing, e.level, false); err != nil {
			return 0, nil, false, err
		}
	}
	if found == Allowed {
		return Allowed, nil, true, nil
	}
	return 0, nil, false, nil
}

// rewrite evaluates a permission's expression tree on object rd.typ:rid.
func (c *checker) rewrite(rd *relDef, rid string, rw *schema.Rewrite, s Subject) (outcome, error) {
	switch rw.Op {
	case schema.OpNil:
		o := outcome{perm: Denied, low: exact}
		if c.explain {
			o.expl = &Explanation{Rule: RuleNil, Result: Denied}
		}
		return o, nil
	case schema.OpComputed:
		return c.check(rd.typ, rid, rw.Relation, s)
	case schema.OpArrow, schema.OpArrowAll:
		return c.arrow(rd, rid, rw, s)
	case schema.OpUnion:
		res := outcome{perm: Denied, low: exact}
		var tried []*Explanation
		var deferred error
		for _, ch := range rw.Children {
			o, err := c.rewrite(rd, rid, ch, s)
			if err != nil {
				if deferred, err = deferDepth(deferred, err); err != nil {
					return outcome{}, c.fail(err, &Explanation{Rule: RuleUnion, Children: tried})
				}
				continue
			}
			if o.perm == Allowed {
				if c.explain {
					o.expl = &Explanation{Rule: RuleUnion, Result: Allowed, Children: []*Explanation{o.expl}}
				}
				return outcome{perm: Allowed, low: exact, expl: o.expl}, nil
			}
			res.perm = max(res.perm, o.perm)
			res.low = min(res.low, o.low)
			if o.perm == Conditional {
				res.missing = mergeMissing(res.missing, o.missing)
			}
			tried = append(tried, o.expl)
		}
		if deferred != nil {
			return outcome{}, c.fail(deferred, &Explanation{Rule: RuleUnion, Children: tried})
		}
		if c.explain {
			res.expl = &Explanation{Rule: RuleUnion, Result: res.perm, Children: tried}
		}
		return res, nil
	case schema.OpIntersection:
		res := outcome{perm: Allowed, low: exact}
		var tried []*Explanation
		var deferred error
		for _, ch := range rw.Children {
			o, err := c.rewrite(rd, rid, ch, s)
			if err != nil {
				if deferred, err = deferDepth(deferred, err); err != nil {
					return outcome{}, c.fail(err, &Explanation{Rule: RuleIntersection, Children: tried})
				}
				continue
			}
			tried = append(tried, o.expl)
			if o.perm == Denied {
				res = outcome{perm: Denied, low: o.low}
				deferred = nil
				break
			}
			res.perm = min(res.perm, o.perm)
			res.low = min(res.low, o.low)
			if o.perm == Conditional {
				res.missing = mergeMissing(res.missing, o.missing)
			}
		}
		if deferred != nil {
			return outcome{}, c.fail(deferred, &Explanation{Rule: RuleIntersection, Children: tried})
		}
		if c.explain {
			res.expl = &Explanation{Rule: RuleIntersection, Result: res.perm, Children: tried}
		}
		return res, nil
	case schema.OpExclusion:
		base, err := c.rewrite(rd, rid, rw.Children[0], s)
		var deferred error
		if err != nil {
			if deferred, err = deferDepth(nil, err); err != nil {
				return outcome{}, c.fail(err, &Explanation{Rule: RuleExclusion})
			}
			// Too deep: only a subtracted side that is Allowed decides.
			base = outcome{perm: Conditional, low: exact}
		}
		var tried []*Explanation
		if deferred == nil {
			tried = []*Explanation{base.expl}
		}
		res := outcome{perm: Denied, low: base.low}
		if base.perm != Denied {
			sub, err := c.rewrite(rd, rid, rw.Children[1], s)
			if err != nil {
				// (The base's own failure, if deferred, is left out: this
				// one is the error returned.)
				return outcome{}, c.fail(err, &Explanation{Rule: RuleExclusion, Children: tried})
			}
			if deferred != nil {
				if sub.perm != Allowed {
					err := c.fail(deferred, &Explanation{Rule: RuleExclusion})
					if xe, ok := err.(*ExplainedError); ok && sub.expl != nil {
						// The base that failed, then the subtracted side
						// that did not decide.
						xe.Explanation.Children = append(xe.Explanation.Children, sub.expl)
					}
					return outcome{}, err
				}
				res = outcome{perm: Denied, low: sub.low}
				if c.explain {
					res.expl = &Explanation{Rule: RuleExclusion, Result: Denied, Children: []*Explanation{sub.expl}}
				}
				return res, nil
			}
			if sub.perm != Allowed && sub.low != exact {
				// The subtracted side was cut off at a check still under
				// way: this answer depends on itself through the
				// exclusion, and no answer is consistent (SpiceDB
				// recurses until its maximum depth here).
				err := fmt.Errorf("checking %s:%s#%s: %w", rd.typ, rid, rd.name, ErrNegativeCycle)
				return outcome{}, c.fail(err, &Explanation{Rule: RuleExclusion, Children: []*Explanation{base.expl, sub.expl}})
			}
			tried = append(tried, sub.expl)
			switch sub.perm {
			case Allowed:
				res = outcome{perm: Denied, low: sub.low}
			case Conditional:
				res = outcome{perm: Conditional, low: min(base.low, sub.low), missing: sub.missing}
				if base.perm == Conditional {
					res.missing = mergeMissing(base.missing, sub.missing)
				}
			default:
				res = outcome{perm: base.perm, low: min(base.low, sub.low), missing: base.missing}
			}
		}
		if c.explain {
			res.expl = &Explanation{Rule: RuleExclusion, Result: res.perm, Children: tried}
		}
		return res, nil
	}
	return outcome{}, c.fail(fmt.Errorf("%s#%s: unknown rewrite operation %v", rd.typ, rd.name, rw.Op), &Explanation{Rule: ruleList})
}

// arrow evaluates tupleset->target (any) and tupleset.all(target). Like
// SpiceDB, the arrow follows each subject object of the tupleset relation,
// ignoring the subject's relation, and a subject whose type lacks target
// contributes "no".
func (c *checker) arrow(rd *relDef, rid string, rw *schema.Rewrite, s Subject) (outcome, error) {
	all := rw.Op == schema.OpArrowAll
	buf := c.takeBuf()
	defer func() { c.putBuf(buf) }()
	err := c.snap.Subjects(rd.typ, rid, rw.Relation, "", "", func(r tuples.Relationship) bool {
		if r.Expiration != nil {
			c.expiring = true
		}
		buf = append(buf, r)
		return true
	})
	rule := RuleArrow
	if all {
		rule = RuleArrowAll
	}
	var tried []*Explanation
	// failed is err, met in the arrow, as the arrow's failure.
	failed := func(err error) error {
		return c.fail(err, &Explanation{Rule: rule, Arrow: rw.Relation + "->" + rw.Target, Children: tried})
	}
	if err != nil {
		return outcome{}, failed(err)
	}
	if c.explain && len(buf) == 0 {
		tried = append(tried, &Explanation{Rule: RuleRelationship, Relationship: rd.typ + ":" + rid + "#" + rw.Relation, Result: Denied})
	}
	finish := func(o outcome) (outcome, error) {
		if c.explain {
			o.expl = &Explanation{Rule: rule, Arrow: rw.Relation + "->" + rw.Target, Result: o.perm, Children: tried}
		}
		return o, nil
	}
	var deferred error
	if !all {
		res := outcome{perm: Denied, low: exact}
		for i := range buf {
			r := &buf[i]
			if r.IsWildcard() {
				continue
			}
			p, sub, missing, ok, err := c.through(r, rw.Target, s, &tried)
			if err != nil {
				if deferred, err = deferDepth(deferred, err); err != nil {
					return outcome{}, failed(err)
				}
				continue
			}
			if !ok {
				continue
			}
			res.missing = mergeMissing(res.missing, missing)
			if c.explain {
				tried = append(tried, &Explanation{Rule: RuleRelationship, Relationship: r.String(), Result: p, Children: []*Explanation{sub.expl}})
			}
			if p == Allowed {
				if c.explain {
					tried = tried[len(tried)-1:]
				}
				return finish(outcome{perm: Allowed, low: exact})
			}
			res.perm = max(res.perm, p)
			res.low = min(res.low, sub.low)
		}
		if deferred != nil {
			return outcome{}, failed(deferred)
		}
		return finish(res)
	}
	// .all: every subject of the tupleset must reach target, and there must
	// be at least one (SpiceDB: intersection arrow over an empty set is
	// "no"). SpiceDB ANDs, over every tupleset relationship, its caveat and
	// the target's check: a relationship whose caveat is false makes the
	// whole arrow false (it is not read as absent;
	// caveatedintersectionarrow.yaml's negativeteam asserts it).
	if len(buf) == 0 {
		return finish(outcome{perm: Denied, low: exact})
	}
	res := outcome{perm: Allowed, low: exact}
	for i := range buf {
		r := &buf[i]
		cv, cvMissing, err := c.caveat(r)
		if err != nil {
			return outcome{}, failed(c.failRel(err, r))
		}
		if cv == Denied {
			if c.explain {
				tried = []*Explanation{{Rule: RuleRelationship, Relationship: r.String(), Result: Denied, CaveatFalse: r.Caveat.Name}}
			}
			return finish(outcome{perm: Denied, low: exact})
		}
		var sub outcome
		if r.IsWildcard() {
			sub = outcome{perm: Denied, low: exact}
		} else {
			sub, err = c.check(r.SubjectType, r.SubjectID, rw.Target, s)
			if err != nil {
				if deferred, err = deferDepth(deferred, c.failRel(err, r)); err != nil {
					return outcome{}, failed(err)
				}
				continue
			}
		}
		p := min(sub.perm, cv)
		if c.explain {
			tried = append(tried, &Explanation{Rule: RuleRelationship, Relationship: r.String(), Result: p, Children: []*Explanation{sub.expl}})
		}
		if p == Denied {
			if c.explain {
				tried = tried[len(tried)-1:]
			}
			return finish(outcome{perm: Denied, low: sub.low})
		}
		res.perm = min(res.perm, p)
		res.low = min(res.low, sub.low)
		res.missing = mergeMissing(res.missing, andMissing(cv, cvMissing, sub))
	}
	if deferred != nil {
		return outcome{}, failed(deferred)
	}
	return finish(res)
}

func (c *checker) takeBuf() []tuples.Relationship {
	if n := len(c.bufs); n > 0 {
		b := c.bufs[n-1]
		c.bufs = c.bufs[:n-1]
		return b[:0]
	}
	return make([]tuples.Relationship, 0, 8)
}

func (c *checker) putBuf(b []tuples.Relationship) {
	clear(b)
	c.bufs = append(c.bufs, b[:0])
}

func relString(rt, rid, rel, st, sid, srel string) string {
	s := rt + ":" + rid + "#" + rel + "@" + st + ":" + sid
	if srel != "" {
		s += "#" + srel
	}
	return s
}
