package schema

import (
	"fmt"
	"strings"
)

// The warnings below are SpiceDB's schema lint checks
// (pkg/development/warningdefs.go): SpiceDB accepts such a schema and
// `zed validate` reports them. Each warning ends with its name in
// parentheses; a comment `// spicedb-ignore-warning: NAME` on the lines
// above the relation or permission silences it, as in SpiceDB.

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
			"%s %s ends with the name of its definition %s; consider dropping the suffix", kind, m.MemberName(), d.Name)
	}
}

// lintArrow applies SpiceDB's three arrow lints to a valid arrow whose
// left side is the relation rel.
func (c *checker) lintArrow(d *DefinitionDecl, pm *PermissionDecl, e *ArrowExpr, left *Ident, rel *RelationDecl) {
	// arrow-references-relation: the target, on another definition, is a
	// relation rather than a permission.
	for _, t := range rel.Types {
		if t.Type == d.Name {
			continue
		}
		if target, ok := c.members[t.Type][e.Target].(*RelationDecl); ok {
			c.lintf(pm.Comments, left.Pos, "arrow-references-relation",
				"arrow %s under permission %s reaches relation %s of %s; it is recommended to point to a permission",
				arrowText(e), pm.Name, target.Name, t.Type)
			break
		}
	}
	// arrow-references-unreachable-relation: no subject type has the target.
	found := false
	var candidates []string
	for _, t := range rel.Types {
		if _, ok := c.members[t.Type][e.Target]; ok {
			found = true
		}
		candidates = append(candidates, c.memberNames(t.Type)...)
	}
	if !found {
		var types []string
		for _, t := range rel.Types {
			types = append(types, t.Type)
		}
		c.lintf(pm.Comments, left.Pos, "arrow-references-unreachable-relation",
			"arrow %s under permission %s: %q exists on none of the subject types of %s (%s)%s",
			arrowText(e), pm.Name, e.Target, left.Name, strings.Join(dedup(types), ", "), suggest(e.Target, candidates))
	}
	// arrow-walks-subject-relation: the relation allows a subject set,
	// whose subject relation the arrow ignores.
	for _, t := range rel.Types {
		if t.Relation != "" {
			c.lintf(pm.Comments, left.Pos, "arrow-walks-subject-relation",
				"arrow %s under permission %s walks relation %s, which allows %s: the arrow ignores the subject relation %s",
				arrowText(e), pm.Name, left.Name, typeText(t), t.Relation)
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
