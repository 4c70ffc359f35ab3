package tuples

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reach-authz/reach/schema"
)

// A schema whose caveat expressions do not type-check is refused when it is
// written, as SpiceDB refuses it (the schema compiler only parses CEL), and
// the schema in force stays.
func TestWriteSchemaChecksCaveats(t *testing.T) {
	s := newTestStore(t, Options{InMemory: true})
	ctx := context.Background()
	good := "caveat small(amount int) {\n  amount < 10\n}\ndefinition user {}\n"
	if _, _, err := s.WriteSchema(ctx, "good.zed", []byte(good)); err != nil {
		t.Fatalf("good schema: %v", err)
	}
	tests := []struct {
		name, src, want string
		line            int // of the fault: in the expression, or the caveat's own
	}{
		{"type error", "caveat small(amount int) {\n  amount == 'ten'\n}\ndefinition user {}\n", "no matching overload", 2},
		{"not a bool", "caveat small(amount int) {\n  amount + 1\n}\ndefinition user {}\n", "boolean", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.WriteSchema(ctx, "bad.zed", []byte(tt.src))
			var el schema.ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("err = %v, want a schema.ErrorList", err)
			}
			if el[0].Pos.Line != tt.line || !strings.Contains(el[0].Msg, "caveat small") || !strings.Contains(el[0].Msg, tt.want) {
				t.Errorf("fault %v, want one at line %d naming caveat small and mentioning %q", el[0], tt.line, tt.want)
			}
			_, src, _, err := s.SchemaSource(ctx)
			if err != nil || string(src) != good {
				t.Errorf("schema in force %q (%v), want the good one", src, err)
			}
		})
	}
}

// The context stored with a caveated relationship is checked on write, as
// SpiceDB checks it: unknown names and badly typed values refuse the batch.
func TestWriteChecksCaveatContext(t *testing.T) {
	s := newTestStore(t, Options{InMemory: true})
	ctx := context.Background()
	src := "caveat small(amount int, tags list<string>) {\n  amount < 10 && 'x' in tags\n}\ndefinition user {}\ndefinition doc {\n  relation viewer: user with small\n}\n"
	if _, _, err := s.WriteSchema(ctx, "s.zed", []byte(src)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel  string
		want string // "" when the write must succeed
	}{
		{`doc:1#viewer@user:ana[small:{"amount":3}]`, ""},
		{`doc:1#viewer@user:bo[small:{"amount":3,"tags":["x"]}]`, ""},
		{`doc:1#viewer@user:cy[small]`, ""},
		{`doc:1#viewer@user:di[small:{"colour":"red"}]`, "unknown parameter `colour`"},
		{`doc:1#viewer@user:ed[small:{"amount":"lots"}]`, "could not convert context parameter `amount`"},
		{`doc:1#viewer@user:fi[small:{"tags":"x"}]`, "could not convert context parameter `tags`"},
	}
	for _, tt := range tests {
		_, err := s.Write(ctx, updates(t, Touch, tt.rel))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.rel, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidRelationship)):
			t.Errorf("%s: err = %v, want an invalid relationship mentioning %q", tt.rel, err, tt.want)
		}
	}
}
