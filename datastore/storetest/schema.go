package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

func testCaveats(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"SchemaChecked", testWriteSchemaChecksCaveats},
		{"ContextChecked", testWriteChecksCaveatContext},
		{"ContextKept", testCaveatContextKept},
	})
}

// testWriteSchemaChecksCaveats checks that a schema whose caveat
// expressions do not type-check is refused when it is written, as SpiceDB
// refuses it, and that the schema in force stays.
func testWriteSchemaChecksCaveats(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := open(t, f, Config{})
	good := "caveat small(amount int) {\n  amount < 10\n}\ndefinition user {}\n"
	rev, _, err := ds.WriteSchema(ctx, "good.zed", []byte(good))
	if err != nil {
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
			_, _, err := ds.WriteSchema(ctx, "bad.zed", []byte(tt.src))
			var el schema.ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("err = %v, want a schema.ErrorList", err)
			}
			if el[0].Pos.Line != tt.line || !strings.Contains(el[0].Msg, "caveat small") || !strings.Contains(el[0].Msg, tt.want) {
				t.Errorf("fault %v, want one at line %d naming caveat small and mentioning %q", el[0], tt.line, tt.want)
			}
			name, src, srev, err := ds.SchemaSource(ctx)
			if err != nil || string(src) != good || name != "good.zed" || srev != rev {
				t.Errorf("schema in force %s %q at %d (%v), want the good one at %d", name, src, srev, err, rev)
			}
			if h := head(t, ds); h != rev {
				t.Errorf("a refused schema moved the head to %d", h)
			}
		})
	}
}

// testWriteChecksCaveatContext checks that the context stored with a
// caveated relationship is checked on write, as SpiceDB checks it: unknown
// names and badly typed values refuse the batch.
func testWriteChecksCaveatContext(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := open(t, f, Config{})
	src := "caveat small(amount int, tags list<string>) {\n  amount < 10 && 'x' in tags\n}\ndefinition user {}\ndefinition doc {\n  relation viewer: user with small\n}\n"
	if _, _, err := ds.WriteSchema(ctx, "s.zed", []byte(src)); err != nil {
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
	var stored []string
	for _, tt := range tests {
		_, err := ds.Write(ctx, updates(t, tuples.Touch, tt.rel))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.rel, err)
		case tt.want == "":
			stored = append(stored, tt.rel)
		case err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tuples.ErrInvalidRelationship):
			t.Errorf("%s: err = %v, want an invalid relationship mentioning %q", tt.rel, err, tt.want)
		}
		// Import checks it the same way.
		_, err = ds.Import(ctx, strings.NewReader(strings.Replace(tt.rel, "doc:1", "doc:2", 1)), tuples.ImportOptions{})
		if (err == nil) != (tt.want == "") || (err != nil && !errors.Is(err, tuples.ErrInvalidRelationship)) {
			t.Errorf("import of %s: err = %v, want it to be refused: %v", tt.rel, err, tt.want != "")
		}
	}
	got := all(t, ds, 0)
	var want []string
	for _, s := range stored {
		want = append(want, s, strings.Replace(s, "doc:1", "doc:2", 1))
	}
	if want = sorted(want...); !reflect.DeepEqual(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
}

// testCaveatContextKept checks that a caveat's context is read back as it
// was written, a large one (over a kilobyte) included, through every read.
func testCaveatContextKept(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := open(t, f, Config{})
	src := "caveat every_kind(s string, n int, d double, b bool, l list<int>, m map<string>) {\n  s == 'x' && n > 0 && d > 0.0 && b && 1 in l && m['k'] == 'v'\n}\n" +
		"definition user {}\ndefinition doc {\n  relation viewer: user with every_kind\n}\n"
	if _, _, err := ds.WriteSchema(ctx, "c.zed", []byte(src)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("abcdefgh", 300)
	rels := []string{
		`doc:1#viewer@user:ana[every_kind:{"b":true,"d":1.5,"l":[1,2,3],"m":{"k":"v"},"n":42,"s":"x"}]`,
		fmt.Sprintf(`doc:1#viewer@user:bo[every_kind:{"s":%q}]`, big),
		`doc:1#viewer@user:cy[every_kind]`,
	}
	write(t, ds, tuples.Touch, rels...)
	want := sorted(rels...)
	if got := all(t, ds, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("ForEach: %q, want %q", got, want)
	}
	sn := snapshot(t, ds, head(t, ds))
	if got := subjects(t, sn, "doc", "1", "viewer", "user", ""); !reflect.DeepEqual(got, want) {
		t.Errorf("Subjects: %q, want %q", got, want)
	}
	r, ok, err := sn.Get("doc", "1", "viewer", "user", "bo", "")
	if !ok || err != nil || r.Caveat == nil || r.Caveat.Context["s"] != big {
		t.Errorf("Get of the large context: %v, %v", ok, err)
	}
	r, ok, err = sn.Get("doc", "1", "viewer", "user", "cy", "")
	if !ok || err != nil || r.Caveat == nil || r.Caveat.Name != "every_kind" || len(r.Caveat.Context) != 0 {
		t.Errorf("Get of a caveat without context: %v, %v, %v", r, ok, err)
	}
	checkViews(t, ds, 0, nil)
}

func testSchema(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"Versioned", testSchemaVersioned},
		{"CompileError", testSchemaCompileError},
		{"Orphans", testSchemaOrphans},
	})
}

// testSchemaVersioned checks that the schema is versioned with the data:
// each revision reads the schema written before it, Schema and
// SchemaSource the latest, and a write is checked against the schema at
// the head.
func testSchemaVersioned(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := open(t, f, Config{})
	r1, _, err := ds.WriteSchema(ctx, "one.zed", []byte(testSchemaSrc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Write(ctx, updates(t, tuples.Touch, "team:t1#member@user:ana")); !errors.Is(err, tuples.ErrInvalidRelationship) {
		t.Errorf("write of an undefined type: %v, want ErrInvalidRelationship", err)
	}
	r2 := write(t, ds, tuples.Touch, "document:a#viewer@user:ana")
	two := testSchemaSrc + "\ndefinition team {\n  relation member: user\n}\n"
	r3, _, err := ds.WriteSchema(ctx, "two.zed", []byte(two))
	if err != nil {
		t.Fatal(err)
	}
	if !(r1 < r2 && r2 < r3) {
		t.Errorf("revisions %d, %d, %d do not increase", r1, r2, r3)
	}
	r4 := write(t, ds, tuples.Touch, "team:t1#member@user:ana")
	for _, c := range []struct {
		rev  tuples.Revision
		team bool
	}{{r1, false}, {r2, false}, {r3, true}, {r4, true}} {
		p := snapshot(t, ds, c.rev).Schema()
		if p == nil || p.Definition("document") == nil || (p.Definition("team") != nil) != c.team {
			t.Errorf("schema at %d: defines team %v, want %v", c.rev, p != nil && p.Definition("team") != nil, c.team)
		}
	}
	p, srev, err := ds.Schema(ctx)
	if err != nil || p == nil || p.Definition("team") == nil || srev != r3 {
		t.Errorf("Schema() = %v at %d (%v), want the second at %d", p, srev, err, r3)
	}
	name, src, srev, err := ds.SchemaSource(ctx)
	if err != nil || name != "two.zed" || string(src) != two || srev != r3 {
		t.Errorf("SchemaSource() = %s at %d (%v), want two.zed at %d", name, srev, err, r3)
	}
}

// testSchemaCompileError checks that a schema that does not compile is
// refused with its diagnostics, leaving the old one in force.
func testSchemaCompileError(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	h := head(t, ds)
	for _, src := range []string{
		"definition user {\n", // a parse error
		"definition document {\n  relation viewer: nosuchtype\n}\n", // a type error
	} {
		_, _, err := ds.WriteSchema(ctx, "bad.zed", []byte(src))
		var el schema.ErrorList
		if !errors.As(err, &el) || len(el) == 0 {
			t.Errorf("%q: err = %v, want a schema.ErrorList", src, err)
		}
	}
	if _, src, srev, err := ds.SchemaSource(ctx); err != nil || string(src) != testSchemaSrc || srev != h || head(t, ds) != h {
		t.Errorf("after refused schemas: the schema at %d (%v) is not the old one, or the head moved", srev, err)
	}
}

// testSchemaOrphans checks that a schema write that would leave stored
// relationships without their definition, relation or allowed subject
// type is refused with ErrOrphans naming one, and the old schema stays.
func testSchemaOrphans(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStoreWith(t, f, Config{}, "document:a#viewer@group:eng#member", "document:a#parent@folder:f1", "document:b#viewer@user:*")
	h := head(t, ds)
	tests := []struct{ name, from, to, msg string }{
		{"drop relation", "  relation parent: folder\n", "", "document:a#parent@folder:f1"},
		{"drop subject type", "user | user:* | group#member |", "user | user:* |", "document:a#viewer@group:eng#member"},
		{"drop wildcard", "user | user:* | group#member", "user | group#member", "document:b#viewer@user:*"},
		{"drop definition", "definition folder {\n  relation viewer: user\n}", "", "folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(testSchemaSrc, tt.from, tt.to, 1)
			if src == testSchemaSrc {
				t.Fatal("test did not change the schema")
			}
			if tt.name == "drop definition" {
				src = strings.Replace(src, "  relation parent: folder\n", "", 1)
			}
			_, _, err := ds.WriteSchema(ctx, "new.zed", []byte(src))
			if !errors.Is(err, tuples.ErrOrphans) {
				t.Fatalf("error = %v, want ErrOrphans", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not name %q", err, tt.msg)
			}
			if _, src2, _, _ := ds.SchemaSource(ctx); string(src2) != testSchemaSrc {
				t.Errorf("the old schema is no longer in force")
			}
			if got := head(t, ds); got != h {
				t.Errorf("a refused schema moved the head from %d to %d", h, got)
			}
		})
	}
	// Adding things is always fine.
	if _, _, err := ds.WriteSchema(ctx, "more.zed", []byte(testSchemaSrc+"\ndefinition team {}\n")); err != nil {
		t.Errorf("adding a definition: %v", err)
	}
	// Once the relationships are gone the relation may go: deleted by
	// Write, or by DeleteWhere.
	write(t, ds, tuples.Delete, "document:a#parent@folder:f1")
	if _, _, err := ds.WriteSchema(ctx, "less.zed", []byte(strings.Replace(testSchemaSrc, "  relation parent: folder\n", "", 1))); err != nil {
		t.Errorf("dropping an unused relation: %v", err)
	}
	if _, err := ds.DeleteWhere(ctx, mustFilter(t, "@user:*"), 0); err != nil {
		t.Fatal(err)
	}
	noWildcard := strings.Replace(strings.Replace(testSchemaSrc, "  relation parent: folder\n", "", 1), "user | user:* | group#member", "user | group#member", 1)
	if _, _, err := ds.WriteSchema(ctx, "less.zed", []byte(noWildcard)); err != nil {
		t.Errorf("dropping an unused wildcard: %v", err)
	}
}
