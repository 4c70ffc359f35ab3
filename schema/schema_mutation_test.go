package schema

import (
	"slices"
	"strings"
	"testing"
)

// Tests written for mutants that survived the rest of the suite
// (internal/mutate/mutants/schema.mut names each one).

func errorTexts(t *testing.T, src string) []string {
	t.Helper()
	_, diags, _ := Compile("t.zed", []byte(src))
	var out []string
	for _, d := range diags {
		if d.Severity == Error {
			out = append(out, d.String())
		}
	}
	return out
}

// A caveat and a definition share one namespace, in either order (mutant
// schema-caveat-shadows-definition).
func TestCaveatAndDefinitionShareNames(t *testing.T) {
	tests := []struct{ src, want string }{
		{"definition foo {}\ncaveat foo(x int) { x > 0 }\n", `t.zed:2:8: the name "foo" is already used by the definition at 1:12`},
		{"caveat foo(x int) { x > 0 }\ndefinition foo {}\n", `t.zed:2:12: the name "foo" is already used by the caveat at 1:8`},
	}
	for _, tt := range tests {
		if got := errorTexts(t, tt.src); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%q: errors %q, want %q", tt.src, got, tt.want)
		}
	}
}

// Every relation of a cycle of subject relations includes the wildcard
// that one of them reaches, whichever relation the checker asks about
// first (mutant schema-wildcard-cycle-unshared). first#qqq asks about
// aaa#mem first: the walk finds bbb#mem inside the cycle aaa ⇄ bbb before
// the wildcard of ccc#mem, which aaa#mem reaches later; doc#vvv then asks
// about bbb#mem, whose answer must be the cycle's.
func TestWildcardSharedAcrossCycle(t *testing.T) {
	src := `definition user {}
definition first {
	relation qqq: aaa#mem
}
definition aaa {
	relation mem: bbb#mem | ccc#mem
}
definition bbb {
	relation mem: aaa#mem
}
definition ccc {
	relation mem: user:*
}
definition doc {
	relation vvv: bbb#mem
}
`
	const how = "it includes the wildcard user:* through ccc#mem, and wildcards cannot be included through a subject relation"
	want := []string{
		"t.zed:3:16: relation qqq cannot allow aaa#mem: " + how,
		"t.zed:6:16: relation mem cannot allow bbb#mem: " + how,
		"t.zed:6:26: relation mem cannot allow ccc#mem: " + how,
		"t.zed:9:16: relation mem cannot allow aaa#mem: " + how,
		"t.zed:15:16: relation vvv cannot allow bbb#mem: " + how,
	}
	if got := errorTexts(t, src); !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// An arrow to another target is another permission expression (mutant
// schema-same-rewrite-ignores-target).
func TestDiffArrowTarget(t *testing.T) {
	const tmpl = `definition user {}
definition folder {
	relation viewer: user
	relation owner: user
}
definition doc {
	relation parent: folder
	permission view = parent->TARGET
}
`
	old := mustCompile(t, strings.Replace(tmpl, "TARGET", "viewer", 1))
	cur := mustCompile(t, strings.Replace(tmpl, "TARGET", "owner", 1))
	changes := Diff(old, cur)
	if len(changes) != 1 || changes[0].Kind != PermissionExprChanged {
		t.Errorf("Diff: %v, want one PermissionExprChanged", changes)
	}
	if SameRewrite(old.Lookup("doc", "view").Rewrite, cur.Lookup("doc", "view").Rewrite) {
		t.Error("SameRewrite: parent->viewer and parent->owner are the same")
	}
}

// The hash of a program changes with every rule: a caveat or an expiration
// on an allowed type counts (mutants schema-hash-ignores-caveat and
// schema-hash-ignores-expiration).
func TestHashCountsTraits(t *testing.T) {
	const tmpl = `use expiration
caveat cav(x int) { x > 0 }
definition user {}
definition doc {
	relation viewer: user TRAIT
}
`
	hashes := map[string]string{}
	for _, trait := range []string{"", "with cav", "with expiration", "with cav and expiration"} {
		h := mustCompile(t, strings.Replace(tmpl, "TRAIT", trait, 1)).Hash()
		for other, oh := range hashes {
			if oh == h {
				t.Errorf("%q and %q have the same hash", trait, other)
			}
		}
		hashes[trait] = h
	}
}

// "Did you mean" reaches three edits for a name of nine characters or
// more (mutant schema-suggest-limit-two).
func TestClosestThreeEdits(t *testing.T) {
	if got := Closest("abcdefghi", []string{"abcdefxyz", "zzz"}); got != "abcdefxyz" {
		t.Errorf("Closest at three edits of nine characters: %q, want abcdefxyz", got)
	}
	if got := Closest("abcdefgh", []string{"abcdefxyz"}); got != "" {
		t.Errorf("Closest at three edits of eight characters: %q, want none", got)
	}
}
