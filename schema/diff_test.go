package schema

import (
	"strings"
	"testing"
)

func mustCompile(t *testing.T, src string) *Program {
	t.Helper()
	if src == "" {
		return nil
	}
	p, _, err := Compile("test.zed", []byte(src))
	if err != nil {
		t.Fatalf("compile: %v\n%s", err, src)
	}
	return p
}

func TestDiff(t *testing.T) {
	const base = `
definition user {}
definition group {
	relation member: user | group#member
}
/** a document */
definition document {
	relation viewer: user | group#member
	relation owner: user
	permission view = viewer + owner
	permission edit = owner
}
caveat only_ip(ip ipaddress, allowed string) {
	ip.in_cidr(allowed)
}
`
	tests := []struct {
		name     string
		old, cur string
		want     []string // Change.String()s, in order
	}{
		{"same", base, base, nil},
		{"layout and comments only", base, strings.ReplaceAll(strings.ReplaceAll(base, "\t", "  "), "viewer + owner", "(viewer + owner)"), nil},
		{"empty to schema", "", "definition user {}", []string{"definition user added"}},
		{"schema to empty", "definition user {}", "", []string{"definition user removed"}},
		{"expression changed", base, strings.Replace(base, "viewer + owner", "viewer", 1),
			[]string{"permission document#view: expression changed: viewer + owner -> viewer"}},
		{"operand order matters", base, strings.Replace(base, "viewer + owner", "owner + viewer", 1),
			[]string{"permission document#view: expression changed: viewer + owner -> owner + viewer"}},
		{"permission added and removed", base, strings.Replace(base, "permission edit = owner", "permission write = owner", 1),
			[]string{"permission document#edit removed (was: owner)", "permission document#write added: owner"}},
		{"relation becomes permission", base, strings.Replace(base, "relation owner: user\n\tpermission view = viewer + owner\n\tpermission edit = owner",
			"relation creator: user\n\tpermission owner = creator\n\tpermission view = viewer + owner\n\tpermission edit = owner", 1),
			[]string{"relation document#owner removed (was: user)", "relation document#creator added: user", "permission document#owner added: creator"}},
		{"subject types", base, strings.Replace(base, "relation viewer: user | group#member", "relation viewer: user:* | group#member with only_ip", 1),
			[]string{"relation document#viewer: subject type user removed", "relation document#viewer: subject type group#member removed",
				"relation document#viewer: subject type user:* added", "relation document#viewer: subject type group#member with only_ip added"}},
		{"doc comment", base, strings.Replace(base, "/** a document */", "/** a file */", 1),
			[]string{"definition document: doc comment changed"}},
		{"definition and caveat added", base, base + "\ndefinition folder {}\ncaveat always(x int) { x == x }\n",
			[]string{"definition folder added", "caveat always added"}},
		{"caveat changed", base, strings.Replace(base, "only_ip(ip ipaddress, allowed string) {\n\tip.in_cidr(allowed)", "only_ip(ip string, cidr string) {\n\tcidr == ip", 1),
			[]string{"caveat only_ip: parameter allowed string removed", "caveat only_ip: parameter cidr string added",
				"caveat only_ip: parameter ip: type changed: ipaddress -> string", "caveat only_ip: expression changed: ip.in_cidr(allowed) -> cidr == ip"}},
		{"nested expression text", base, strings.Replace(base, "viewer + owner", "viewer - (owner & viewer) + owner", 1),
			[]string{"permission document#view: expression changed: viewer + owner -> viewer - ((owner & viewer) + owner)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(mustCompile(t, tt.old), mustCompile(t, tt.cur))
			var texts []string
			for _, c := range got {
				texts = append(texts, c.String())
			}
			if strings.Join(texts, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Diff:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestDiffDocOption checks that DiffOptions.Doc decides what a doc comment
// is.
func TestDiffDocOption(t *testing.T) {
	a := mustCompile(t, "// one\ndefinition user {}")
	b := mustCompile(t, "/* one */\ndefinition user {}")
	if d := Diff(a, b); len(d) != 0 {
		t.Errorf("by Doc fields: %v, want no change", d)
	}
	raw := map[*Program]string{a: "// one", b: "/* one */"}
	d := DiffWith(a, b, DiffOptions{Doc: func(p *Program, key string) string { return raw[p] }})
	if len(d) != 1 || d[0].Kind != DefinitionDocCommentChanged || d[0].Old != "// one" {
		t.Errorf("by raw comments: %v", d)
	}
}

func TestRewriteText(t *testing.T) {
	for _, expr := range []string{"aaa", "aaa + bbb + ccc", "aaa & bbb", "aaa - bbb", "(aaa - bbb) - ccc", "aaa - (bbb - ccc)", "aaa + (bbb & ccc)", "(aaa + bbb) & ccc", "rel->aaa", "rel.all(aaa)", "nil"} {
		src := "definition user {}\ndefinition doc {\n relation aaa: user | doc#aaa\n relation bbb: user\n relation ccc: user\n relation rel: doc\n permission ppp = " + expr + "\n}"
		p := mustCompile(t, src)
		got := RewriteText(p.Lookup("doc", "ppp").Rewrite)
		want := strings.ReplaceAll(expr, "(aaa - bbb) - ccc", "aaa - bbb - ccc")
		if got != want {
			t.Errorf("%s: RewriteText = %q, want %q", expr, got, want)
		}
		// The text compiles back to the same tree.
		q := mustCompile(t, strings.Replace(src, expr, got, 1))
		if !SameRewrite(p.Lookup("doc", "ppp").Rewrite, q.Lookup("doc", "ppp").Rewrite) {
			t.Errorf("%s: %q does not compile to the same tree", expr, got)
		}
	}
}
