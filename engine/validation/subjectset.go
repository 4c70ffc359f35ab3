package validation

import (
	"sort"
	"strings"
)

// The subject sets of a recursive expansion, as zed validate computes them:
// a port of SpiceDB's internal/developmentmembership (TrackingSubjectSet,
// FoundSubject) and pkg/util's BaseSubjectSet, with one simplification: a
// caveat expression is kept only as "caveated or not", which is all a
// `validation` block can state (`[user:tom[...]]`). Caveat expressions
// combine as SpiceDB's helpers do: and(a, b) and or(a, b) are caveated when
// either is, the short-circuited or only when both are, not(a) when a is.
//
// The sets are grouped by subject type and relation (a wildcard `user:*`
// belongs with the plain `user` subjects); each group holds concrete
// subjects by id and at most one wildcard, whose exclusions are the
// subjects it does not cover. A found subject records the resources (the
// `type:id#relation` of the relations) in which it was found directly.

// setKey is a subject type and relation ("" for plain subjects).
type setKey struct{ typ, rel string }

// foundSubject is one subject of a set. It is never modified once built.
type foundSubject struct {
	key       setKey
	id        string
	caveated  bool
	excluded  []*foundSubject // wildcards only
	resources map[string]bool
}

// newFound builds a subject from sources, uniting their resources, as
// SpiceDB's constructor in TrackingSubjectSet.getSetForKey does.
func newFound(key setKey, id string, caveated bool, excluded []*foundSubject, sources ...*foundSubject) *foundSubject {
	fs := &foundSubject{key: key, id: id, caveated: caveated, excluded: excluded, resources: map[string]bool{}}
	for _, s := range sources {
		for r := range s.resources {
			fs.resources[r] = true
		}
	}
	return fs
}

func (fs *foundSubject) isWildcard() bool { return fs.id == "*" }

// subject is type:id or type:id#relation.
func (fs *foundSubject) subject() string {
	s := fs.key.typ + ":" + fs.id
	if fs.key.rel != "" {
		s += "#" + fs.key.rel
	}
	return s
}

// String prints the subject as a validation string does.
func (fs *foundSubject) String() string {
	s := fs.subject()
	if fs.caveated {
		s += "[...]"
	}
	if ex := fs.exclusionList(); len(ex) > 0 {
		s += " - {" + strings.Join(ex, ", ") + "}"
	}
	return s
}

func (fs *foundSubject) resourceList() []string {
	out := make([]string, 0, len(fs.resources))
	for r := range fs.resources {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// exclusionList is the sorted exclusions, a caveated one marked `[...]`.
func (fs *foundSubject) exclusionList() []string {
	out := make([]string, 0, len(fs.excluded))
	for _, e := range fs.excluded {
		s := e.subject()
		if e.caveated {
			s += "[...]"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func exclusionsMap(w *foundSubject) map[string]*foundSubject {
	m := make(map[string]*foundSubject, len(w.excluded))
	for _, e := range w.excluded {
		m[e.id] = e
	}
	return m
}

// baseSet is the subjects of one setKey (SpiceDB's BaseSubjectSet).
type baseSet struct {
	key      setKey
	concrete map[string]*foundSubject
	wildcard *foundSubject
}

func newBaseSet(key setKey) *baseSet {
	return &baseSet{key: key, concrete: map[string]*foundSubject{}}
}

func (b *baseSet) clone() *baseSet {
	c := &baseSet{key: b.key, concrete: make(map[string]*foundSubject, len(b.concrete)), wildcard: b.wildcard}
	for k, v := range b.concrete {
		c.concrete[k] = v
	}
	return c
}

// list returns the concrete subjects (by id) and then the wildcard.
func (b *baseSet) list() []*foundSubject {
	ids := make([]string, 0, len(b.concrete))
	for id := range b.concrete {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*foundSubject, 0, len(ids)+1)
	for _, id := range ids {
		out = append(out, b.concrete[id])
	}
	if b.wildcard != nil {
		out = append(out, b.wildcard)
	}
	return out
}

// add is a union with the single subject fs.
func (b *baseSet) add(fs *foundSubject) {
	if fs.isWildcard() {
		b.unionWildcard(fs)
		for _, c := range b.list() {
			if !c.isWildcard() {
				b.wildcardUnionConcrete(c)
			}
		}
		return
	}
	b.wildcardUnionConcrete(fs)
	b.concreteUnion(fs)
}

func (b *baseSet) concreteUnion(c *foundSubject) {
	cur, ok := b.concrete[c.id]
	if !ok {
		b.concrete[c.id] = c
		return
	}
	b.concrete[c.id] = newFound(b.key, c.id, cur.caveated && c.caveated, nil, c, cur)
}

// unionWildcard: {* - A} + {* - B} = {* - (A and B)}.
func (b *baseSet) unionWildcard(w *foundSubject) {
	cur := b.wildcard
	if cur == nil {
		b.wildcard = w
		return
	}
	theirs := exclusionsMap(w)
	var excluded []*foundSubject
	for _, e := range cur.excluded {
		if o, ok := theirs[e.id]; ok {
			excluded = append(excluded, newFound(b.key, e.id, e.caveated || o.caveated, nil, e, o))
		}
	}
	b.wildcard = newFound(b.key, "*", cur.caveated && w.caveated, excluded, cur, w)
}

// wildcardUnionConcrete: {* - {c}} + {c} = {*}.
func (b *baseSet) wildcardUnionConcrete(c *foundSubject) {
	w := b.wildcard
	if w == nil {
		return
	}
	var excluded []*foundSubject
	for _, e := range w.excluded {
		if e.id != c.id {
			excluded = append(excluded, e)
		} else if c.caveated {
			excluded = append(excluded, newFound(b.key, c.id, true, nil, e, c))
		}
	}
	b.wildcard = newFound(b.key, "*", w.caveated, excluded, w)
}

// subtract removes the single subject fs.
func (b *baseSet) subtract(fs *foundSubject) {
	if fs.isWildcard() {
		b.concreteSubtractWildcard(fs)
		for _, c := range b.wildcardSubtractWildcard(fs) {
			b.concreteUnion(c)
		}
		return
	}
	b.wildcardSubtractConcrete(fs)
	b.concreteSubtractConcrete(fs)
}

func (b *baseSet) subtractAll(o *baseSet) {
	if o.wildcard != nil {
		b.subtract(o.wildcard)
	}
	for _, c := range o.list() {
		if !c.isWildcard() {
			b.subtract(c)
		}
	}
}

// concreteSubtractWildcard: {a, b} - {* - {b}} = {b}.
func (b *baseSet) concreteSubtractWildcard(w *foundSubject) {
	exclusions := exclusionsMap(w)
	for id, cur := range b.concrete {
		e, excluded := exclusions[id]
		switch {
		case !excluded && !w.caveated:
			delete(b.concrete, id)
		case !excluded:
			b.concrete[id] = newFound(b.key, id, true, nil, cur)
		case e.caveated:
			b.concrete[id] = newFound(b.key, id, true, nil, cur)
		}
	}
}

// wildcardSubtractWildcard: {* - A} - {* - B} = the concrete subjects
// B minus A.
func (b *baseSet) wildcardSubtractWildcard(w *foundSubject) []*foundSubject {
	cur := b.wildcard
	if cur == nil {
		return nil
	}
	if !w.caveated && len(w.excluded) == 0 {
		b.wildcard = nil
		return nil
	}
	mine := exclusionsMap(cur)
	var out []*foundSubject
	for _, e := range w.excluded {
		m, ok := mine[e.id]
		if !ok || m.caveated {
			caveated := cur.caveated || w.caveated || e.caveated || ok
			out = append(out, newFound(b.key, e.id, caveated, nil, e))
		}
	}
	if cur.caveated || w.caveated {
		b.wildcard = newFound(b.key, "*", true, cur.excluded, cur, w)
	} else {
		b.wildcard = nil
	}
	return out
}

// wildcardSubtractConcrete: {*} - {c} = {* - {c}}.
func (b *baseSet) wildcardSubtractConcrete(c *foundSubject) {
	w := b.wildcard
	if w == nil {
		return
	}
	excluded := make([]*foundSubject, 0, len(w.excluded)+1)
	found := false
	for _, e := range w.excluded {
		if e.id == c.id {
			excluded = append(excluded, newFound(b.key, c.id, e.caveated && c.caveated, nil, e, c))
			found = true
		} else {
			excluded = append(excluded, e)
		}
	}
	if !found {
		excluded = append(excluded, c)
	}
	b.wildcard = newFound(b.key, "*", w.caveated, excluded, w)
}

func (b *baseSet) concreteSubtractConcrete(c *foundSubject) {
	cur, ok := b.concrete[c.id]
	if !ok {
		return
	}
	if !c.caveated {
		delete(b.concrete, c.id)
		return
	}
	b.concrete[c.id] = newFound(b.key, c.id, true, nil, c, cur)
}

// intersect keeps the subjects in both b and o; a wildcard on one side
// admits the concrete subjects of the other it does not exclude.
func (b *baseSet) intersect(o *baseSet) {
	ow := o.wildcard
	var owEx map[string]*foundSubject
	if ow != nil {
		owEx = exclusionsMap(ow)
	}
	for id, cur := range b.concrete {
		if oc, ok := o.concrete[id]; ok {
			b.concrete[id] = newFound(b.key, id, cur.caveated || oc.caveated, nil, cur, oc)
			continue
		}
		if ow == nil {
			delete(b.concrete, id)
			continue
		}
		if fs := b.concreteAndWildcard(cur, ow, owEx); fs != nil {
			b.concrete[id] = fs
		} else {
			delete(b.concrete, id)
		}
	}
	if cw := b.wildcard; cw != nil {
		cwEx := exclusionsMap(cw)
		for id, oc := range o.concrete {
			if _, ok := b.concrete[id]; ok {
				continue
			}
			if fs := b.concreteAndWildcard(oc, cw, cwEx); fs != nil {
				b.concrete[id] = fs
			}
		}
	}
	switch {
	case b.wildcard == nil:
	case ow == nil:
		b.wildcard = nil
	default: // {* - A} & {* - B} = {* - (A or B)}
		excl := newBaseSet(b.key)
		for _, e := range b.wildcard.excluded {
			excl.concreteUnion(e)
		}
		for _, e := range ow.excluded {
			excl.concreteUnion(e)
		}
		b.wildcard = newFound(b.key, "*", b.wildcard.caveated || ow.caveated, excl.list(), b.wildcard, ow)
	}
}

// concreteAndWildcard is c & w, nil when empty (intersectConcreteAndWildcard).
func (b *baseSet) concreteAndWildcard(c, w *foundSubject, wEx map[string]*foundSubject) *foundSubject {
	e, excluded := wEx[c.id]
	switch {
	case !excluded && !w.caveated:
		return c
	case excluded && !w.caveated:
		return nil
	case !excluded:
		return newFound(b.key, c.id, true, nil, c, w)
	case !e.caveated:
		return nil
	}
	return newFound(b.key, c.id, true, nil, c, w, e)
}

// subjectSet is the subjects found, grouped by setKey (SpiceDB's
// TrackingSubjectSet).
type subjectSet map[setKey]*baseSet

func (s subjectSet) group(k setKey) *baseSet {
	b, ok := s[k]
	if !ok {
		b = newBaseSet(k)
		s[k] = b
	}
	return b
}

func (s subjectSet) add(fs *foundSubject) { s.group(fs.key).add(fs) }

// addFrom is a union with o, in place.
func (s subjectSet) addFrom(o subjectSet) {
	for k, ob := range o {
		b := s.group(k)
		for _, fs := range ob.list() {
			b.add(fs)
		}
	}
}

// exclude returns s minus o.
func (s subjectSet) exclude(o subjectSet) subjectSet {
	out := subjectSet{}
	for k, b := range s {
		c := b.clone()
		if ob, ok := o[k]; ok {
			c.subtractAll(ob)
		}
		out[k] = c
	}
	return out
}

// intersect returns the subjects in both s and o.
func (s subjectSet) intersect(o subjectSet) subjectSet {
	out := subjectSet{}
	for k, b := range s {
		if ob, ok := o[k]; ok {
			c := b.clone()
			c.intersect(ob)
			out[k] = c
		}
	}
	return out
}

// markCaveated makes every subject conditional (a caveat on the relationship
// that led to the whole set).
func (s subjectSet) markCaveated() {
	for _, b := range s {
		for id, c := range b.concrete {
			b.concrete[id] = newFound(b.key, id, true, nil, c)
		}
		if w := b.wildcard; w != nil {
			b.wildcard = newFound(b.key, "*", true, w.excluded, w)
		}
	}
}

// lookup finds the subject `type:id`, `type:id#relation` or `type:*`.
func (s subjectSet) lookup(subject string) (*foundSubject, bool) {
	typ, rest, _ := strings.Cut(subject, ":")
	id, rel, _ := strings.Cut(rest, "#")
	b, ok := s[setKey{typ, rel}]
	if !ok {
		return nil, false
	}
	if id == "*" {
		return b.wildcard, b.wildcard != nil
	}
	fs, ok := b.concrete[id]
	return fs, ok
}

// list returns every subject, sorted by type, relation and id.
func (s subjectSet) list() []*foundSubject {
	keys := make([]setKey, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].typ != keys[j].typ {
			return keys[i].typ < keys[j].typ
		}
		return keys[i].rel < keys[j].rel
	})
	var out []*foundSubject
	for _, k := range keys {
		out = append(out, s[k].list()...)
	}
	return out
}
