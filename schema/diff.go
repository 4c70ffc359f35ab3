package schema

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// This file compares two compiled schemas structurally, as SpiceDB's
// pkg/diff does (and its DiffSchema API reports): definitions, caveats,
// relations, permissions and caveat parameters added or removed, doc
// comments changed, permission expressions changed (compared as rewrite
// trees, positions and layout left out), allowed subject types added or
// removed, caveat expressions and parameter types changed. It is the schema
// half of `reach schema diff` and of the server's DiffSchema.

// ChangeKind is the kind of one structural difference between two schemas.
// The kinds are SpiceDB's (the cases of authzed.api.v1.ReflectionSchemaDiff).
type ChangeKind uint8

const (
	DefinitionAdded ChangeKind = iota + 1
	DefinitionRemoved
	DefinitionDocCommentChanged
	RelationAdded
	RelationRemoved
	RelationDocCommentChanged
	RelationSubjectTypeAdded
	RelationSubjectTypeRemoved
	PermissionAdded
	PermissionRemoved
	PermissionDocCommentChanged
	PermissionExprChanged
	CaveatAdded
	CaveatRemoved
	CaveatDocCommentChanged
	CaveatExprChanged
	CaveatParameterAdded
	CaveatParameterRemoved
	CaveatParameterTypeChanged
)

var changeKindNames = [...]string{
	DefinitionAdded:             "definition_added",
	DefinitionRemoved:           "definition_removed",
	DefinitionDocCommentChanged: "definition_doc_comment_changed",
	RelationAdded:               "relation_added",
	RelationRemoved:             "relation_removed",
	RelationDocCommentChanged:   "relation_doc_comment_changed",
	RelationSubjectTypeAdded:    "relation_subject_type_added",
	RelationSubjectTypeRemoved:  "relation_subject_type_removed",
	PermissionAdded:             "permission_added",
	PermissionRemoved:           "permission_removed",
	PermissionDocCommentChanged: "permission_doc_comment_changed",
	PermissionExprChanged:       "permission_expr_changed",
	CaveatAdded:                 "caveat_added",
	CaveatRemoved:               "caveat_removed",
	CaveatDocCommentChanged:     "caveat_doc_comment_changed",
	CaveatExprChanged:           "caveat_expr_changed",
	CaveatParameterAdded:        "caveat_parameter_added",
	CaveatParameterRemoved:      "caveat_parameter_removed",
	CaveatParameterTypeChanged:  "caveat_parameter_type_changed",
}

// String is the kind's snake_case name, as in SpiceDB's API
// ("permission_expr_changed").
func (k ChangeKind) String() string {
	if int(k) < len(changeKindNames) && changeKindNames[k] != "" {
		return changeKindNames[k]
	}
	return fmt.Sprintf("ChangeKind(%d)", k)
}

// MarshalText prints the kind by name (for JSON).
func (k ChangeKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind by name.
func (k *ChangeKind) UnmarshalText(b []byte) error {
	for i, n := range changeKindNames {
		if n != "" && n == string(b) {
			*k = ChangeKind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown schema change kind %q", b)
}

// Change is one structural difference between two schemas.
type Change struct {
	Kind ChangeKind
	// Definition and Member name the definition and, for relation and
	// permission changes, the relation or permission.
	Definition string
	Member     string
	// Caveat and Parameter name the caveat and, for parameter changes, the
	// parameter.
	Caveat    string
	Parameter string
	// SubjectType is the allowed type added or removed
	// (RelationSubjectType*).
	SubjectType *AllowedType
	// Old and New are the text before and after: the expression of a
	// permission (PermissionExprChanged; New alone for PermissionAdded, Old
	// alone for PermissionRemoved), the allowed types of a relation
	// (RelationAdded, RelationRemoved), the allowed type
	// (RelationSubjectType*), the CEL expression of a caveat
	// (CaveatExprChanged), a parameter's type (CaveatParameter*), a doc
	// comment (*DocCommentChanged).
	Old, New string
}

// String describes the change on one line, for people:
// "permission document#view: expression changed: viewer + owner -> viewer".
func (c Change) String() string {
	dm := c.Definition + "#" + c.Member
	switch c.Kind {
	case DefinitionAdded:
		return "definition " + c.Definition + " added"
	case DefinitionRemoved:
		return "definition " + c.Definition + " removed"
	case DefinitionDocCommentChanged:
		return "definition " + c.Definition + ": doc comment changed"
	case RelationAdded:
		return "relation " + dm + " added: " + c.New
	case RelationRemoved:
		return "relation " + dm + " removed (was: " + c.Old + ")"
	case RelationDocCommentChanged:
		return "relation " + dm + ": doc comment changed"
	case RelationSubjectTypeAdded:
		return "relation " + dm + ": subject type " + c.New + " added"
	case RelationSubjectTypeRemoved:
		return "relation " + dm + ": subject type " + c.Old + " removed"
	case PermissionAdded:
		return "permission " + dm + " added: " + c.New
	case PermissionRemoved:
		return "permission " + dm + " removed (was: " + c.Old + ")"
	case PermissionDocCommentChanged:
		return "permission " + dm + ": doc comment changed"
	case PermissionExprChanged:
		return "permission " + dm + ": expression changed: " + c.Old + " -> " + c.New
	case CaveatAdded:
		return "caveat " + c.Caveat + " added"
	case CaveatRemoved:
		return "caveat " + c.Caveat + " removed"
	case CaveatDocCommentChanged:
		return "caveat " + c.Caveat + ": doc comment changed"
	case CaveatExprChanged:
		return "caveat " + c.Caveat + ": expression changed: " + oneLine(c.Old) + " -> " + oneLine(c.New)
	case CaveatParameterAdded:
		return "caveat " + c.Caveat + ": parameter " + c.Parameter + " " + c.New + " added"
	case CaveatParameterRemoved:
		return "caveat " + c.Caveat + ": parameter " + c.Parameter + " " + c.Old + " removed"
	case CaveatParameterTypeChanged:
		return "caveat " + c.Caveat + ": parameter " + c.Parameter + ": type changed: " + c.Old + " -> " + c.New
	}
	return c.Kind.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// DiffOptions tune DiffWith.
type DiffOptions struct {
	// Doc returns the doc comment to compare for a declaration of p, named
	// by key: "def" for a definition, "def#member" for a relation or
	// permission, "caveat:name" for a caveat. The server compares comments
	// as written (SpiceDB reports them raw, markers included). Nil compares
	// the Doc fields of the Program (the comments' text).
	Doc func(p *Program, key string) string
}

// Diff lists the structural changes from old to cur (either may be nil: the
// empty schema), with DiffWith's order.
func Diff(old, cur *Program) []Change { return DiffWith(old, cur, DiffOptions{}) }

// DiffWith lists the structural changes from old to cur (either may be
// nil: the empty schema). SpiceDB lists them in map order; the list here
// is deterministic: definitions added, removed; caveats added, removed
// (each by name); then per definition present in both (by name) its doc
// comment, relations removed, added, permissions removed, added, changed
// permissions (expression, then doc comment), changed relations (doc
// comment, subject types removed, added); then per caveat present in both
// (by name) its doc comment, parameters removed, added, retyped, and its
// expression. A relation that becomes a permission (or the reverse) is
// removed and added. Two expressions differ when their rewrite trees do
// (`a + b` and `(a + b)` are the same; `a + b` and `b + a` are not, as in
// SpiceDB); two caveat expressions when their text differs outside of
// runs of white space.
func DiffWith(old, cur *Program, opts DiffOptions) []Change {
	doc := opts.Doc
	if doc == nil {
		doc = programDoc
	}
	var out []Change
	add := func(c Change) { out = append(out, c) }
	oldDefs, curDefs := sortedDefs(old), sortedDefs(cur)
	for _, d := range curDefs {
		if definitionOf(old, d.Name) == nil {
			add(Change{Kind: DefinitionAdded, Definition: d.Name})
		}
	}
	for _, d := range oldDefs {
		if definitionOf(cur, d.Name) == nil {
			add(Change{Kind: DefinitionRemoved, Definition: d.Name})
		}
	}
	oldCavs, curCavs := sortedCaveats(old), sortedCaveats(cur)
	for _, c := range curCavs {
		if caveatOf(old, c.Name) == nil {
			add(Change{Kind: CaveatAdded, Caveat: c.Name})
		}
	}
	for _, c := range oldCavs {
		if caveatOf(cur, c.Name) == nil {
			add(Change{Kind: CaveatRemoved, Caveat: c.Name})
		}
	}
	for _, od := range oldDefs {
		nd := definitionOf(cur, od.Name)
		if nd == nil {
			continue
		}
		if o, n := doc(old, od.Name), doc(cur, nd.Name); o != n {
			add(Change{Kind: DefinitionDocCommentChanged, Definition: od.Name, Old: o, New: n})
		}
		oldRels, newRels := membersOf(od, KindRelation), membersOf(nd, KindRelation)
		oldPerms, newPerms := membersOf(od, KindPermission), membersOf(nd, KindPermission)
		member := func(k ChangeKind, r *Relation) Change {
			return Change{Kind: k, Definition: od.Name, Member: r.Name}
		}
		for _, n := range sortedNames(oldRels) {
			if newRels[n] == nil {
				c := member(RelationRemoved, oldRels[n])
				c.Old = allowedTypesText(oldRels[n].Allowed)
				add(c)
			}
		}
		for _, n := range sortedNames(newRels) {
			if oldRels[n] == nil {
				c := member(RelationAdded, newRels[n])
				c.New = allowedTypesText(newRels[n].Allowed)
				add(c)
			}
		}
		for _, n := range sortedNames(oldPerms) {
			if newPerms[n] == nil {
				c := member(PermissionRemoved, oldPerms[n])
				c.Old = RewriteText(oldPerms[n].Rewrite)
				add(c)
			}
		}
		for _, n := range sortedNames(newPerms) {
			if oldPerms[n] == nil {
				c := member(PermissionAdded, newPerms[n])
				c.New = RewriteText(newPerms[n].Rewrite)
				add(c)
			}
		}
		for _, n := range sortedNames(oldPerms) {
			op, np := oldPerms[n], newPerms[n]
			if np == nil {
				continue
			}
			if !SameRewrite(op.Rewrite, np.Rewrite) {
				c := member(PermissionExprChanged, np)
				c.Old, c.New = RewriteText(op.Rewrite), RewriteText(np.Rewrite)
				add(c)
			}
			key := od.Name + "#" + n
			if o, nw := doc(old, key), doc(cur, key); o != nw {
				c := member(PermissionDocCommentChanged, np)
				c.Old, c.New = o, nw
				add(c)
			}
		}
		for _, n := range sortedNames(oldRels) {
			or, nr := oldRels[n], newRels[n]
			if nr == nil {
				continue
			}
			key := od.Name + "#" + n
			if o, nw := doc(old, key), doc(cur, key); o != nw {
				c := member(RelationDocCommentChanged, nr)
				c.Old, c.New = o, nw
				add(c)
			}
			for _, a := range or.Allowed {
				if !hasAllowed(nr.Allowed, a) {
					c := member(RelationSubjectTypeRemoved, nr)
					a := a
					c.SubjectType, c.Old = &a, allowedText(a)
					add(c)
				}
			}
			for _, a := range nr.Allowed {
				if !hasAllowed(or.Allowed, a) {
					c := member(RelationSubjectTypeAdded, nr)
					a := a
					c.SubjectType, c.New = &a, allowedText(a)
					add(c)
				}
			}
		}
	}
	for _, oc := range oldCavs {
		nc := caveatOf(cur, oc.Name)
		if nc == nil {
			continue
		}
		key := "caveat:" + oc.Name
		if o, n := doc(old, key), doc(cur, key); o != n {
			add(Change{Kind: CaveatDocCommentChanged, Caveat: oc.Name, Old: o, New: n})
		}
		op, np := caveatParamTypes(oc), caveatParamTypes(nc)
		for _, n := range sortedNames(op) {
			if _, ok := np[n]; !ok {
				add(Change{Kind: CaveatParameterRemoved, Caveat: oc.Name, Parameter: n, Old: op[n]})
			}
		}
		for _, n := range sortedNames(np) {
			if _, ok := op[n]; !ok {
				add(Change{Kind: CaveatParameterAdded, Caveat: oc.Name, Parameter: n, New: np[n]})
			}
		}
		for _, n := range sortedNames(op) {
			if t, ok := np[n]; ok && t != op[n] {
				add(Change{Kind: CaveatParameterTypeChanged, Caveat: oc.Name, Parameter: n, Old: op[n], New: t})
			}
		}
		if oneLine(oc.Expr) != oneLine(nc.Expr) {
			add(Change{Kind: CaveatExprChanged, Caveat: oc.Name, Old: oc.Expr, New: nc.Expr})
		}
	}
	return out
}

// programDoc is the default DiffOptions.Doc: the Program's Doc fields.
func programDoc(p *Program, key string) string {
	if p == nil {
		return ""
	}
	if name, ok := strings.CutPrefix(key, "caveat:"); ok {
		if c := p.Caveat(name); c != nil {
			return c.Doc
		}
		return ""
	}
	def, member, ok := strings.Cut(key, "#")
	d := p.Definition(def)
	switch {
	case d == nil:
		return ""
	case !ok:
		return d.Doc
	}
	if r := d.Relation(member); r != nil {
		return r.Doc
	}
	return ""
}

func definitionOf(p *Program, name string) *Definition {
	if p == nil {
		return nil
	}
	return p.Definition(name)
}

func caveatOf(p *Program, name string) *Caveat {
	if p == nil {
		return nil
	}
	return p.Caveat(name)
}

func sortedDefs(p *Program) []*Definition {
	if p == nil {
		return nil
	}
	defs := slices.Clone(p.Definitions())
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	return defs
}

func sortedCaveats(p *Program) []*Caveat {
	if p == nil {
		return nil
	}
	cavs := slices.Clone(p.Caveats())
	sort.Slice(cavs, func(i, j int) bool { return cavs[i].Name < cavs[j].Name })
	return cavs
}

func membersOf(d *Definition, kind Kind) map[string]*Relation {
	m := map[string]*Relation{}
	for _, r := range d.Relations {
		if r.Kind == kind {
			m[r.Name] = r
		}
	}
	return m
}

func caveatParamTypes(c *Caveat) map[string]string {
	m := map[string]string{}
	for _, p := range c.Params {
		m[p.Name] = p.Type
	}
	return m
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hasAllowed reports whether types holds a, compared as SpiceDB's
// SourceForAllowedRelation does: type, subject relation or wildcard,
// caveat and expiration (positions left out).
func hasAllowed(types []AllowedType, a AllowedType) bool {
	return slices.ContainsFunc(types, func(b AllowedType) bool { return allowedText(a) == allowedText(b) })
}

// allowedText is an allowed type as written in a schema: `user`,
// `group#member`, `user:*`, `user with caveat and expiration`.
func allowedText(a AllowedType) string {
	s := a.Type
	switch {
	case a.Relation != "" && a.Relation != "...":
		s += "#" + a.Relation
	case a.Wildcard:
		s += ":*"
	}
	var traits []string
	if a.Caveat != "" {
		traits = append(traits, a.Caveat)
	}
	if a.Expiration {
		traits = append(traits, "expiration")
	}
	if len(traits) > 0 {
		s += " with " + strings.Join(traits, " and ")
	}
	return s
}

func allowedTypesText(types []AllowedType) string {
	parts := make([]string, len(types))
	for i, a := range types {
		parts[i] = allowedText(a)
	}
	return strings.Join(parts, " | ")
}

// SameRewrite reports whether two permission expressions are the same
// rewrite tree, positions left out.
func SameRewrite(a, b *Rewrite) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Op != b.Op || a.Relation != b.Relation || a.Target != b.Target || len(a.Children) != len(b.Children) {
		return false
	}
	for i := range a.Children {
		if !SameRewrite(a.Children[i], b.Children[i]) {
			return false
		}
	}
	return true
}

// RewriteText prints a rewrite tree as schema text; an operation nested in
// one of another kind is parenthesised, as the schema printer does
// (`viewer + (editor & member)`).
func RewriteText(r *Rewrite) string {
	if r == nil {
		return ""
	}
	return rewriteText(r, 0)
}

func rewriteText(r *Rewrite, parent Op) string {
	switch r.Op {
	case OpNil:
		return "nil"
	case OpComputed:
		return r.Relation
	case OpArrow:
		return r.Relation + "->" + r.Target
	case OpArrowAll:
		return r.Relation + ".all(" + r.Target + ")"
	}
	op := map[Op]string{OpUnion: " + ", OpIntersection: " & ", OpExclusion: " - "}[r.Op]
	parts := make([]string, len(r.Children))
	for i, c := range r.Children {
		parts[i] = rewriteText(c, r.Op)
		if r.Op == OpExclusion && i == 1 && c.Op == OpExclusion {
			parts[i] = "(" + parts[i] + ")" // a - (b - c)
		}
	}
	s := strings.Join(parts, op)
	if parent != 0 && parent != r.Op {
		return "(" + s + ")"
	}
	return s
}
