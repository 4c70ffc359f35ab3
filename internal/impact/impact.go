// Package impact answers "what would this schema change do to who may do
// what?": given the data in a store and two schemas, the old one and the
// new one, it lists every (resource, permission, subject) whose answer
// differs, with its answer before and after. It is what `reach schema diff
// --impact`, `reach schema write --dry-run` and the playground's flipping
// matrix cells show.
//
// It sits on top of the engine: two engines read the same snapshot of the
// store, each through its own schema (the store's own schema is ignored),
// and the answers are compared. To stay fast on large stores it walks only
// what the change touches:
//
//  1. schema.Diff gives the structural changes; the relations and
//     permissions whose rules changed (an expression, the allowed types of
//     a relation, a member or a definition added or removed, a caveat a
//     relation uses) are the touched rules.
//  2. Every resource of a touched rule's type (every object the data names
//     as a resource of that type) is evaluated: LookupSubjects before and
//     after, for each subject type that can reach the rule.
//  3. A rule that depends on a touched one (through a computed userset, an
//     arrow or a subject set; in either schema) is evaluated only on the
//     resources where what it depends on flipped: the same object, the
//     objects whose arrow relation points at the flipped one, or those
//     holding it as a subject set (found through the store's reverse
//     index). Its own flips feed its dependents in turn.
//
// Every evaluation answers a resource completely (all its subjects), so the
// cells reported are exact; the narrowing in step 3 only skips resources
// whose dependencies did not change. A subject the data never names is
// covered by a wildcard cell (type:*): the answer of "any other subject of
// that type".
package impact

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Store is what Analyze reads: snapshots (the engine's walks) and
// relationships by filter (the resources of a type).
// datastore.Datastore satisfies it.
type Store interface {
	engine.Store
	ForEach(ctx context.Context, rev tuples.Revision, f tuples.Filter, fn func(tuples.Relationship) (bool, error)) (tuples.Revision, error)
}

// defaultCacheSize is the check cache of each engine: the sub-problems the
// resources share (a department's admins) are few; a smaller cache keeps
// the memory of a large analysis down.
const defaultCacheSize = 1 << 16

// Options tune Analyze. The zero value gives the defaults.
type Options struct {
	// Workers is how many resources are evaluated at once (default
	// GOMAXPROCS).
	Workers int
	// Engine configures the two engines (their check caches are separate;
	// 65,536 entries each by default).
	Engine engine.Options
}

// Rule names a relation or permission of a type.
type Rule struct{ Type, Name string }

func (r Rule) String() string { return r.Type + "#" + r.Name }

// Cell is one answer that changes: Subject reaches Permission on Resource
// with Before under the old schema and After under the new one.
type Cell struct {
	Resource   engine.Object
	Permission string
	// Subject is a plain subject (type:id), or the wildcard type:* standing
	// for every subject of the type not listed in Except.
	Subject engine.Subject
	Before  engine.Permissionship
	After   engine.Permissionship
	// Except lists, for a wildcard cell, the ids of the type whose answers
	// on this resource and permission are not the wildcard's (they have
	// cells of their own when they change), sorted.
	Except []string
}

// Report is the result of Analyze.
type Report struct {
	Revision tuples.Revision
	// Changes are the structural changes (schema.Diff).
	Changes []schema.Change
	// Touched are the rules whose definition changed; Dependents those
	// that depend on a touched rule (transitively) and so may change too.
	// Both sorted.
	Touched    []Rule
	Dependents []Rule
	// Cells are the answers that change, sorted by resource type,
	// permission, resource id, subject type, then subject id (a wildcard
	// first).
	Cells []Cell
	Stats Stats
}

// Stats say how much work the analysis did.
type Stats struct {
	// Evaluated is the number of (rule, resource) pairs evaluated, each
	// with a LookupSubjects per subject type under each schema.
	Evaluated int
	// Lookups is the number of LookupSubjects calls.
	Lookups int
	// Resources is the number of resources listed for the touched rules'
	// types.
	Resources int
	Duration  time.Duration
}

// Analyze compares, on the data of store at rev (0: the head), the answers
// of the old and the new schema, and returns the changes and the cells that
// flip. Either schema may be nil (the empty schema).
func Analyze(ctx context.Context, store Store, rev tuples.Revision, old, cur *schema.Program, opts Options) (*Report, error) {
	start := time.Now()
	if rev == 0 {
		var err error
		if rev, err = store.HeadRevision(ctx); err != nil {
			return nil, fmt.Errorf("reading the head revision: %w", err)
		}
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Engine.CacheSize == 0 {
		opts.Engine.CacheSize = defaultCacheSize
	}
	a := &analysis{
		ctx: ctx, store: store, rev: rev, opts: opts,
		progs:     [2]*schema.Program{old, cur},
		resources: map[string][]string{},
		done:      map[Rule]map[string]bool{},
		pending:   map[Rule]map[string]bool{},
		plans:     map[Rule]plan{},
		memo:      map[lookupKey][]engine.FoundSubject{},
	}
	// The engines read one revision under schemas that may never be
	// written: no group index, which follows the store's own schema and
	// changes (and would outlive the analysis in the background).
	opts.Engine.DisableGroupIndex = true
	for i, p := range a.progs {
		if p != nil {
			a.engines[i] = engine.New(withSchema{store, p}, opts.Engine)
			defer a.engines[i].Close()
		}
	}
	rep := &Report{Revision: rev, Changes: schema.Diff(old, cur)}
	touched := touchedRules(old, cur, rep.Changes)
	a.buildGraph()
	order := a.order()
	deps := closure(touched, a.edges)
	a.affected = deps
	for r := range deps {
		a.plans[r] = a.planFor(r)
	}
	for r := range touched {
		rep.Touched = append(rep.Touched, r)
	}
	for r := range deps {
		if !touched[r] {
			rep.Dependents = append(rep.Dependents, r)
		}
	}
	sortRules(rep.Touched)
	sortRules(rep.Dependents)

	for r := range touched {
		ids, err := a.resourcesOf(r.Type)
		if err != nil {
			return nil, err
		}
		a.addPending(r, ids)
	}
	rep.Stats.Resources = 0
	for _, ids := range a.resources {
		rep.Stats.Resources += len(ids)
	}
	// Rules in dependency order (a strongly connected group of rules, such
	// as a relation holding its own subject sets, is repeated until it has
	// nothing left to do).
	for _, group := range order {
		for {
			progress := false
			for _, r := range group {
				ids := a.takePending(r)
				if len(ids) == 0 {
					continue
				}
				progress = true
				if err := a.evaluate(r, ids); err != nil {
					return nil, err
				}
			}
			if !progress {
				break
			}
		}
	}
	rep.Cells = a.cells
	sortCells(rep.Cells)
	rep.Stats.Evaluated = a.evaluated
	rep.Stats.Lookups = a.lookups
	rep.Stats.Duration = time.Since(start)
	return rep, nil
}

// analysis is the state of one Analyze call.
type analysis struct {
	ctx     context.Context
	store   Store
	rev     tuples.Revision
	opts    Options
	progs   [2]*schema.Program // old, new
	engines [2]*engine.Engine

	edges     map[Rule][]edge     // dependency -> its dependents
	subjTypes map[Rule][]string   // the plain subject types that can reach a rule
	resources map[string][]string // type -> ids of its resources in the data

	affected map[Rule]bool // touched rules and their dependents
	plans    map[Rule]plan

	memoMu sync.Mutex
	memo   map[lookupKey][]engine.FoundSubject

	mu        sync.Mutex
	done      map[Rule]map[string]bool
	pending   map[Rule]map[string]bool
	cells     []Cell
	evaluated int
	lookups   int
}

// edge says how a dependent rule reaches the rule it depends on, and so
// which of its resources to evaluate when that rule flips on resource y.
type edge struct {
	to Rule
	// via is "" when the dependent is on the same object (a computed
	// userset, or the tupleset relation of an arrow); otherwise the
	// relation of to.Type whose relationships point at y (an arrow's
	// tupleset relation, or a relation holding y#subjRels as a subject
	// set).
	via      string
	subjRels []string
}

// withSchema is a store read through another schema than its own.
type withSchema struct {
	engine.Store
	prog *schema.Program
}

func (w withSchema) Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error) {
	s, err := w.Store.Snapshot(ctx, rev)
	if err != nil {
		return nil, err
	}
	return schemaSnapshot{s, w.prog}, nil
}

type schemaSnapshot struct {
	tuples.Snapshot
	prog *schema.Program
}

func (s schemaSnapshot) Schema() *schema.Program { return s.prog }

// touchedRules are the rules whose definition differs between the schemas.
func touchedRules(old, cur *schema.Program, changes []schema.Change) map[Rule]bool {
	out := map[Rule]bool{}
	allOf := func(p *schema.Program, def string) {
		if p == nil {
			return
		}
		if d := p.Definition(def); d != nil {
			for _, r := range d.Relations {
				out[Rule{def, r.Name}] = true
			}
		}
	}
	caveats := map[string]bool{}
	for _, c := range changes {
		switch c.Kind {
		case schema.DefinitionAdded, schema.DefinitionRemoved:
			allOf(old, c.Definition)
			allOf(cur, c.Definition)
		case schema.RelationAdded, schema.RelationRemoved, schema.RelationSubjectTypeAdded, schema.RelationSubjectTypeRemoved,
			schema.PermissionAdded, schema.PermissionRemoved, schema.PermissionExprChanged:
			out[Rule{c.Definition, c.Member}] = true
		case schema.CaveatAdded, schema.CaveatRemoved, schema.CaveatExprChanged,
			schema.CaveatParameterAdded, schema.CaveatParameterRemoved, schema.CaveatParameterTypeChanged:
			caveats[c.Caveat] = true
		}
	}
	if len(caveats) > 0 {
		for _, p := range []*schema.Program{old, cur} {
			if p == nil {
				continue
			}
			for _, d := range p.Definitions() {
				for _, r := range d.Relations {
					for _, a := range r.Allowed {
						if caveats[a.Caveat] {
							out[Rule{d.Name, r.Name}] = true
						}
					}
				}
			}
		}
	}
	return out
}

// buildGraph records, from both schemas, which rules depend on which, and
// the subject types that can reach each rule.
func (a *analysis) buildGraph() {
	a.edges = map[Rule][]edge{}
	seen := map[string]bool{}
	add := func(from Rule, e edge) {
		k := from.String() + ">" + e.to.String() + ">" + e.via + ">" + strings.Join(e.subjRels, ",")
		if !seen[k] {
			seen[k] = true
			a.edges[from] = append(a.edges[from], e)
		}
	}
	for _, p := range a.progs {
		if p == nil {
			continue
		}
		for _, d := range p.Definitions() {
			for _, r := range d.Relations {
				to := Rule{d.Name, r.Name}
				if r.Kind == schema.KindRelation {
					for _, at := range r.Allowed {
						if at.Relation != "" {
							add(Rule{at.Type, at.Relation}, edge{to: to, via: r.Name, subjRels: []string{at.Relation}})
						}
					}
					continue
				}
				walkRewrite(r.Rewrite, func(rw *schema.Rewrite) {
					switch rw.Op {
					case schema.OpComputed:
						add(Rule{d.Name, rw.Relation}, edge{to: to})
					case schema.OpArrow, schema.OpArrowAll:
						add(Rule{d.Name, rw.Relation}, edge{to: to})
						// Every type that has the target, in either schema:
						// the data may hold a type the tupleset allows in
						// one schema only.
						for _, q := range a.progs {
							if q == nil {
								continue
							}
							for _, td := range q.Definitions() {
								if td.Relation(rw.Target) != nil {
									add(Rule{td.Name, rw.Target}, edge{to: to, via: rw.Relation, subjRels: a.arrowSubjRels(d.Name, rw.Relation, td.Name)})
								}
							}
						}
					}
				})
			}
		}
	}
	a.subjTypes = map[Rule][]string{}
	for _, p := range a.progs {
		if p == nil {
			continue
		}
		for _, d := range p.Definitions() {
			for _, r := range d.Relations {
				k := Rule{d.Name, r.Name}
				for _, t := range subjectTypes(p, d.Name, r.Name) {
					if !slices.Contains(a.subjTypes[k], t) {
						a.subjTypes[k] = append(a.subjTypes[k], t)
					}
				}
			}
		}
	}
}

// arrowSubjRels are the subject relations with which a relationship of
// typ#tupleset may name an object of subjType: none (a plain object), and
// any the relation allows in either schema.
func (a *analysis) arrowSubjRels(typ, tupleset, subjType string) []string {
	rels := []string{""}
	for _, p := range a.progs {
		if p == nil {
			continue
		}
		if r := p.Lookup(typ, tupleset); r != nil {
			for _, at := range r.Allowed {
				if at.Type == subjType && at.Relation != "" && !slices.Contains(rels, at.Relation) {
					rels = append(rels, at.Relation)
				}
			}
		}
	}
	return rels
}

func walkRewrite(rw *schema.Rewrite, fn func(*schema.Rewrite)) {
	if rw == nil {
		return
	}
	fn(rw)
	for _, c := range rw.Children {
		walkRewrite(c, fn)
	}
}

// subjectTypes returns the object types whose plain objects (no subject
// relation) can reach typ#rel in p: the allowed types of relations,
// followed through subject sets, computed usersets and arrows.
func subjectTypes(p *schema.Program, typ, rel string) []string {
	var out []string
	visited := map[Rule]bool{}
	var visit func(typ, rel string)
	visit = func(typ, rel string) {
		if visited[Rule{typ, rel}] {
			return
		}
		visited[Rule{typ, rel}] = true
		r := p.Lookup(typ, rel)
		if r == nil {
			return
		}
		if r.Kind == schema.KindRelation {
			for _, at := range r.Allowed {
				if at.Relation != "" {
					visit(at.Type, at.Relation)
				} else if !slices.Contains(out, at.Type) {
					out = append(out, at.Type)
				}
			}
			return
		}
		walkRewrite(r.Rewrite, func(rw *schema.Rewrite) {
			switch rw.Op {
			case schema.OpComputed:
				visit(typ, rw.Relation)
			case schema.OpArrow, schema.OpArrowAll:
				if ts := p.Lookup(typ, rw.Relation); ts != nil {
					for _, at := range ts.Allowed {
						visit(at.Type, rw.Target)
					}
				}
			}
		})
	}
	visit(typ, rel)
	return out
}

// closure is every rule reachable from the touched ones through edges.
func closure(touched map[Rule]bool, edges map[Rule][]edge) map[Rule]bool {
	out := map[Rule]bool{}
	var stack []Rule
	for r := range touched {
		out[r] = true
		stack = append(stack, r)
	}
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, e := range edges[r] {
			if !out[e.to] {
				out[e.to] = true
				stack = append(stack, e.to)
			}
		}
	}
	return out
}

// order returns every rule in dependency order, grouped into strongly
// connected components (Tarjan's algorithm gives them dependents first;
// they are reversed).
func (a *analysis) order() [][]Rule {
	var rules []Rule
	seen := map[Rule]bool{}
	addRule := func(r Rule) {
		if !seen[r] {
			seen[r] = true
			rules = append(rules, r)
		}
	}
	for _, p := range a.progs {
		if p == nil {
			continue
		}
		for _, d := range p.Definitions() {
			for _, r := range d.Relations {
				addRule(Rule{d.Name, r.Name})
			}
		}
	}
	for from, es := range a.edges {
		addRule(from)
		for _, e := range es {
			addRule(e.to)
		}
	}
	sortRules(rules)
	index := map[Rule]int{}
	low := map[Rule]int{}
	onStack := map[Rule]bool{}
	var stack []Rule
	var groups [][]Rule
	var strong func(v Rule)
	strong = func(v Rule) {
		index[v] = len(index)
		low[v] = index[v]
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range a.edges[v] {
			w := e.to
			if _, ok := index[w]; !ok {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var g []Rule
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				g = append(g, w)
				if w == v {
					break
				}
			}
			groups = append(groups, g)
		}
	}
	for _, r := range rules {
		if _, ok := index[r]; !ok {
			strong(r)
		}
	}
	slices.Reverse(groups)
	return groups
}

// resourcesOf lists the ids of the resources of typ in the data: every id
// some relationship names as its resource (an object with no relationship
// of its own reaches nothing).
func (a *analysis) resourcesOf(typ string) ([]string, error) {
	if ids, ok := a.resources[typ]; ok {
		return ids, nil
	}
	seen := map[string]bool{}
	if _, err := a.store.ForEach(a.ctx, a.rev, tuples.Filter{ResourceType: typ}, func(r tuples.Relationship) (bool, error) {
		seen[r.ResourceID] = true
		return true, nil
	}); err != nil {
		return nil, fmt.Errorf("listing the %s resources: %w", typ, err)
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	a.resources[typ] = ids
	return ids, nil
}

func (a *analysis) addPending(r Rule, ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if a.done[r][id] {
			continue
		}
		if a.pending[r] == nil {
			a.pending[r] = map[string]bool{}
		}
		a.pending[r][id] = true
	}
}

func (a *analysis) takePending(r Rule) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pending[r]
	delete(a.pending, r)
	if a.done[r] == nil {
		a.done[r] = map[string]bool{}
	}
	ids := make([]string, 0, len(p))
	for id := range p {
		if !a.done[r][id] {
			a.done[r][id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// evaluate answers rule r on each resource id under both schemas, records
// the cells that flip, and queues the dependents' resources to evaluate.
func (a *analysis) evaluate(r Rule, ids []string) error {
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	work := make(chan []string)
	var wg sync.WaitGroup
	var firstErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	for w := 0; w < a.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for chunk := range work {
				cells, lookups, err := a.compare(ctx, r, chunk)
				if err != nil {
					fail(err)
					continue
				}
				a.mu.Lock()
				a.evaluated += len(chunk)
				a.lookups += lookups
				a.cells = append(a.cells, cells...)
				a.mu.Unlock()
				if len(cells) > 0 {
					if err := a.propagate(ctx, r, cells); err != nil {
						fail(err)
					}
				}
			}
		}()
	}
	for len(ids) > 0 && ctx.Err() == nil {
		n := min(len(ids), chunkSize)
		work <- ids[:n]
		ids = ids[n:]
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return a.ctx.Err()
}

// chunkSize is how many resources a worker evaluates at once: one
// snapshot, and one bulk check per schema, for all of them.
const chunkSize = 256

// propagate queues, for each rule depending on r, the resources to
// evaluate because r flipped on the resources of cells.
func (a *analysis) propagate(ctx context.Context, r Rule, cells []Cell) error {
	snap, err := a.store.Snapshot(ctx, a.rev)
	if err != nil {
		return err
	}
	defer snap.Close()
	var flipped []string
	for i, c := range cells {
		if i == 0 || c.Resource.ID != cells[i-1].Resource.ID {
			flipped = append(flipped, c.Resource.ID)
		}
	}
	for _, e := range a.edges[r] {
		if e.via == "" {
			a.addPending(e.to, flipped)
			continue
		}
		var ids []string
		for _, id := range flipped {
			for _, sr := range e.subjRels {
				if err := snap.Resources(r.Type, id, sr, e.to.Type, e.via, func(rel tuples.Relationship) bool {
					ids = append(ids, rel.ResourceID)
					return true
				}); err != nil {
					return fmt.Errorf("finding what points at %s:%s: %w", r.Type, id, err)
				}
			}
		}
		a.addPending(e.to, ids)
	}
	return nil
}

// answers is what LookupSubjects says of one subject type on one resource.
type answers struct {
	ids      map[string]engine.Permissionship // found (allowed or conditional)
	excluded map[string]bool                  // excluded from the wildcard
	wildcard engine.Permissionship            // Denied when there is none
}

func (s answers) of(id string) engine.Permissionship {
	if p, ok := s.ids[id]; ok {
		return p
	}
	if s.wildcard != engine.Denied && !s.excluded[id] {
		return s.wildcard
	}
	return engine.Denied
}

// compare answers rule r on resources ids under both schemas and returns
// the cells that differ (sorted).
func (a *analysis) compare(ctx context.Context, r Rule, ids []string) ([]Cell, int, error) {
	var cells []Cell
	lookups := 0
	pl := a.plans[r]
	for _, st := range a.subjTypes[r] {
		full := ids
		if !pl.full {
			cs, n, rest, err := a.compareByCandidates(ctx, r, pl, ids, st)
			lookups += n
			if err != nil {
				return nil, lookups, err
			}
			cells = append(cells, cs...)
			full = rest
		}
		for _, id := range full {
			cs, n, err := a.compareFull(ctx, r, id, st)
			lookups += n
			if err != nil {
				return nil, lookups, err
			}
			cells = append(cells, cs...)
		}
	}
	sortCells(cells)
	return cells, lookups, nil
}

// compareFull answers rule r on resource id for subjects of type st in full
// (LookupSubjects) under both schemas and returns the cells that differ.
func (a *analysis) compareFull(ctx context.Context, r Rule, id, st string) ([]Cell, int, error) {
	res := engine.Object{Type: r.Type, ID: id}
	var cells []Cell
	lookups := 0
	var sides [2]answers
	for i, p := range a.progs {
		sides[i] = answers{ids: map[string]engine.Permissionship{}, excluded: map[string]bool{}}
		if p == nil || p.Lookup(r.Type, r.Name) == nil || p.Definition(st) == nil {
			continue
		}
		found, _, err := a.engines[i].LookupSubjects(ctx, engine.LookupSubjectsRequest{
			Resource: res, Permission: r.Name, SubjectType: st,
			Consistency: engine.Consistency{Mode: engine.AtExactSnapshot, Token: a.rev.Token()},
		})
		lookups++
		if err != nil {
			return nil, lookups, fmt.Errorf("%s#%s for %s subjects (%s schema): %w", res, r.Name, st, [2]string{"old", "new"}[i], err)
		}
		for _, f := range found {
			if f.ID == "*" {
				sides[i].wildcard = f.Permissionship
				for _, x := range f.Excluded {
					sides[i].excluded[x] = true
				}
				continue
			}
			sides[i].ids[f.ID] = f.Permissionship
		}
	}
	known := map[string]bool{}
	for _, s := range sides {
		for x := range s.ids {
			known[x] = true
		}
		for x := range s.excluded {
			known[x] = true
		}
	}
	ids := make([]string, 0, len(known))
	for x := range known {
		ids = append(ids, x)
	}
	sort.Strings(ids)
	if sides[0].wildcard != sides[1].wildcard {
		cells = append(cells, Cell{Resource: res, Permission: r.Name, Subject: engine.Subject{Type: st, ID: "*"},
			Before: sides[0].wildcard, After: sides[1].wildcard, Except: ids})
	}
	for _, x := range ids {
		if b, af := sides[0].of(x), sides[1].of(x); b != af {
			cells = append(cells, Cell{Resource: res, Permission: r.Name, Subject: engine.Subject{Type: st, ID: x}, Before: b, After: af})
		}
	}
	return cells, lookups, nil
}

// Flipped reports whether the answer for subject (type:id) on resource and
// permission changes, with the answers before and after.
func (rep *Report) Flipped(resource engine.Object, permission string, subject engine.Subject) (before, after engine.Permissionship, ok bool) {
	i := sort.Search(len(rep.Cells), func(i int) bool { return !cellLess(rep.Cells[i], resource, permission) })
	for ; i < len(rep.Cells); i++ {
		c := rep.Cells[i]
		if c.Resource != resource || c.Permission != permission {
			break
		}
		if c.Subject.Type != subject.Type || subject.Relation != "" {
			continue
		}
		if c.Subject.ID == subject.ID {
			return c.Before, c.After, true
		}
		if c.Subject.ID == "*" && !slices.Contains(c.Except, subject.ID) {
			before, after, ok = c.Before, c.After, true // unless a cell of its own follows
		}
	}
	return before, after, ok
}

// cellLess orders a cell before (resource, permission) in the Cells order.
func cellLess(c Cell, resource engine.Object, permission string) bool {
	if c.Resource.Type != resource.Type {
		return c.Resource.Type < resource.Type
	}
	if c.Permission != permission {
		return c.Permission < permission
	}
	return c.Resource.ID < resource.ID
}

func sortCells(cells []Cell) {
	sort.Slice(cells, func(i, j int) bool {
		a, b := cells[i], cells[j]
		switch {
		case a.Resource.Type != b.Resource.Type:
			return a.Resource.Type < b.Resource.Type
		case a.Permission != b.Permission:
			return a.Permission < b.Permission
		case a.Resource.ID != b.Resource.ID:
			return a.Resource.ID < b.Resource.ID
		case a.Subject.Type != b.Subject.Type:
			return a.Subject.Type < b.Subject.Type
		case (a.Subject.ID == "*") != (b.Subject.ID == "*"):
			return a.Subject.ID == "*"
		}
		return a.Subject.ID < b.Subject.ID
	})
}

func sortRules(rs []Rule) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Type != rs[j].Type {
			return rs[i].Type < rs[j].Type
		}
		return rs[i].Name < rs[j].Name
	})
}
