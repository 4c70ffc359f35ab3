package validation

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/reach-authz/reach/engine"
)

// ValidationFailure is one difference between a `validation` block entry
// and the subjects the engine finds for it.
type ValidationFailure struct {
	Key     string `json:"relation"` // resource#permission, as written
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// validate compares every expected-relations entry with the subjects found
// by a recursive expansion of its resource and permission, as zed validate
// does (SpiceDB pkg/development/validation.go, validateSubjects).
func (e *Env) validate(ctx context.Context, f *File) ([]ValidationFailure, error) {
	var out []ValidationFailure
	for _, er := range f.Validation {
		obj, rel, err := parseObjectRelation(er.Key)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: validation: %w", f.Path, er.Line, err)
		}
		if e.Program.Definition(obj.Type) == nil {
			return nil, fmt.Errorf("%s:%d: validation %q: object definition `%s` not found", f.Path, er.Line, er.Key, obj.Type)
		}
		if e.Program.Lookup(obj.Type, rel) == nil {
			return nil, fmt.Errorf("%s:%d: validation %q: relation or permission `%s` not found on `%s`", f.Path, er.Line, er.Key, rel, obj.Type)
		}
		found, err := e.foundSubjects(ctx, obj, rel)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: validation %q: %w", f.Path, er.Line, er.Key, err)
		}
		out = append(out, compareSubjects(er, found)...)
	}
	return out, nil
}

// parseObjectRelation reads `type:id#relation`.
func parseObjectRelation(s string) (engine.Object, string, error) {
	if err := checkObjectRelation(s); err != nil {
		return engine.Object{}, "", err
	}
	obj, rel, _ := strings.Cut(s, "#")
	o, err := engine.ParseObject(obj)
	if err != nil {
		return engine.Object{}, "", err
	}
	return o, rel, nil
}

// compareSubjects returns the differences between the expected subjects of
// er and the subjects found, with SpiceDB's messages, at the line of the
// expected subject concerned (of the key for an unexpected subject).
func compareSubjects(er ExpectedRelation, found subjectSet) []ValidationFailure {
	var out []ValidationFailure
	fail := func(line int, format string, args ...any) {
		out = append(out, ValidationFailure{Key: er.Key, Line: line, Message: fmt.Sprintf(format, args...)})
	}
	seen := map[string]bool{}
	for _, es := range er.Subjects {
		seen[es.Subject] = true
		fs, ok := found.lookup(es.Subject)
		if !ok {
			fail(es.Line, "missing expected subject `%s`", es.Subject)
			continue
		}
		if got := fs.resourceList(); !slices.Equal(got, es.Resources) {
			fail(es.Line, "found different relationships for subject `%s`: specified <%s>, computed <%s>",
				es.Subject, strings.Join(es.Resources, ">/<"), strings.Join(got, ">/<"))
		}
		if fs.isWildcard() {
			if got := fs.exclusionList(); !slices.Equal(got, es.Exceptions) {
				fail(es.Line, "found different excluded subjects for subject `%s`: specified {%s}, computed {%s}",
					es.Subject, strings.Join(es.Exceptions, ", "), strings.Join(got, ", "))
			}
		} else if len(es.Exceptions) > 0 {
			fail(es.Line, "found unexpected excluded subjects for subject `%s`", es.Subject)
		}
		if fs.caveated != es.Caveated {
			fail(es.Line, "found caveat mismatch for subject `%s`: specified caveated %v, computed caveated %v",
				es.Subject, es.Caveated, fs.caveated)
		}
	}
	for _, fs := range found.list() {
		if !seen[fs.subject()] {
			fail(er.Line, "subject `%s` found but missing from specified", fs)
		}
	}
	return out
}

// explain prints an explanation as an indented tree.
func explain(x *engine.Explanation) string {
	var b strings.Builder
	if err := x.WriteTree(&b); err != nil {
		return err.Error()
	}
	return strings.TrimRight(b.String(), "\n")
}

// foundSubjects expands obj#rel recursively, as SpiceDB's expand in
// RECURSIVE mode does for zed validate: the subject sets found in a
// relation are themselves expanded and their subjects added.
func (e *Env) foundSubjects(ctx context.Context, obj engine.Object, rel string) (subjectSet, error) {
	r := &recursiveExpander{ctx: ctx, eng: e.Engine, onStack: map[string]bool{}}
	return r.expand(obj, rel)
}

type recursiveExpander struct {
	ctx     context.Context
	eng     *engine.Engine
	onStack map[string]bool
}

func (r *recursiveExpander) expand(obj engine.Object, rel string) (subjectSet, error) {
	key := obj.String() + "#" + rel
	if r.onStack[key] {
		return subjectSet{}, nil
	}
	r.onStack[key] = true
	defer delete(r.onStack, key)
	tree, _, err := r.eng.Expand(r.ctx, obj, rel, engine.Consistency{Mode: engine.FullyConsistent})
	if err != nil {
		return nil, err
	}
	return r.node(tree)
}

func (r *recursiveExpander) node(n *engine.ExpandNode) (subjectSet, error) {
	switch n.Op {
	case engine.ExpandLeaf:
		// SpiceDB's expandDirect in RECURSIVE mode: the leaf lists every
		// subject, subject sets included, and each subject set is expanded
		// in turn (under its relationship's caveat, if any) and united in.
		out := subjectSet{}
		res := n.Resource.String() + "#" + n.Relation
		for _, s := range n.Subjects {
			key := setKey{s.Subject.Type, s.Subject.Relation}
			fs := newFound(key, s.Subject.ID, s.Caveat != "", nil)
			fs.resources[res] = true
			out.add(fs)
		}
		for _, s := range n.Subjects {
			if s.Subject.Relation == "" || s.Subject.ID == "*" {
				continue
			}
			sub, err := r.expand(engine.Object{Type: s.Subject.Type, ID: s.Subject.ID}, s.Subject.Relation)
			if err != nil {
				return nil, err
			}
			if s.Caveat != "" {
				sub.markCaveated()
			}
			out.addFrom(sub)
		}
		return out, nil
	case engine.ExpandCycle:
		return subjectSet{}, nil
	case engine.ExpandUnion, engine.ExpandIntersection, engine.ExpandExclusion:
		if len(n.Children) == 0 {
			return subjectSet{}, nil
		}
		out, err := r.node(n.Children[0])
		if err != nil {
			return nil, err
		}
		for _, c := range n.Children[1:] {
			cs, err := r.node(c)
			if err != nil {
				return nil, err
			}
			switch n.Op {
			case engine.ExpandUnion:
				out.addFrom(cs)
			case engine.ExpandIntersection:
				out = out.intersect(cs)
			default:
				out = out.exclude(cs)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown expand node %q", n.Op)
}
