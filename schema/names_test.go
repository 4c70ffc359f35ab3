package schema

import (
	"fmt"
	"strings"
	"testing"
)

// nameOf returns a valid-looking name of n characters: a, then b's.
func nameOf(n int) string { return "a" + strings.Repeat("b", n-1) }

// TestNameLengths pins SpiceDB's naming rule at its edges (issue 17). A
// definition's name is ([a-z][a-z0-9_]{1,62}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}
// [a-z0-9], at most 128 bytes in all; a relation's or permission's is one
// such segment (core.proto, NamespaceDefinition.name and Relation.name).
// So every segment is 3 to 64 characters: each case below sits on one side
// of an edge, and moving any bound by one character fails a case.
func TestNameLengths(t *testing.T) {
	const rule = "names are 3 to 64 characters of a-z, 0-9 and _, start with a letter and do not end with _"
	definition := func(name string) string { return "definition user {}\ndefinition " + name + " {}\n" }
	relation := func(name string) string {
		return "definition user {}\ndefinition doc {\n\trelation " + name + ": user\n}\n"
	}
	permission := func(name string) string {
		return "definition user {}\ndefinition doc {\n\trelation viewer: user\n\tpermission " + name + " = viewer\n}\n"
	}
	n63, n64, n65 := nameOf(63), nameOf(64), nameOf(65)
	tests := []struct {
		name string
		src  string
		want string // "" when valid
	}{
		{"definition of 64", definition(n64), ""},
		{"definition of 65", definition(n65), fmt.Sprintf("2:12: invalid definition name %q: %s", n65, rule)},
		{"definition of 3", definition("abc"), ""},
		{"definition of 2", definition("ab"), fmt.Sprintf("2:12: invalid definition name \"ab\": %s", rule)},
		{"last segment of 64", definition("abc/" + n64), ""},
		{"last segment of 65", definition("abc/" + n65),
			fmt.Sprintf("2:12: invalid definition name %q: segment %q breaks the rule: %s", "abc/"+n65, n65, rule)},
		{"prefix segment of 64", definition(n64 + "/abc"), ""},
		{"prefix segment of 65", definition(n65 + "/abc"),
			fmt.Sprintf("2:12: invalid definition name %q: segment %q breaks the rule: %s", n65+"/abc", n65, rule)},
		{"prefixed name of 128", definition(n63 + "/" + n64), ""},
		{"prefixed name of 129", definition(n64 + "/" + n64),
			fmt.Sprintf("2:12: invalid definition name %q: a prefixed name may be at most 128 characters", n64+"/"+n64)},
		{"relation of 64", relation(n64), ""},
		{"relation of 65", relation(n65), fmt.Sprintf("3:11: invalid relation name %q: %s", n65, rule)},
		{"relation of 3", relation("abc"), ""},
		{"relation of 2", relation("ab"), fmt.Sprintf("3:11: invalid relation name \"ab\": %s", rule)},
		{"permission of 64", permission(n64), ""},
		{"permission of 65", permission(n65), fmt.Sprintf("4:13: invalid permission name %q: %s", n65, rule)},
		{"permission of 3", permission("abc"), ""},
		{"permission of 2", permission("ab"), fmt.Sprintf("4:13: invalid permission name \"ab\": %s", rule)},
		// A subject type's prefix segments are one shorter (core.proto,
		// AllowedRelation.namespace: [a-z][a-z0-9_]{1,61}[a-z0-9]/), its
		// last segment is not.
		{"subject type with a last segment of 64", "definition abc/" + n64 + " {}\ndefinition doc {\n\trelation viewer: abc/" + n64 + "\n}\n", ""},
		{"subject type with a prefix segment of 63", "definition " + n63 + "/abc {}\ndefinition doc {\n\trelation viewer: " + n63 + "/abc\n}\n", ""},
		{"subject type with a prefix segment of 64", "definition " + n64 + "/abc {}\ndefinition doc {\n\trelation viewer: " + n64 + "/abc\n}\n",
			fmt.Sprintf("3:19: subject type %q cannot be referenced: each prefix segment of a subject type is at most 63 characters, and %q has 64", n64+"/abc", n64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Compile("", []byte(tt.src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
