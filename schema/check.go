package schema

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// checker resolves names and checks a parsed schema, collecting every
// error and warning it finds.
type checker struct {
	f       *File
	diags   []Diagnostic
	defs    map[string]*DefinitionDecl
	caveats map[string]*CaveatDecl
	members map[string]map[string]Member // definition -> member name -> member
	usesExp bool
	stop    *stopper // says when to give up (the context is done)

	wild          *wildcardFinder     // memoised wildcardVia answers
	sortedMembers map[string][]string // memoised memberNames
	sortedDefs    []string            // memoised defNames
	hintBudget    int                 // work left for "did you mean" hints (see hint)
}

func newChecker(f *File, stop *stopper) *checker {
	return &checker{
		f:       f,
		stop:    stop,
		defs:    map[string]*DefinitionDecl{},
		caveats: map[string]*CaveatDecl{},
		members: map[string]map[string]Member{},

		hintBudget: hintBudget,
	}
}

func (c *checker) errorf(pos Position, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{Pos: pos, Severity: Error, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(pos Position, format string, args ...any) {
	c.diags = append(c.diags, Diagnostic{Pos: pos, Severity: Warning, Msg: fmt.Sprintf(format, args...)})
}

// nameRE is SpiceDB's rule for a relation, a permission and each path
// segment of a definition's name (core.proto, checked by protovalidate in
// SpiceDB's schema translator). Caveats have no such rule.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}[a-z0-9]$`)

const nameRule = "names are 3 to 64 characters of a-z, 0-9 and _, start with a letter and do not end with _"

// checkName reports a name that breaks SpiceDB's naming rule.
func (c *checker) checkName(kind, name string, pos Position) {
	segs := strings.Split(name, "/")
	for _, s := range segs {
		if !nameRE.MatchString(s) {
			if len(segs) > 1 {
				c.errorf(pos, "invalid %s name %q: segment %q breaks the rule: %s", kind, name, s, nameRule)
			} else {
				c.errorf(pos, "invalid %s name %q: %s", kind, name, nameRule)
			}
			return
		}
	}
	if len(name) > 128 {
		c.errorf(pos, "invalid %s name %q: a prefixed name may be at most 128 characters", kind, name)
	}
}

// checkReferenceName applies the stricter rule SpiceDB has for a type named
// as an allowed subject type (core.AllowedRelation.namespace): each prefix
// segment is at most 63 characters, one fewer than in a definition's name.
func (c *checker) checkReferenceName(t *TypeExpr) {
	segs := strings.Split(t.Type, "/")
	for _, s := range segs[:len(segs)-1] {
		if len(s) > 63 {
			c.errorf(t.Pos, "subject type %q cannot be referenced: each prefix segment of a subject type is at most 63 characters, and %q has %d", t.Type, s, len(s))
			return
		}
	}
}

func (c *checker) check() {
	for _, u := range c.f.Uses {
		if u.Name == "expiration" {
			c.usesExp = true
		}
	}
	// Declarations: names and duplicates.
	for _, d := range c.f.Decls {
		if c.stop.stopped() {
			return
		}
		switch d := d.(type) {
		case *DefinitionDecl:
			c.checkName("definition", d.Name, d.NamePos)
			if prev, ok := c.declared(d.Name); ok {
				c.errorf(d.NamePos, "the name %q is already used by the %s at %d:%d", d.Name, declKind(prev), prev.DeclPos().Line, prev.DeclPos().Column)
				continue
			}
			c.defs[d.Name] = d
			ms := map[string]Member{}
			for _, m := range d.Members {
				if c.stop.stopped() {
					return
				}
				kind := "relation"
				if _, ok := m.(*PermissionDecl); ok {
					kind = "permission"
				}
				c.checkName(kind, m.MemberName(), m.MemberPos())
				if prev, ok := ms[m.MemberName()]; ok {
					c.errorf(m.MemberPos(), "duplicate relation or permission %q in definition %s (first defined at %d:%d)",
						m.MemberName(), d.Name, prev.MemberPos().Line, prev.MemberPos().Column)
					continue
				}
				ms[m.MemberName()] = m
			}
			c.members[d.Name] = ms
		case *CaveatDecl:
			// No naming rule for a caveat: SpiceDB checks the names of
			// definitions, relations and permissions (protovalidate in its
			// translator), never a caveat's nor its parameters'.
			if prev, ok := c.declared(d.Name); ok {
				c.errorf(d.NamePos, "the name %q is already used by the %s at %d:%d", d.Name, declKind(prev), prev.DeclPos().Line, prev.DeclPos().Column)
				continue
			}
			c.caveats[d.Name] = d
		}
	}
	for _, d := range c.f.Decls {
		if c.stop.stopped() {
			return
		}
		switch d := d.(type) {
		case *CaveatDecl:
			c.checkCaveat(d)
		case *DefinitionDecl:
			if c.defs[d.Name] != d {
				continue
			}
			for _, m := range d.Members {
				if c.stop.stopped() {
					return
				}
				if c.members[d.Name][m.MemberName()] != m {
					continue
				}
				c.lintMember(d, m)
				switch m := m.(type) {
				case *RelationDecl:
					c.checkRelation(d, m)
				case *PermissionDecl:
					c.checkPermission(d, m)
				}
			}
		}
	}
	c.checkCycles()
}

// broken reports whether member name of definition def was written but
// could not be parsed (a syntax error has been reported for it).
func (c *checker) broken(def, name string) bool { return c.f.broken[def][name] }

// declared returns the definition or caveat already named name.
func (c *checker) declared(name string) (Decl, bool) {
	if d, ok := c.defs[name]; ok {
		return d, true
	}
	if cv, ok := c.caveats[name]; ok {
		return cv, true
	}
	return nil, false
}

func declKind(d Decl) string {
	if _, ok := d.(*CaveatDecl); ok {
		return "caveat"
	}
	return "definition"
}

// defNames returns the sorted names of the definitions, computed once. It
// is called only after every declaration has been read.
func (c *checker) defNames() []string {
	if c.sortedDefs == nil {
		c.sortedDefs = []string{}
		for n := range c.defs {
			c.sortedDefs = append(c.sortedDefs, n)
		}
		sort.Strings(c.sortedDefs)
	}
	return c.sortedDefs
}

// memberNames returns the sorted names of def's relations and permissions,
// computed once per definition (they are asked for once per unknown name).
// It is called only after every declaration has been read.
func (c *checker) memberNames(def string) []string {
	if names, ok := c.sortedMembers[def]; ok {
		return names
	}
	var names []string
	for n := range c.members[def] {
		names = append(names, n)
	}
	sort.Strings(names)
	if c.sortedMembers == nil {
		c.sortedMembers = map[string][]string{}
	}
	c.sortedMembers[def] = names
	return names
}

func (c *checker) caveatNames() []string {
	var names []string
	for n := range c.caveats {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// typeText renders an allowed type as written.
func typeText(t *TypeExpr) string {
	s := t.Type
	if t.Wildcard {
		s += ":*"
	} else if t.Relation != "" {
		s += "#" + t.Relation
	}
	return s
}

// checkRelation checks a relation's allowed types.
func (c *checker) checkRelation(d *DefinitionDecl, r *RelationDecl) {
	seen := map[string]*TypeExpr{}
	for _, t := range r.Types {
		key := typeText(t)
		if t.Caveat != "" {
			key += " with " + t.Caveat
		}
		if t.Expiration {
			key += " with expiration"
		}
		if prev, ok := seen[key]; ok {
			c.errorf(t.Pos, "relation %s lists the subject type %s twice (first at %d:%d)", r.Name, key, prev.Pos.Line, prev.Pos.Column)
		} else {
			seen[key] = t
		}
		target, ok := c.defs[t.Type]
		if ok {
			c.checkReferenceName(t)
		}
		if !ok {
			if _, isCaveat := c.caveats[t.Type]; isCaveat {
				c.errorf(t.Pos, "%q is a caveat, not a definition; write `T with %s` to use it", t.Type, t.Type)
			} else {
				c.errorf(t.Pos, "unknown definition %q%s", t.Type, c.hint(t.Type, c.defNames))
			}
		} else if t.Relation != "" {
			m, ok := c.members[target.Name][t.Relation]
			if !ok && !c.broken(target.Name, t.Relation) {
				c.errorf(t.RelPos, "definition %s has no relation or permission %q%s", t.Type, t.Relation, c.hint(t.Relation, func() []string { return c.memberNames(t.Type) }))
			} else if rel, isRel := m.(*RelationDecl); isRel && t.Type != d.Name {
				// SpiceDB checks this only for subject sets of another
				// definition (typesystem_validation.go).
				if w := c.wildcardVia(t.Type, rel); w != nil {
					c.errorf(t.Pos, "relation %s cannot allow %s: it includes the wildcard %s:* through %s, and wildcards cannot be included through a subject relation",
						r.Name, typeText(t), w.wildcard, w.via)
				}
			}
		}
		if t.Caveat != "" {
			if _, ok := c.caveats[t.Caveat]; !ok {
				if t.Caveat == "expiration" && !c.usesExp {
					c.errorf(t.CaveatPos, "'with expiration' requires 'use expiration' at the top of the schema")
				} else if _, isDef := c.defs[t.Caveat]; isDef {
					c.errorf(t.CaveatPos, "%q is a definition, not a caveat: only a caveat may follow 'with'", t.Caveat)
				} else {
					c.errorf(t.CaveatPos, "unknown caveat %q%s", t.Caveat, c.hint(t.Caveat, c.caveatNames))
				}
			}
		}
	}
}

// wildcardVia reports the wildcard type that relation rel of definition def
// allows, directly or through the subject relations it allows, or nil. The
// answer for every relation is computed once (wildcards.go), however many
// arrows and subject sets ask.
func (c *checker) wildcardVia(def string, rel *RelationDecl) *wildcardRef {
	if c.wild == nil {
		c.wild = newWildcardFinder(c)
	}
	return c.wild.find(def, rel)
}

// checkPermission checks a permission's expression.
func (c *checker) checkPermission(d *DefinitionDecl, pm *PermissionDecl) {
	var walk func(e Expr)
	walk = func(e Expr) {
		if c.stop.stopped() {
			return
		}
		switch e := e.(type) {
		case *Ident:
			if _, ok := c.members[d.Name][e.Name]; !ok && !c.broken(d.Name, e.Name) {
				c.errorf(e.Pos, "definition %s has no relation or permission %q%s", d.Name, e.Name, c.hint(e.Name, func() []string { return without(c.memberNames(d.Name), pm.Name) }))
			} else if e.Name == pm.Name && !isAlias(pm) {
				c.lintf(pm.Comments, e.Pos, "permission-references-itself",
					"permission %q references itself, which will cause an error to be raised due to infinite recursion", pm.Name)
			}
		case *BinaryExpr:
			walk(e.X)
			walk(e.Y)
		case *ArrowExpr:
			c.checkArrow(d, pm, e)
		}
	}
	walk(pm.Expr)
}

// arrowText renders an arrow as written.
func arrowText(e *ArrowExpr) string {
	var b strings.Builder
	writeArrow(&b, e)
	return b.String()
}

// writeArrow writes an arrow as written. A chain `a->b->c` nests to the
// left; it is walked in a loop, not by recursion, and written in one pass.
func writeArrow(b *strings.Builder, e *ArrowExpr) {
	var chain []*ArrowExpr
	var x Expr = e
	for {
		a, ok := x.(*ArrowExpr)
		if !ok {
			break
		}
		chain = append(chain, a)
		x = a.Left
	}
	if id, ok := x.(*Ident); ok {
		b.WriteString(id.Name)
	} else {
		b.WriteString("?")
	}
	for i := len(chain) - 1; i >= 0; i-- {
		a := chain[i]
		switch a.Func {
		case ArrowAnyFunc:
			b.WriteString(".any(" + a.Target + ")")
		case ArrowAllFunc:
			b.WriteString(".all(" + a.Target + ")")
		default:
			b.WriteString("->" + a.Target)
		}
	}
}

// checkArrow checks `rel->target`: rel must be a relation of d that
// includes no wildcard (SpiceDB: typesystem_validation.go); the target is
// not required to exist (SpiceDB only warns, below).
func (c *checker) checkArrow(d *DefinitionDecl, pm *PermissionDecl, e *ArrowExpr) {
	left, ok := e.Left.(*Ident)
	if !ok {
		c.errorf(e.Pos, "nested arrows are not supported: %s", arrowText(e))
		return
	}
	m, ok := c.members[d.Name][left.Name]
	if !ok {
		if c.broken(d.Name, left.Name) {
			return
		}
		c.errorf(left.Pos, "definition %s has no relation %q%s", d.Name, left.Name, c.hint(left.Name, func() []string { return c.memberNames(d.Name) }))
		return
	}
	rel, ok := m.(*RelationDecl)
	if !ok {
		c.errorf(left.Pos, "%s is a permission: the left side of an arrow (%s) must be a relation", left.Name, arrowText(e))
		return
	}
	if w := c.wildcardVia(d.Name, rel); w != nil {
		c.errorf(left.Pos, "arrow %s cannot walk relation %s: it includes the wildcard %s:* through %s, and wildcards cannot be used on the left side of an arrow",
			arrowText(e), left.Name, w.wildcard, w.via)
		return
	}
	c.lintArrow(d, pm, e, left, rel)
}

// checkCaveat checks parameter types, duplicate and unused parameters.
func (c *checker) checkCaveat(cv *CaveatDecl) {
	if len(cv.Params) == 0 {
		c.errorf(cv.NamePos, "caveat %s must have at least one parameter", cv.Name)
	}
	seen := map[string]bool{}
	for _, prm := range cv.Params {
		if seen[prm.Name] {
			c.errorf(prm.Pos, "duplicate parameter %q in caveat %s", prm.Name, cv.Name)
			continue
		}
		seen[prm.Name] = true
		c.checkParamType(prm.Type)
	}
	if cv.Expr == "" {
		return
	}
	refs := celReferences(cv.Expr)
	used := map[string]bool{}
	var names []string
	for _, prm := range cv.Params {
		names = append(names, prm.Name)
	}
	for _, r := range refs {
		if used[r.name] {
			continue // reported once
		}
		used[r.name] = true
		if !seen[r.name] {
			c.errorf(celPosition(cv.ExprPos, r.pos), "caveat %s refers to %q, which is not one of its parameters%s",
				cv.Name, r.name, c.hint(r.name, func() []string { return names }))
		}
	}
	for _, prm := range cv.Params {
		if !used[prm.Name] {
			c.errorf(prm.Pos, "parameter %q of caveat %s is never used", prm.Name, cv.Name)
		}
	}
}

// paramTypes are the caveat parameter types SpiceDB knows, with the number
// of type arguments each takes.
var paramTypes = map[string]int{
	"any": 0, "int": 0, "uint": 0, "bool": 0, "string": 0, "double": 0, "bytes": 0,
	"duration": 0, "timestamp": 0, "ipaddress": 0, "list": 1, "map": 1,
}

func (c *checker) checkParamType(t *TypeRef) {
	n, ok := paramTypes[t.Name]
	if !ok {
		var names []string
		for k := range paramTypes {
			names = append(names, k)
		}
		sort.Strings(names)
		c.errorf(t.Pos, "unknown parameter type %q%s", t.Name, suggest(t.Name, names))
		return
	}
	if len(t.Args) != n {
		if n == 0 {
			c.errorf(t.Pos, "type %s takes no type arguments", t.Name)
		} else {
			c.errorf(t.Pos, "type %s takes %d type argument, found %d", t.Name, n, len(t.Args))
		}
		return
	}
	for _, a := range t.Args {
		c.checkParamType(a)
	}
}

// checkCycles refuses permissions that are defined only as aliases of one
// another in a cycle (`permission a = b`, `permission b = a`), as SpiceDB
// does when it computes permission aliases (namespace/aliasing.go). Each
// cycle is reported once, at its member that comes first in the source.
//
// A permission aliases at most one other, so the aliases of a definition
// form a functional graph: each permission is walked once, and a walk that
// meets itself has found a cycle (following every permission to the end of
// its chain anew took time quadratic in the chain's length).
func (c *checker) checkCycles() {
	const (
		unseen = iota
		walking
		finished
	)
	for _, d := range c.f.Decls {
		def, ok := d.(*DefinitionDecl)
		if !ok || c.defs[def.Name] != def {
			continue
		}
		state := map[string]int{}
		for _, m := range def.Members {
			if c.stop.stopped() {
				return
			}
			pm, ok := m.(*PermissionDecl)
			if !ok || c.members[def.Name][pm.Name] != m || state[pm.Name] != unseen {
				continue
			}
			var walk []*PermissionDecl
			cur := pm
			for cur != nil && state[cur.Name] == unseen {
				state[cur.Name] = walking
				walk = append(walk, cur)
				cur = c.aliasOf(def, cur)
			}
			if cur != nil && state[cur.Name] == walking {
				i := len(walk) - 1
				for walk[i] != cur {
					i--
				}
				c.reportAliasCycle(def, walk[i:])
			}
			for _, w := range walk {
				state[w.Name] = finished
			}
		}
	}
}

// aliasOf returns the permission that pm is a pure alias of (`permission
// pm = other`), or nil.
func (c *checker) aliasOf(def *DefinitionDecl, pm *PermissionDecl) *PermissionDecl {
	id, ok := pm.Expr.(*Ident)
	if !ok {
		return nil
	}
	next, _ := c.members[def.Name][id.Name].(*PermissionDecl)
	return next
}

// reportAliasCycle reports the cycle of aliases cycle (each aliases the
// next, the last the first) at its member that comes first in the source.
func (c *checker) reportAliasCycle(def *DefinitionDecl, cycle []*PermissionDecl) {
	first := 0
	for i, pm := range cycle {
		if pm.NamePos.Offset < cycle[first].NamePos.Offset {
			first = i
		}
	}
	path := make([]string, 0, len(cycle)+1)
	for i := range cycle {
		path = append(path, cycle[(first+i)%len(cycle)].Name)
	}
	path = append(path, path[0])
	pm := cycle[first]
	if len(cycle) == 1 {
		c.errorf(pm.NamePos, "permission %s is defined as itself", pm.Name)
	} else {
		c.errorf(pm.NamePos, "permissions of %s alias each other in a cycle: %s", def.Name, strings.Join(path, " = "))
	}
}

// without returns names less drop.
func without(names []string, drop string) []string {
	out := names[:0:0]
	for _, n := range names {
		if n != drop {
			out = append(out, n)
		}
	}
	return out
}
