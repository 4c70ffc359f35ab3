package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{})
	var out strings.Builder
	for _, q := range []string{
		"doc:d3#read", "doc:d2#reader", "doc:pub#not_blocked", "doc:d6#all_folders",
		"group:ca#member", "doc:d12#layered", "doc:d1#nothing", "doc:d10#read",
	} {
		obj, rel, _ := strings.Cut(q, "#")
		tree, rev, err := e.Expand(context.Background(), mustObject(t, obj), rel, fresh)
		if err != nil {
			t.Fatalf("Expand(%s): %v", q, err)
		}
		if head, _ := st.HeadRevision(context.Background()); rev != head {
			t.Errorf("Expand(%s) at revision %d, want %d", q, rev, head)
		}
		out.WriteString("# " + q + "\n")
		if err := tree.WriteTree(&out); err != nil {
			t.Fatal(err)
		}
		out.WriteString("\n")
	}
	golden(t, "expand.txt", out.String())
}

func TestExpandErrors(t *testing.T) {
	// Arrows are expanded (subject sets are only listed): a chain of 60
	// folders goes deeper than the default limit of 50.
	var rels []string
	for i := 0; i < 60; i++ {
		rels = append(rels, fmt.Sprintf("folder:f%d#parent@folder:f%d", i, i+1))
	}
	st := newTestStore(t, semanticsSchema, rels...)
	e := New(st, Options{})
	ctx := context.Background()
	if _, _, err := e.Expand(ctx, Object{"folder", "f0"}, "view", fresh); !errors.Is(err, ErrMaxDepth) {
		t.Errorf("deep expand: error %v, want ErrMaxDepth", err)
	}
	if _, _, err := New(st, Options{MaxDepth: 200}).Expand(ctx, Object{"folder", "f0"}, "view", fresh); err != nil {
		t.Errorf("expand with MaxDepth 200: %v", err)
	}
	if _, _, err := e.Expand(ctx, Object{"folder", "f0"}, "nope", fresh); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown relation: error %v, want ErrUnknown", err)
	}
	if _, _, err := e.Expand(ctx, Object{"nodef", "g0"}, "member", fresh); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown type: error %v, want ErrUnknown", err)
	}
}
