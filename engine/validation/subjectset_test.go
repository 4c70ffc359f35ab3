package validation

import (
	"strings"
	"testing"
)

// set builds a subject set from validation-string subjects such as
// "user:tom", "user:tom[...]" (caveated) or "user:* - {user:a, user:b}".
// Every subject gets the resource "src:<name>#r" so that the tests can see
// where the resources of a result come from.
func set(t *testing.T, name string, items ...string) subjectSet {
	t.Helper()
	s := subjectSet{}
	for _, it := range items {
		es, err := ParseExpectedSubject("[" + it + "]")
		if err != nil {
			t.Fatal(err)
		}
		typ, rest, _ := strings.Cut(es.Subject, ":")
		id, rel, _ := strings.Cut(rest, "#")
		key := setKey{typ, rel}
		var excluded []*foundSubject
		for _, e := range es.Exceptions {
			cav := strings.HasSuffix(e, "[...]")
			_, eid, _ := strings.Cut(strings.TrimSuffix(e, "[...]"), ":")
			excluded = append(excluded, newFound(key, eid, cav, nil))
		}
		fs := newFound(key, id, es.Caveated, excluded)
		fs.resources["src:"+name+"#r"] = true
		s.add(fs)
	}
	return s
}

// show prints a set as its sorted validation strings.
func show(s subjectSet) string {
	var out []string
	for _, fs := range s.list() {
		out = append(out, fs.String())
	}
	return strings.Join(out, "; ")
}

// The cases are the examples in the comments of SpiceDB's
// pkg/util/basesubjectset.go (BaseSubjectSet), which zed validate uses to
// compute the subjects of a `validation` entry; a caveat expression is
// shown only as `[...]`.
func TestSubjectSetAlgebra(t *testing.T) {
	tests := []struct {
		name string
		op   string // union, intersect, exclude
		a, b []string
		want string
	}{
		{"union concrete", "union", []string{"user:tom"}, []string{"user:sarah"}, "user:sarah; user:tom"},
		{"union caveated with plain", "union", []string{"user:tom[...]"}, []string{"user:tom"}, "user:tom"},
		{"union caveated twice", "union", []string{"user:tom[...]"}, []string{"user:tom[...]"}, "user:tom[...]"},
		{"union wildcards", "union", []string{"user:*"}, []string{"user:*"}, "user:*"},
		{"union wildcard exclusion and wildcard", "union", []string{"user:* - {user:tom}"}, []string{"user:*"}, "user:*"},
		{"union disjoint exclusions", "union", []string{"user:* - {user:tom}"}, []string{"user:* - {user:sarah}"}, "user:*"},
		{"union shared exclusion", "union", []string{"user:* - {user:tom, user:sarah}"}, []string{"user:* - {user:sarah}"}, "user:* - {user:sarah}"},
		{"union caveated wildcard and wildcard", "union", []string{"user:*[...]"}, []string{"user:*"}, "user:*"},
		{"union exclusion and its subject", "union", []string{"user:* - {user:tom}"}, []string{"user:tom"}, "user:tom; user:*"},
		{"union exclusion and caveated subject", "union", []string{"user:* - {user:tom}"}, []string{"user:tom[...]"}, "user:tom[...]; user:* - {user:tom[...]}"},
		{"union other types apart", "union", []string{"user:*"}, []string{"group:eng#member"}, "group:eng#member; user:*"},

		{"exclude concrete", "exclude", []string{"user:sarah", "user:tom"}, []string{"user:tom"}, "user:sarah"},
		{"exclude by wildcard", "exclude", []string{"user:sarah", "user:tom"}, []string{"user:*"}, ""},
		{"exclude by caveated wildcard", "exclude", []string{"user:sarah", "user:tom"}, []string{"user:*[...]"}, "user:sarah[...]; user:tom[...]"},
		{"exclude by wildcard with exclusion", "exclude", []string{"user:sarah", "user:tom"}, []string{"user:* - {user:tom}"}, "user:tom"},
		{"exclude from wildcard", "exclude", []string{"user:*"}, []string{"user:tom"}, "user:* - {user:tom}"},
		{"exclude caveated from wildcard", "exclude", []string{"user:*"}, []string{"user:tom[...]"}, "user:* - {user:tom[...]}"},
		{"exclude wildcard from wildcard", "exclude", []string{"user:*"}, []string{"user:*"}, ""},
		{"exclude wildcards with exclusions", "exclude", []string{"user:* - {user:sarah}"}, []string{"user:* - {user:tom, user:amy, user:sarah}"}, "user:amy; user:tom"},
		{"exclude caveated subject", "exclude", []string{"user:tom"}, []string{"user:tom[...]"}, "user:tom[...]"},
		{"exclude from caveated subject", "exclude", []string{"user:tom[...]"}, []string{"user:tom"}, ""},
		{"exclude other type untouched", "exclude", []string{"user:tom", "group:eng#member"}, []string{"user:*"}, "group:eng#member"},

		{"intersect concrete", "intersect", []string{"user:tom", "user:sarah"}, []string{"user:tom"}, "user:tom"},
		{"intersect with wildcard", "intersect", []string{"user:tom"}, []string{"user:*"}, "user:tom"},
		{"intersect with wildcard excluding it", "intersect", []string{"user:tom"}, []string{"user:* - {user:tom}"}, ""},
		{"intersect with caveated wildcard", "intersect", []string{"user:tom"}, []string{"user:*[...]"}, "user:tom[...]"},
		{"intersect wildcard with concrete", "intersect", []string{"user:* - {user:sarah}"}, []string{"user:tom", "user:sarah"}, "user:tom"},
		{"intersect wildcards", "intersect", []string{"user:* - {user:a}"}, []string{"user:* - {user:b}"}, "user:* - {user:a, user:b}"},
		{"intersect both wildcards and concrete", "intersect", []string{"user:*", "user:tom"}, []string{"user:*"}, "user:tom; user:*"},
		{"intersect caveated", "intersect", []string{"user:tom[...]"}, []string{"user:tom"}, "user:tom[...]"},
		{"intersect other type dropped", "intersect", []string{"user:tom", "group:eng#member"}, []string{"user:tom"}, "user:tom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := set(t, "a", tt.a...), set(t, "b", tt.b...)
			var got subjectSet
			switch tt.op {
			case "union":
				got = a
				got.addFrom(b)
			case "intersect":
				got = a.intersect(b)
			case "exclude":
				got = a.exclude(b)
			}
			if s := show(got); s != tt.want {
				t.Errorf("%v %s %v = %q, want %q", tt.a, tt.op, tt.b, s, tt.want)
			}
		})
	}
}

// The resources of a subject are the relations it was found in directly:
// a union or intersection of two subjects unites them; a concrete subject
// admitted by an (uncaveated) wildcard keeps only its own (SpiceDB's
// intersectConcreteAndWildcard returns the concrete unchanged); subtraction
// leaves them alone.
func TestSubjectSetResources(t *testing.T) {
	res := func(s subjectSet, subject string) string {
		fs, ok := s.lookup(subject)
		if !ok {
			return "absent"
		}
		return strings.Join(fs.resourceList(), ", ")
	}
	u := set(t, "a", "user:tom")
	u.addFrom(set(t, "b", "user:tom"))
	if got := res(u, "user:tom"); got != "src:a#r, src:b#r" {
		t.Errorf("union: %s", got)
	}
	i := set(t, "a", "user:tom").intersect(set(t, "b", "user:tom"))
	if got := res(i, "user:tom"); got != "src:a#r, src:b#r" {
		t.Errorf("intersect: %s", got)
	}
	w := set(t, "a", "user:tom").intersect(set(t, "b", "user:*"))
	if got := res(w, "user:tom"); got != "src:a#r" {
		t.Errorf("intersect with wildcard: %s", got)
	}
	cw := set(t, "a", "user:tom").intersect(set(t, "b", "user:*[...]"))
	if got := res(cw, "user:tom"); got != "src:a#r, src:b#r" {
		t.Errorf("intersect with caveated wildcard: %s", got)
	}
	x := set(t, "a", "user:tom", "user:*").exclude(set(t, "b", "user:bob"))
	if got := res(x, "user:*"); got != "src:a#r" {
		t.Errorf("exclude: wildcard resources %s", got)
	}
	if got := res(x, "user:bob"); got != "absent" {
		t.Errorf("exclude: bob %s", got)
	}
}
