package engine

// The reference evaluator: a slow, obviously right model of the semantics,
// against which the engine is compared on random schemas, data and queries.
//
// It knows nothing of the engine: no memo, no cache, no short cuts, no
// cycle cutting. It grounds the schema over a finite universe of objects
// into one boolean variable per (object, relation or permission), and for
// one subject computes the least model of the rules stratum by stratum:
// the strongly connected components of the ground dependency graph, in
// dependency order, each iterated from "all false" until nothing changes.
// Exclusion is not monotone, so a component with an edge through the
// subtracted side of an exclusion has no least model: such cases are
// "unstratified", skipped by the comparison (the engine must still answer
// them without error).
//
// The rules, as SpiceDB applies them (internal/graph/check.go):
//   - a subject set s = T:id#rel is a member of T:id#rel itself;
//   - a relation holds for s when a relationship names s exactly, or names
//     the wildcard T:* of s's type (whatever s's subject relation), or names
//     a subject set that holds for s;
//   - tupleset->target holds when target holds on the object of some
//     non-wildcard subject of the tupleset relation (its subject relation is
//     ignored); tupleset.all(target) when there is at least one such subject
//     and target holds on every one;
//   - union, intersection, exclusion and nil as sets; a relation or
//     permission missing on a type holds for nobody.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/reach-authz/reach/internal/testdatastore"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// refNode is one ground variable: does the subject reach rel on typ:id?
type refNode struct{ typ, id, rel string }

type refEdge struct {
	to       refNode
	negative bool // through the subtracted side of an exclusion
}

type reference struct {
	prog       *schema.Program
	byRes      map[refNode][]tuples.Relationship
	nodes      []refNode
	sccs       [][]refNode // dependencies first
	stratified bool
}

// newReference grounds prog over the objects of universe (which must hold
// every object the relationships name).
func newReference(prog *schema.Program, rels []tuples.Relationship, universe []Object) *reference {
	r := &reference{prog: prog, byRes: map[refNode][]tuples.Relationship{}, stratified: true}
	for _, t := range rels {
		k := refNode{t.ResourceType, t.ResourceID, t.Relation}
		r.byRes[k] = append(r.byRes[k], t)
	}
	for _, o := range universe {
		d := prog.Definition(o.Type)
		if d == nil {
			continue
		}
		for _, rel := range d.Relations {
			r.nodes = append(r.nodes, refNode{o.Type, o.ID, rel.Name})
		}
	}
	deps := map[refNode][]refEdge{}
	for _, n := range r.nodes {
		deps[n] = r.edges(n)
	}
	r.sccs = tarjan(r.nodes, deps)
	comp := map[refNode]int{}
	for i, c := range r.sccs {
		for _, n := range c {
			comp[n] = i
		}
	}
	for _, n := range r.nodes {
		for _, e := range deps[n] {
			if c, ok := comp[e.to]; ok && e.negative && c == comp[n] {
				r.stratified = false
			}
		}
	}
	return r
}

func (r *reference) defined(n refNode) bool { return r.prog.Lookup(n.typ, n.rel) != nil }

// edges lists the variables n's rule reads.
func (r *reference) edges(n refNode) []refEdge {
	rel := r.prog.Lookup(n.typ, n.rel)
	var out []refEdge
	add := func(to refNode, neg bool) {
		if r.defined(to) {
			out = append(out, refEdge{to, neg})
		}
	}
	if rel.Kind == schema.KindRelation {
		for _, t := range r.byRes[n] {
			if t.SubjectRelation != "" {
				add(refNode{t.SubjectType, t.SubjectID, t.SubjectRelation}, false)
			}
		}
		return out
	}
	var walk func(rw *schema.Rewrite, neg bool)
	walk = func(rw *schema.Rewrite, neg bool) {
		switch rw.Op {
		case schema.OpComputed:
			add(refNode{n.typ, n.id, rw.Relation}, neg)
		case schema.OpArrow, schema.OpArrowAll:
			for _, t := range r.byRes[refNode{n.typ, n.id, rw.Relation}] {
				if !t.IsWildcard() {
					add(refNode{t.SubjectType, t.SubjectID, rw.Target}, neg)
				}
			}
		case schema.OpExclusion:
			walk(rw.Children[0], neg)
			walk(rw.Children[1], true)
		default:
			for _, c := range rw.Children {
				walk(c, neg)
			}
		}
	}
	walk(rel.Rewrite, false)
	return out
}

// tarjan returns the strongly connected components of the graph, each
// after every component it depends on.
func tarjan(nodes []refNode, deps map[refNode][]refEdge) [][]refNode {
	index := map[refNode]int{}
	low := map[refNode]int{}
	on := map[refNode]bool{}
	var stack []refNode
	var out [][]refNode
	var visit func(n refNode)
	visit = func(n refNode) {
		index[n] = len(index)
		low[n] = index[n]
		stack = append(stack, n)
		on[n] = true
		for _, e := range deps[n] {
			if _, seen := index[e.to]; !seen {
				if _, known := deps[e.to]; !known {
					continue // outside the universe: never holds
				}
				visit(e.to)
				low[n] = min(low[n], low[e.to])
			} else if on[e.to] {
				low[n] = min(low[n], index[e.to])
			}
		}
		if low[n] == index[n] {
			var c []refNode
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[m] = false
				c = append(c, m)
				if m == n {
					break
				}
			}
			out = append(out, c)
		}
	}
	for _, n := range nodes {
		if _, seen := index[n]; !seen {
			visit(n)
		}
	}
	return out
}

// eval returns every variable that holds for subject s.
func (r *reference) eval(s Subject) map[refNode]bool {
	val := map[refNode]bool{}
	for _, c := range r.sccs {
		for changed := true; changed; {
			changed = false
			for _, n := range c {
				if !val[n] && r.holds(n, s, val) {
					val[n] = true
					changed = true
				}
			}
		}
	}
	return val
}

func (r *reference) holds(n refNode, s Subject, val map[refNode]bool) bool {
	if s.Relation != "" && s.Type == n.typ && s.ID == n.id && s.Relation == n.rel {
		return true
	}
	rel := r.prog.Lookup(n.typ, n.rel)
	if rel.Kind == schema.KindRelation {
		for _, t := range r.byRes[n] {
			switch {
			case t.SubjectType == s.Type && t.SubjectID == s.ID && t.SubjectRelation == s.Relation:
				return true
			case t.SubjectType == s.Type && t.IsWildcard():
				return true
			case t.SubjectRelation != "" && val[refNode{t.SubjectType, t.SubjectID, t.SubjectRelation}]:
				return true
			}
		}
		return false
	}
	return r.rewrite(n, rel.Rewrite, val)
}

func (r *reference) rewrite(n refNode, rw *schema.Rewrite, val map[refNode]bool) bool {
	switch rw.Op {
	case schema.OpNil:
		return false
	case schema.OpComputed:
		return val[refNode{n.typ, n.id, rw.Relation}]
	case schema.OpArrow:
		for _, t := range r.byRes[refNode{n.typ, n.id, rw.Relation}] {
			if !t.IsWildcard() && val[refNode{t.SubjectType, t.SubjectID, rw.Target}] {
				return true
			}
		}
		return false
	case schema.OpArrowAll:
		found := false
		for _, t := range r.byRes[refNode{n.typ, n.id, rw.Relation}] {
			if t.IsWildcard() {
				continue
			}
			found = true
			if !val[refNode{t.SubjectType, t.SubjectID, rw.Target}] {
				return false
			}
		}
		return found
	case schema.OpUnion:
		for _, c := range rw.Children {
			if r.rewrite(n, c, val) {
				return true
			}
		}
		return false
	case schema.OpIntersection:
		for _, c := range rw.Children {
			if !r.rewrite(n, c, val) {
				return false
			}
		}
		return true
	case schema.OpExclusion:
		return r.rewrite(n, rw.Children[0], val) && !r.rewrite(n, rw.Children[1], val)
	}
	panic(fmt.Sprintf("reference: unknown op %v", rw.Op))
}

// ---- the random generator ----

var (
	genTypes = []string{"doc", "folder", "group"}
	genRels  = []string{"rela", "relb", "relc"}
	genPerms = []string{"pera", "perb", "perc"}
	// genIDs are the ids of each type: relationships name the first
	// dataIDs of them, queries all of them (and freshID).
	genIDs  = map[string][]string{"user": {"u1", "u2", "u3"}, "doc": {"a", "b", "c"}, "folder": {"a", "b", "c"}, "group": {"a", "b", "c"}}
	dataIDs = 2
)

// freshID is an id no relationship names: a stranger.
const freshID = "zz_fresh"

// randCase is one random schema with its relationships and queries.
type randCase struct {
	src     string
	prog    *schema.Program
	rels    []tuples.Relationship
	checks  []CheckRequest
	lookups []LookupResourcesRequest
	subjs   []LookupSubjectsRequest
	// tableSubjects get a whole truth table, asked in the order perm
	// shuffles it to.
	tableSubjects []Subject
	perm          []int
}

// shuffle reorders reqs by c.perm (drawn with the case).
func (c *randCase) shuffle(reqs []CheckRequest) {
	for i := len(reqs) - 1; i > 0; i-- {
		j := c.perm[i%len(c.perm)] % (i + 1)
		reqs[i], reqs[j] = reqs[j], reqs[i]
	}
}

func (c *randCase) String() string {
	var b strings.Builder
	b.WriteString(c.src)
	b.WriteString("\n// relationships:\n")
	for _, r := range c.rels {
		b.WriteString("//   " + r.String() + "\n")
	}
	return b.String()
}

// universe is every object the case may name.
func (c *randCase) universe() []Object {
	var out []Object
	for _, d := range c.prog.Definitions() {
		for _, id := range append(slices.Clone(genIDs[d.Name]), freshID) {
			out = append(out, Object{d.Name, id})
		}
	}
	return out
}

// genCase draws a random case from r. It never fails: when no random
// schema compiles after many tries, it falls back to a fixed one.
func genCase(r *rand.Rand, nChecks int) *randCase {
	c := &randCase{}
	for try := 0; try < 50 && c.prog == nil; try++ {
		src := genSchema(r)
		prog, _, err := schema.Compile("random.zed", []byte(src))
		if err == nil {
			c.src, c.prog = src, prog
		}
	}
	if c.prog == nil {
		c.src = "definition user {}\n\ndefinition doc {\n\trelation rela: user\n}\n"
		c.prog, _, _ = schema.Compile("fixed.zed", []byte(c.src))
	}
	c.rels = genRels2(r, c.prog)
	var resTypes []*schema.Definition
	for _, d := range c.prog.Definitions() {
		if len(d.Relations) > 0 {
			resTypes = append(resTypes, d)
		}
	}
	pickName := func(d *schema.Definition) string { return d.Relations[r.IntN(len(d.Relations))].Name }
	pickID := func(typ string) string {
		switch ids := genIDs[typ]; r.IntN(10) {
		case 0:
			return freshID
		case 1:
			return ids[r.IntN(len(ids))]
		default:
			return ids[r.IntN(dataIDs)]
		}
	}
	pickSubject := func() Subject {
		switch x := r.IntN(10); {
		case x < 6:
			return Subject{Type: "user", ID: pickID("user")}
		case x < 8:
			d := resTypes[r.IntN(len(resTypes))]
			return Subject{Type: d.Name, ID: pickID(d.Name)}
		default:
			d := resTypes[r.IntN(len(resTypes))]
			return Subject{Type: d.Name, ID: pickID(d.Name), Relation: pickName(d)}
		}
	}
	for i := 0; i < nChecks; i++ {
		d := resTypes[r.IntN(len(resTypes))]
		c.checks = append(c.checks, CheckRequest{
			Resource: Object{d.Name, pickID(d.Name)}, Permission: pickName(d), Subject: pickSubject(), Consistency: fresh,
		})
	}
	c.tableSubjects = []Subject{pickSubject()}
	for i := 0; i < 16; i++ {
		c.perm = append(c.perm, r.IntN(1<<20))
	}
	for i := 0; i < 2; i++ {
		d := resTypes[r.IntN(len(resTypes))]
		c.lookups = append(c.lookups, LookupResourcesRequest{ResourceType: d.Name, Permission: pickName(d), Subject: pickSubject(), Consistency: fresh})
		s := pickSubject()
		c.subjs = append(c.subjs, LookupSubjectsRequest{Resource: Object{d.Name, pickID(d.Name)}, Permission: pickName(d),
			SubjectType: s.Type, SubjectRelation: s.Relation, Consistency: fresh})
	}
	return c
}

// genSchema writes a random schema: user plus one to three types with
// relations allowing users, wildcards, objects and subject sets, and
// permissions built from every operation. Not every draw compiles (an
// arrow over a relation with a wildcard, say); genCase draws again.
func genSchema(r *rand.Rand) string {
	types := genTypes[:1+r.IntN(len(genTypes))]
	rels := map[string][]string{}
	perms := map[string][]string{}
	for _, t := range types {
		rels[t] = genRels[:1+r.IntN(len(genRels))]
		perms[t] = genPerms[:r.IntN(len(genPerms)+1)]
	}
	names := func(t string) []string { return append(slices.Clone(rels[t]), perms[t]...) }
	var b strings.Builder
	b.WriteString("definition user {}\n")
	allowed := map[string][]string{} // "type#rel" -> allowed type texts
	for _, t := range types {
		fmt.Fprintf(&b, "\ndefinition %s {\n", t)
		for _, rel := range rels[t] {
			var alts []string
			for n := 1 + r.IntN(3); len(alts) < n; {
				var a string
				switch x := r.IntN(10); {
				case x < 3:
					a = "user"
				case x < 4:
					a = "user:*"
				case x < 7:
					a = types[r.IntN(len(types))]
				default:
					t2 := types[r.IntN(len(types))]
					ns := names(t2)
					a = t2 + "#" + ns[r.IntN(len(ns))]
				}
				if !slices.Contains(alts, a) {
					alts = append(alts, a)
				}
			}
			allowed[t+"#"+rel] = alts
			fmt.Fprintf(&b, "\trelation %s: %s\n", rel, strings.Join(alts, " | "))
		}
		for i, p := range perms[t] {
			// Computed usersets only name relations and earlier
			// permissions, so that permissions never form a cycle.
			refs := append(slices.Clone(rels[t]), perms[t][:i]...)
			fmt.Fprintf(&b, "\tpermission %s = %s\n", p, genExpr(r, t, refs, rels[t], allowed, names, 0))
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func genExpr(r *rand.Rand, t string, refs, tuplesets []string, allowed map[string][]string, names func(string) []string, depth int) string {
	if depth < 2 && r.IntN(3) > 0 {
		op := []string{" + ", " + ", " & ", " - "}[r.IntN(4)]
		return "(" + genExpr(r, t, refs, tuplesets, allowed, names, depth+1) + op + genExpr(r, t, refs, tuplesets, allowed, names, depth+1) + ")"
	}
	switch x := r.IntN(20); {
	case x == 0:
		return "nil"
	case x < 12:
		return refs[r.IntN(len(refs))]
	default:
		ts := tuplesets[r.IntN(len(tuplesets))]
		var targets []string
		for _, a := range allowed[t+"#"+ts] {
			typ, _, _ := strings.Cut(a, "#")
			if typ != "user" && typ != "user:*" {
				targets = append(targets, names(typ)...)
			}
		}
		if len(targets) == 0 {
			return refs[r.IntN(len(refs))]
		}
		target := targets[r.IntN(len(targets))]
		switch r.IntN(3) {
		case 0:
			return ts + ".all(" + target + ")"
		case 1:
			return ts + ".any(" + target + ")"
		}
		return ts + "->" + target
	}
}

// genRels2 draws up to 30 relationships that fit prog.
func genRels2(r *rand.Rand, prog *schema.Program) []tuples.Relationship {
	type slot struct {
		typ, rel string
		a        schema.AllowedType
	}
	var slots []slot
	for _, d := range prog.Definitions() {
		for _, rel := range d.Relations {
			for _, a := range rel.Allowed {
				slots = append(slots, slot{d.Name, rel.Name, a})
			}
		}
	}
	if len(slots) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var out []tuples.Relationship
	n := r.IntN(31)
	for try := 0; try < 3*n && len(out) < n; try++ {
		s := slots[r.IntN(len(slots))]
		t := tuples.Relationship{ResourceType: s.typ, ResourceID: genIDs[s.typ][r.IntN(dataIDs)], Relation: s.rel,
			SubjectType: s.a.Type, SubjectID: genIDs[s.a.Type][r.IntN(dataIDs)], SubjectRelation: s.a.Relation}
		if s.a.Wildcard {
			t.SubjectID = "*"
		}
		if k := t.String(); !seen[k] {
			seen[k] = true
			out = append(out, t)
		}
	}
	return out
}

// ---- the comparison ----

// refStats counts what compareWithReference compared.
type refStats struct {
	cases, checks, skipped, lookups, subjects int
	// indexed counts the cases whose schema nests (the group index was
	// built), indexHits the sub-problems the index answered.
	indexed, indexHits int
}

// compareWithReference runs every query of c through the engine (cache on,
// cache off, CheckBulk, explained) and the reference, and reports each
// disagreement.
func compareWithReference(t testing.TB, c *randCase, st *refStats) {
	t.Helper()
	ctx := context.Background()
	ref := newReference(c.prog, c.rels, c.universe())
	var store Store = newMemStore(c.prog, c.rels)
	if testdatastore.Kind() != "badger" {
		// On another datastore (REACH_TEST_DATASTORE), the case is written
		// through that driver, so its reads are compared too.
		rels := make([]string, len(c.rels))
		for i, r := range c.rels {
			rels[i] = r.String()
		}
		store = newTestStore(t, c.src, rels...)
	}
	// The cached engines use the group index (built before the first
	// query), the others walk: both must agree with the reference.
	cached := indexedEngine(t, store, Options{CacheSize: 4096, MaxDepth: 1000}, st)
	uncached := New(store, Options{CacheSize: -1, MaxDepth: 1000, DisableGroupIndex: true})
	// bounded remembers one subject: LookupSubjects reads the store to
	// give each once, and fails on a wildcard with two exclusions.
	bounded := New(store, Options{CacheSize: -1, MaxDepth: 1000, MaxLookupResults: 1, DisableGroupIndex: true})
	st.cases++
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s\n%s", fmt.Sprintf(format, args...), c)
	}
	evals := map[Subject]map[refNode]bool{}
	eval := func(s Subject) map[refNode]bool {
		if v, ok := evals[s]; ok {
			return v
		}
		v := ref.eval(s)
		evals[s] = v
		return v
	}

	// ok reports whether err is acceptable: none, or, on data without a
	// consistent answer, ErrNegativeCycle.
	ok := func(what string, err error) bool {
		t.Helper()
		if err == nil {
			return true
		}
		if !ref.stratified && errors.Is(err, ErrNegativeCycle) {
			return false
		}
		fail("%s: %v", what, err)
		return false
	}

	bulk, bulkErr := cached.CheckBulk(ctx, c.checks)
	bulkOK := ok("CheckBulk", bulkErr)
	for i, q := range c.checks {
		name := fmt.Sprintf("%s#%s@%s", q.Resource, q.Permission, q.Subject)
		var got []Permissionship
		var modes []string
		for j, e := range []*Engine{cached, uncached, cached} {
			q := q
			q.Explain = j == 2
			res, err := e.Check(ctx, q)
			if !ok("Check("+name+")", err) {
				continue
			}
			got = append(got, res.Permissionship)
			modes = append(modes, []string{"cached", "uncached", "explained"}[j])
			if q.Explain && (res.Explanation == nil || res.Explanation.Result != res.Permissionship) {
				fail("Check(%s) explained: explanation %+v does not match %s", name, res.Explanation, res.Permissionship)
			}
		}
		if bulkOK {
			got = append(got, bulk[i].Permissionship)
			modes = append(modes, "bulk")
		}
		for j := range got {
			if got[j] != got[0] {
				fail("Check(%s): %v answered %v", name, modes, got)
				break
			}
		}
		if !ref.stratified {
			st.skipped++
			continue
		}
		st.checks++
		want := Denied
		if eval(q.Subject)[refNode{q.Resource.Type, q.Resource.ID, q.Permission}] {
			want = Allowed
		}
		if len(got) > 0 && got[0] != want {
			fail("Check(%s) = %s, reference says %s", name, got[0], want)
		}
	}

	// Whole truth tables for a few subjects, in a random order, one check
	// at a time on the cached engine and all at once in one CheckBulk:
	// this is where a sub-problem answered during a cycle and wrongly
	// remembered would show.
	for _, s := range c.tableSubjects {
		var table []CheckRequest
		for _, o := range c.universe() {
			if o.ID == freshID {
				continue
			}
			for _, rel := range c.prog.Definition(o.Type).Relations {
				table = append(table, CheckRequest{Resource: o, Permission: rel.Name, Subject: s, Consistency: fresh})
			}
		}
		c.shuffle(table)
		val := eval(s)
		tableEngine := indexedEngine(t, store, Options{CacheSize: 4096, MaxDepth: 1000}, nil)
		bulk, err := New(store, Options{CacheSize: -1, MaxDepth: 1000, DisableGroupIndex: true}).CheckBulk(ctx, table)
		bulkOK := ok("CheckBulk(table)", err)
		for i, q := range table {
			name := fmt.Sprintf("%s#%s@%s", q.Resource, q.Permission, q.Subject)
			res, err := tableEngine.Check(ctx, q)
			if !ok("Check("+name+")", err) || !ref.stratified {
				continue
			}
			st.checks++
			want := Denied
			if val[refNode{q.Resource.Type, q.Resource.ID, q.Permission}] {
				want = Allowed
			}
			if res.Permissionship != want {
				fail("truth table: Check(%s) = %s, reference says %s", name, res.Permissionship, want)
			}
			if bulkOK && bulk[i].Permissionship != want {
				fail("truth table: CheckBulk(%s) = %s, reference says %s", name, bulk[i].Permissionship, want)
			}
		}
	}

	for _, q := range c.lookups {
		name := fmt.Sprintf("LookupResources(%s#%s@%s)", q.ResourceType, q.Permission, q.Subject)
		var all []string
		_, err := cached.LookupResources(ctx, q, func(r LookupResult) bool {
			all = append(all, r.ResourceID)
			return true
		})
		if !ok(name, err) {
			continue
		}
		// Page through it too, with a small limit.
		var paged []string
		pq := q
		pq.Limit = 1
		for pages := 0; ; pages++ {
			if pages > 20 {
				fail("%s: too many pages", name)
				break
			}
			cur, err := uncached.LookupResources(ctx, pq, func(r LookupResult) bool {
				paged = append(paged, r.ResourceID)
				return true
			})
			if !ok(name+" paged", err) {
				break
			}
			if cur == "" {
				break
			}
			pq.Cursor = cur
		}
		if !slices.Equal(all, paged) {
			fail("%s: all at once %v, in pages of %d %v", name, all, pq.Limit, paged)
		}
		if !ref.stratified {
			continue
		}
		st.lookups++
		val := eval(q.Subject)
		var want []string
		for _, o := range c.universe() {
			if o.Type == q.ResourceType && val[refNode{o.Type, o.ID, q.Permission}] {
				want = append(want, o.ID)
			}
		}
		sort.Strings(want)
		if !slices.Equal(all, want) {
			fail("%s = %v, reference says %v", name, all, want)
		}
	}

	for _, q := range c.subjs {
		name := fmt.Sprintf("LookupSubjects(%s#%s, %s#%s)", q.Resource, q.Permission, q.SubjectType, q.SubjectRelation)
		found, _, err := cached.LookupSubjects(ctx, q)
		if !ok(name, err) {
			continue
		}
		concrete := map[string]bool{}
		var wildcard *FoundSubject
		for i, f := range found {
			if f.ID == "*" {
				wildcard = &found[i]
			} else {
				concrete[f.ID] = true
			}
			if f.Permissionship != Allowed {
				fail("%s: %+v is not allowed", name, f)
			}
		}
		if bfound, _, err := bounded.LookupSubjects(ctx, q); err != nil {
			if !errors.Is(err, ErrTooManyResults) || wildcard == nil || len(wildcard.Excluded) < 2 {
				fail("%s with MaxLookupResults 1: %v", name, err)
			}
		} else if fmt.Sprint(bfound) != fmt.Sprint(found) {
			fail("%s with MaxLookupResults 1 = %+v, unbounded %+v", name, bfound, found)
		}
		if !ref.stratified {
			continue
		}
		st.subjects++
		for _, id := range append(slices.Clone(genIDs[q.SubjectType]), freshID) {
			s := Subject{q.SubjectType, id, q.SubjectRelation}
			want := eval(s)[refNode{q.Resource.Type, q.Resource.ID, q.Permission}]
			got := concrete[id] || (wildcard != nil && !slices.Contains(wildcard.Excluded, id))
			if got != want {
				fail("%s = %+v: says %s is %v, reference says %v", name, found, s, got, want)
			}
		}
	}
	st.indexHits += indexHits(cached)
}

func TestEngineMatchesReference(t *testing.T) {
	n := 1500 // 15,000 checks, 3,000 lookups of each kind
	if testing.Short() {
		n = 250
	}
	if testdatastore.Kind() != "badger" {
		n /= 5 // a fresh database per case
	}
	var st refStats
	r := rand.New(rand.NewPCG(20261122, 4))
	for i := 0; i < n && !t.Failed(); i++ {
		compareWithReference(t, genCase(r, 10), &st)
	}
	t.Logf("%d cases: %d checks compared (%d unstratified skipped), %d LookupResources, %d LookupSubjects; %d cases with a group index, %d answers from it",
		st.cases, st.checks, st.skipped, st.lookups, st.subjects, st.indexed, st.indexHits)
	if st.skipped*5 > st.checks {
		t.Errorf("too many unstratified cases skipped: %d of %d", st.skipped, st.checks+st.skipped)
	}
}

// byteSource is a rand.Source reading fuzz bytes, then a generator seeded
// by their length when they run out (never a constant, on which rand's
// rejection sampling could loop).
type byteSource struct {
	b    []byte
	rest *rand.PCG
}

func (s *byteSource) Uint64() uint64 {
	if len(s.b) < 8 {
		if s.rest == nil {
			s.rest = rand.NewPCG(uint64(len(s.b)), 7)
		}
		return s.rest.Uint64()
	}
	v := binary.LittleEndian.Uint64(s.b)
	s.b = s.b[8:]
	return v
}

func FuzzCheckAgainstReference(f *testing.F) {
	for _, seed := range []string{"", "\x01\x02\x03", "reach", strings.Repeat("\xff\x00\x7f", 40)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st refStats
		compareWithReference(t, genCase(rand.New(&byteSource{b: data}), 6), &st)
	})
}
