package schema

import (
	"fmt"
	"strings"
)

// The warnings below are SpiceDB's schema lint checks, all five of them
// (pkg/development/warningdefs.go, run by pkg/development/warnings.go):
// SpiceDB accepts such a schema and `zed validate` reports the warnings.
// The messages are SpiceDB's, starting in lower case, and each ends with the
// warning's name in parentheses, as SpiceDB's do; a comment
// `// spicedb-ignore-warning: NAME` among the comments before the relation
// or permission silences it, as in SpiceDB (shouldSkipCheck).

// lintf records a warning unless the member's comments silence it.
func (c *checker) lintf(cs Comments, pos Position, name, format string, args ...any) {
	for _, cm := range cs.Leading {
		if strings.TrimSpace(cm.Text) == "// spicedb-ignore-warning: "+name {
			return
		}
	}
	c.warnf(pos, "%s (%s)", fmt.Sprintf(format, args...), name)
}

// isAlias reports whether pm is `permission x = y` (possibly in
// parentheses): a pure alias.
func isAlias(pm *PermissionDecl) bool {
	_, ok := pm.Expr.(*Ident)
	return ok
}

// lintMember warns about a relation or permission whose name ends with
// its definition's name (relation-name-references-parent).
func (c *checker) lintMember(d *DefinitionDecl, m Member) {
	var cs Comments
	kind := "relation"
	switch m := m.(type) {
	case *RelationDecl:
		cs = m.Comments
	case *PermissionDecl:
		cs, kind = m.Comments, "permission"
	}
	if strings.HasSuffix(m.MemberName(), d.Name) {
		c.lintf(cs, m.MemberPos(), "relation-name-references-parent",
			"%s %q references parent type %q in its name; it is recommended to drop the suffix", kind, m.MemberName(), d.Name)
	}
}

// lintArrow applies SpiceDB's three arrow lints to a valid arrow whose
// left side is the relation rel.
func (c *checker) lintArrow(d *DefinitionDecl, pm *PermissionDecl, e *ArrowExpr, left *Ident, rel *RelationDecl) {
	for _, t := range rel.Types {
		if _, ok := c.defs[t.Type]; !ok {
			return // the unknown type is reported; warnings would only repeat it
		}
	}
	// arrow-references-relation: the target, on another definition, is a
	// relation rather than a permission.
	for _, t := range rel.Types {
		if t.Type == d.Name {
			continue
		}
		if target, ok := c.members[t.Type][e.Target].(*RelationDecl); ok {
			c.lintf(pm.Comments, left.Pos, "arrow-references-relation",
				"arrow `%s` under permission %q references relation %q on definition %q; it is recommended to point to a permission",
				arrowText(e), pm.Name, target.Name, t.Type)
			break
		}
	}
	// arrow-references-unreachable-relation: no subject type has the target.
	found := false
	for _, t := range rel.Types {
		if _, ok := c.members[t.Type][e.Target]; ok {
			found = true
		}
	}
	if !found {
		candidates := func() []string {
			var names []string
			for _, t := range rel.Types {
				names = append(names, c.memberNames(t.Type)...)
			}
			return dedup(names)
		}
		c.lintf(pm.Comments, left.Pos, "arrow-references-unreachable-relation",
			"arrow `%s` under permission %q references relation/permission %q that does not exist on any subject types of relation %q%s",
			arrowText(e), pm.Name, e.Target, left.Name, c.hint(e.Target, candidates))
	}
	// arrow-walks-subject-relation: the relation allows a subject set,
	// whose subject relation the arrow ignores.
	for _, t := range rel.Types {
		if t.Relation != "" {
			c.lintf(pm.Comments, left.Pos, "arrow-walks-subject-relation",
				"arrow `%s` under permission %q references relation %q that has relation %q on subject %q: *the subject relation will be ignored for the arrow*",
				arrowText(e), pm.Name, left.Name, t.Relation, t.Type)
			break
		}
	}
}

func dedup(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
