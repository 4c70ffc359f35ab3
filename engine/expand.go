package engine

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Expand node operations.
const (
	// ExpandLeaf is a relation: its Subjects are the relationships' subjects
	// (subject sets are listed, not expanded further, as SpiceDB does).
	ExpandLeaf = "leaf"
	// ExpandUnion, ExpandIntersection and ExpandExclusion combine Children
	// (exclusion: the first minus the others).
	ExpandUnion        = "union"
	ExpandIntersection = "intersection"
	ExpandExclusion    = "exclusion"
	// ExpandCycle marks a node already being expanded higher up the tree.
	ExpandCycle = "cycle"
)

// ExpandNode is a node of the userset tree of Expand. Resource and Relation
// are set on the node that expands a relation or permission (and on the
// arrow nodes: the union over the tupleset's subjects).
type ExpandNode struct {
	Op       string
	Resource Object
	Relation string
	// Arrow is set on the node of an arrow: "tupleset->target" (a union
	// over the tupleset's subjects) or "tupleset.all(target)" (an
	// intersection).
	Arrow    string
	Subjects []ExpandSubject
	Children []*ExpandNode
}

// ExpandSubject is one subject of a leaf, with its caveat's name if any.
type ExpandSubject struct {
	Subject Subject
	Caveat  string
}

// Expand returns the userset tree of permission (or relation) on resource:
// the rewrite rules applied to the data, with computed usersets and arrows
// expanded and relations as leaves.
func (e *Engine) Expand(ctx context.Context, resource Object, permission string, cons Consistency) (*ExpandNode, tuples.Revision, error) {
	rev, err := e.revision(ctx, cons)
	if err != nil {
		return nil, 0, err
	}
	snap, m, err := e.snapshot(ctx, rev)
	if err != nil {
		return nil, 0, err
	}
	defer snap.Close()
	if m.lookup(resource.Type, permission) == nil {
		return nil, 0, errUnknownRelation(resource.Type, permission, m)
	}
	x := &expander{ctx: ctx, snap: snap, m: m, maxDepth: e.opts.MaxDepth, onStack: map[upNode]bool{}}
	n, err := x.expand(resource, permission)
	if err != nil {
		return nil, 0, err
	}
	return n, rev, nil
}

type expander struct {
	ctx      context.Context
	snap     tuples.Snapshot
	m        *model
	maxDepth int
	onStack  map[upNode]bool
}

func (x *expander) expand(obj Object, rel string) (*ExpandNode, error) {
	k := upNode{obj.Type, obj.ID, rel}
	if x.onStack[k] {
		return &ExpandNode{Op: ExpandCycle, Resource: obj, Relation: rel}, nil
	}
	if len(x.onStack) >= x.maxDepth {
		return nil, fmt.Errorf("expanding %s#%s: %w (%d)", obj, rel, ErrMaxDepth, x.maxDepth)
	}
	if err := x.ctx.Err(); err != nil {
		return nil, err
	}
	rd := x.m.lookup(obj.Type, rel)
	if rd == nil {
		return &ExpandNode{Op: ExpandLeaf, Resource: obj, Relation: rel}, nil
	}
	x.onStack[k] = true
	defer delete(x.onStack, k)
	if !rd.perm {
		n := &ExpandNode{Op: ExpandLeaf, Resource: obj, Relation: rel}
		err := x.snap.Subjects(obj.Type, obj.ID, rel, "", "", func(r tuples.Relationship) bool {
			s := ExpandSubject{Subject: Subject{r.SubjectType, r.SubjectID, r.SubjectRelation}}
			if r.Caveat != nil {
				s.Caveat = r.Caveat.Name
			}
			n.Subjects = append(n.Subjects, s)
			return true
		})
		return n, err
	}
	n, err := x.rewrite(obj, rd.rewrite)
	if err != nil {
		return nil, err
	}
	if n.Resource == (Object{}) {
		n.Resource, n.Relation = obj, rel
		return n, nil
	}
	return &ExpandNode{Op: ExpandUnion, Resource: obj, Relation: rel, Children: []*ExpandNode{n}}, nil
}

func (x *expander) rewrite(obj Object, rw *schema.Rewrite) (*ExpandNode, error) {
	switch rw.Op {
	case schema.OpNil:
		return &ExpandNode{Op: ExpandLeaf}, nil
	case schema.OpComputed:
		return x.expand(obj, rw.Relation)
	case schema.OpArrow, schema.OpArrowAll:
		op := ExpandUnion
		if rw.Op == schema.OpArrowAll {
			op = ExpandIntersection
		}
		n := &ExpandNode{Op: op, Arrow: rw.Relation + "->" + rw.Target}
		if rw.Op == schema.OpArrowAll {
			n.Arrow = rw.Relation + ".all(" + rw.Target + ")"
		}
		var subs []Object
		err := x.snap.Subjects(obj.Type, obj.ID, rw.Relation, "", "", func(r tuples.Relationship) bool {
			if !r.IsWildcard() {
				subs = append(subs, Object{r.SubjectType, r.SubjectID})
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		for _, s := range subs {
			if x.m.lookup(s.Type, rw.Target) == nil {
				continue
			}
			c, err := x.expand(s, rw.Target)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, c)
		}
		return n, nil
	}
	op := map[schema.Op]string{schema.OpUnion: ExpandUnion, schema.OpIntersection: ExpandIntersection, schema.OpExclusion: ExpandExclusion}[rw.Op]
	if op == "" {
		return nil, fmt.Errorf("unknown rewrite operation %v", rw.Op)
	}
	n := &ExpandNode{Op: op}
	for _, ch := range rw.Children {
		c, err := x.rewrite(obj, ch)
		if err != nil {
			return nil, err
		}
		n.Children = append(n.Children, c)
	}
	return n, nil
}

// WriteTree prints the userset tree with one node a line, indented by
// depth: the operation and the object and relation it expands, then a
// leaf's subjects (with their caveat in brackets).
func (n *ExpandNode) WriteTree(w io.Writer) error {
	var b strings.Builder
	n.writeTree(&b, 0)
	_, err := io.WriteString(w, b.String())
	return err
}

func (n *ExpandNode) writeTree(b *strings.Builder, depth int) {
	indent := strings.Repeat("  ", depth)
	b.WriteString(indent + n.Op)
	if n.Resource != (Object{}) {
		fmt.Fprintf(b, " %s#%s", n.Resource, n.Relation)
	}
	if n.Arrow != "" {
		b.WriteString(" " + n.Arrow)
	}
	if n.Op == ExpandCycle {
		b.WriteString(" (already being expanded above)")
	}
	b.WriteByte('\n')
	for _, s := range n.Subjects {
		b.WriteString(indent + "  " + s.Subject.String())
		if s.Caveat != "" {
			b.WriteString(" [" + s.Caveat + "]")
		}
		b.WriteByte('\n')
	}
	for _, c := range n.Children {
		c.writeTree(b, depth+1)
	}
}
