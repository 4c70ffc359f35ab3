package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

func testImport(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"Lines", testImportLines},
		{"BadLine", testImportBadLine},
		{"FirstFaultFirst", testImportFirstFaultFirst},
		{"ContextEachLine", testImportChecksEveryContext},
		{"SkipInvalid", testImportSkipInvalid},
		{"YAML", testImportYAML},
		{"Touch", testImportTouch},
		{"ChangeFeed", testImportChangeFeed},
		{"ExportRoundTrip", testExportImportRoundTrip},
	})
}

func testImportLines(t *testing.T, f Factory) {
	tests := []struct {
		name    string
		input   string
		want    []string
		lines   int64
		batches int // with BatchSize 2
		written int64
	}{
		{
			name: "comments and blank lines",
			input: "# a comment\n\ndocument:a#viewer@user:ana\n   // another comment\n" +
				"  document:a#viewer@group:eng#member  \n\n" +
				`document:b#viewer@user:bo[only_weekdays:{"tz":"UTC"}]` + "\n",
			want: []string{
				"document:a#viewer@group:eng#member",
				"document:a#viewer@user:ana",
				`document:b#viewer@user:bo[only_weekdays:{"tz":"UTC"}]`,
			},
			lines:   7,
			batches: 2,
			written: 3,
		},
		{
			name:    "CRLF and no final newline",
			input:   "document:a#viewer@user:ana\r\ndocument:a#viewer@user:*\r\ngroup:eng#member@user:cy",
			want:    []string{"document:a#viewer@user:*", "document:a#viewer@user:ana", "group:eng#member@user:cy"},
			lines:   3,
			batches: 2,
			written: 3,
		},
		{
			name:    "the same relationship twice: the last wins",
			input:   "document:a#viewer@user:ana[expiration:2999-01-01T00:00:00Z]\ndocument:a#viewer@user:ana\n",
			want:    []string{"document:a#viewer@user:ana"},
			lines:   2,
			batches: 1,
			written: 2,
		},
		{
			name:  "empty",
			input: "# nothing\n",
			lines: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newStore(t, f, Config{})
			head0 := head(t, ds)
			var progress []tuples.ImportStats
			res, err := ds.Import(testContext(t), strings.NewReader(tt.input), tuples.ImportOptions{
				Name: "rels.txt", BatchSize: 2,
				Progress: func(st tuples.ImportStats) { progress = append(progress, st) },
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := all(t, ds, 0); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("stored %q, want %q", got, tt.want)
			}
			if res.Lines != tt.lines || res.Batches != tt.batches || res.Skipped != 0 || res.Imported != tt.written {
				t.Errorf("result %+v, want %d lines, %d batches, %d imported", res.ImportStats, tt.lines, tt.batches, tt.written)
			}
			if res.Bytes != int64(len(tt.input)) {
				t.Errorf("read %d bytes of %d", res.Bytes, len(tt.input))
			}
			h := head(t, ds)
			switch {
			case tt.batches == 0 && (h != head0 || res.Revision != 0):
				t.Errorf("nothing imported, yet the head moved from %d to %d (result revision %d)", head0, h, res.Revision)
			case tt.batches > 0 && (h <= head0 || res.Revision != h):
				t.Errorf("head %d, result revision %d, want the head, after %d", h, res.Revision, head0)
			}
			if sets, _, err := ds.Changes(testContext(t), head0, 0); err != nil || len(sets) != tt.batches {
				t.Errorf("%d change sets (%v), want one per batch: %d", len(sets), err, tt.batches)
			}
			if len(progress) == 0 || progress[len(progress)-1] != res.ImportStats {
				t.Errorf("progress %+v does not end with the result %+v", progress, res.ImportStats)
			}
			checkViews(t, ds, 0, nil)
		})
	}
}

// testImportBadLine checks that a malformed or refused line N stops the
// import with `FILE:N: ...`, that nothing of its batch is written, and that
// the batches before it are.
func testImportBadLine(t *testing.T, f Factory) {
	tests := []struct {
		name, bad, msg string
		want           error
	}{
		{"malformed", "document:c#viewer@user:a na", "column 25: subject id", nil},
		{"unknown relation", "document:c#editor@user:ana", "relation `editor` not found", tuples.ErrInvalidRelationship},
		{"subject type not allowed", "document:c#owner@group:eng#member", "not allowed", tuples.ErrInvalidRelationship},
		{"id too long", "document:c#viewer@user:" + strings.Repeat("x", tuples.MaxIDLength+1), "subject id", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newStore(t, f, Config{})
			input := strings.Join([]string{
				"document:a#viewer@user:ana", // line 1, batch 1
				"document:a#viewer@user:bo",  // line 2, batch 1
				"# comment",                  // line 3
				"document:b#viewer@user:ana", // line 4, batch 2
				tt.bad,                       // line 5, batch 2
				"document:b#viewer@user:cy",  // line 6
			}, "\n")
			res, err := ds.Import(testContext(t), strings.NewReader(input), tuples.ImportOptions{Name: "in.txt", BatchSize: 2})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "in.txt:5: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q, want in.txt:5: ...%s...", err, tt.msg)
			}
			var le *tuples.LineError
			if !errors.As(err, &le) || le.Line != 5 || le.File != "in.txt" {
				t.Errorf("error %v is not a *LineError of in.txt line 5", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if got, want := all(t, ds, 0), []string{"document:a#viewer@user:ana", "document:a#viewer@user:bo"}; !reflect.DeepEqual(got, want) {
				t.Errorf("stored %q, want only the first batch %q", got, want)
			}
			if res.Imported != 2 || res.Batches != 1 || res.Revision != head(t, ds) {
				t.Errorf("result %+v, want 2 imported in 1 batch at the head", res.ImportStats)
			}
			checkViews(t, ds, 0, mustParseAll(t, "document:b#viewer@user:ana", "document:b#viewer@user:cy"))
		})
	}
}

// testImportFirstFaultFirst checks that the fault reported is the first
// line at fault, also when a line the schema refuses comes before a
// malformed one in the same batch; nothing of that batch is written.
func testImportFirstFaultFirst(t *testing.T, f Factory) {
	ds := newStore(t, f, Config{})
	input := strings.Join([]string{
		"document:a#viewer@user:ana",   // line 1
		"document:a#editor@user:bo",    // line 2: unknown relation
		"document:a#viewer@user:cy na", // line 3: malformed
	}, "\n")
	_, err := ds.Import(testContext(t), strings.NewReader(input), tuples.ImportOptions{Name: "in.txt"})
	var le *tuples.LineError
	if !errors.As(err, &le) || le.Line != 2 || !errors.Is(err, tuples.ErrInvalidRelationship) {
		t.Fatalf("error %v, want the unknown relation of line 2", err)
	}
	if got := all(t, ds, 0); len(got) != 0 {
		t.Errorf("stored %q, want nothing", got)
	}
}

// testImportChecksEveryContext checks that Import refuses a caveat context
// that a single write refuses (an unknown parameter, a value of the wrong
// type or out of range) on every line, also after lines of the same shape
// (types, relation, caveat, expiration) that were allowed, in the same
// batch or an earlier one: a driver may check each shape once, not each
// context. The refusal names the line and says what a write says; nothing
// of its batch is written; with SkipInvalid only that line is skipped.
func testImportChecksEveryContext(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := open(t, f, Config{})
	const src = `use expiration

caveat small(amount int, count uint, tags list<string>) {
  amount < 10 && count > 0 && 'x' in tags
}

definition user {}

definition doc {
  relation viewer: user with small | user with small and expiration
}
`
	if _, _, err := ds.WriteSchema(ctx, "small.zed", []byte(src)); err != nil {
		t.Fatal(err)
	}
	bad := []struct{ name, context, msg string }{
		{"unknown parameter", `{"amount":1,"colour":"red"}`, "unknown parameter `colour`"},
		{"wrong type", `{"amount":"lots"}`, "could not convert context parameter `amount`"},
		{"wrong type in a list", `{"tags":["x",3]}`, "could not convert context parameter `tags`"},
		{"not a list", `{"tags":"x"}`, "could not convert context parameter `tags`"},
		{"int out of range", `{"amount":1e30}`, "could not convert context parameter `amount`"},
		{"negative uint", `{"count":-1}`, "could not convert context parameter `count`"},
		{"fraction for an int", `{"amount":1.5}`, "could not convert context parameter `amount`"},
	}
	n := 0
	for _, tt := range bad {
		for _, exp := range []string{"", "[expiration:2999-01-01T00:00:00Z]"} {
			name := tt.name
			if exp != "" {
				name += " with expiration"
			}
			n++
			t.Run(name, func(t *testing.T) {
				// Each run has resources of its own in the one store.
				rel := func(doc, user, context string) string {
					return fmt.Sprintf("doc:r%d%s#viewer@user:%s[small:%s]%s", n, doc, user, context, exp)
				}
				badRel := rel("b", "cy", tt.context)
				// The write path refuses it, with msg.
				_, err := ds.Write(ctx, updates(t, tuples.Touch, badRel))
				if err == nil || !errors.Is(err, tuples.ErrInvalidRelationship) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("Write of %s: %v, want an invalid relationship mentioning %q", badRel, err, tt.msg)
				}
				input := strings.Join([]string{
					rel("a", "ana", `{"amount":1}`),                       // line 1, batch 1
					rel("a", "bo", `{"amount":2,"count":3,"tags":["x"]}`), // line 2, batch 1
					rel("b", "ana", `{"amount":3}`),                       // line 3, batch 2
					badRel,                                                // line 4, batch 2
					rel("b", "di", `{"tags":["y"]}`),                      // line 5, batch 3
				}, "\n")
				first := []string{rel("a", "ana", `{"amount":1}`), rel("a", "bo", `{"amount":2,"count":3,"tags":["x"]}`)}
				mine := tuples.Filter{ResourceType: "doc", ResourceIDPrefix: fmt.Sprintf("r%d", n)}
				res, err := ds.Import(ctx, strings.NewReader(input), tuples.ImportOptions{Name: "in.txt", BatchSize: 2})
				var le *tuples.LineError
				if !errors.As(err, &le) || le.File != "in.txt" || le.Line != 4 || !errors.Is(err, tuples.ErrInvalidRelationship) ||
					!strings.HasPrefix(err.Error(), "in.txt:4: ") || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("Import: %v, want in.txt:4: an invalid relationship mentioning %q", err, tt.msg)
				}
				got, lerr := listAll(ctx, ds, 0, mine)
				if lerr != nil {
					t.Fatal(lerr)
				}
				if want := sorted(first...); !reflect.DeepEqual(got, want) {
					t.Errorf("stored %q, want only the first batch %q", got, want)
				}
				if res.Imported != 2 || res.Batches != 1 {
					t.Errorf("result %+v, want 2 imported in 1 batch", res.ImportStats)
				}

				// SkipInvalid skips that line alone.
				res, err = ds.Import(ctx, strings.NewReader(input), tuples.ImportOptions{Name: "in.txt", BatchSize: 2, SkipInvalid: true})
				if err != nil {
					t.Fatal(err)
				}
				if res.Imported != 4 || res.Skipped != 1 || len(res.Invalid) != 1 || !strings.HasPrefix(res.Invalid[0].Error(), "in.txt:4: ") {
					t.Errorf("SkipInvalid: result %+v, errors %v; want 4 imported, line 4 skipped", res.ImportStats, res.Invalid)
				}
				got, lerr = listAll(ctx, ds, 0, mine)
				if lerr != nil {
					t.Fatal(lerr)
				}
				if want := sorted(append(first, rel("b", "ana", `{"amount":3}`), rel("b", "di", `{"tags":["y"]}`))...); !reflect.DeepEqual(got, want) {
					t.Errorf("SkipInvalid: stored %q, want %q", got, want)
				}
			})
		}
	}
}

func testImportSkipInvalid(t *testing.T, f Factory) {
	ds := newStore(t, f, Config{})
	input := "document:a#viewer@user:ana\nnot a relationship\ndocument:a#editor@user:ana\ndocument:b#viewer@user:bo\n" +
		"document:c#viewer@user:" + strings.Repeat("x", tuples.MaxIDLength+1) + "\n"
	res, err := ds.Import(testContext(t), strings.NewReader(input), tuples.ImportOptions{Name: "in.txt", SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Imported != 2 || res.Skipped != 3 || len(res.Invalid) != 3 {
		t.Fatalf("result %+v with %d errors, want 2 imported and 3 skipped", res.ImportStats, len(res.Invalid))
	}
	for i, line := range []string{"in.txt:2: ", "in.txt:5: ", "in.txt:3: "} {
		found := false
		for _, e := range res.Invalid {
			found = found || strings.HasPrefix(e.Error(), line)
		}
		if !found {
			t.Errorf("error %d: no error starts with %q in %v", i, line, res.Invalid)
		}
	}
	if got, want := all(t, ds, 0), []string{"document:a#viewer@user:ana", "document:b#viewer@user:bo"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
}

func testImportYAML(t *testing.T, f Factory) {
	const yamlFile = `schema: |-
  definition user {}
relationships: |
  // the team
  document:a#viewer@user:ana

  document:a#viewer@group:eng#member
  group:eng#member@user:bo
assertions:
  assertTrue:
    - document:a#view@user:ana
`
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	res, err := ds.Import(ctx, strings.NewReader(yamlFile), tuples.ImportOptions{Name: "model.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"document:a#viewer@group:eng#member", "document:a#viewer@user:ana", "group:eng#member@user:bo"}
	if got := all(t, ds, 0); !reflect.DeepEqual(got, want) || res.Imported != 3 {
		t.Errorf("stored %q (%d imported), want %q", got, res.Imported, want)
	}
	// The schema in the file is not written.
	if _, src, _, _ := ds.SchemaSource(ctx); string(src) != testSchemaSrc {
		t.Errorf("importing a YAML file changed the schema")
	}
	// FormatYAML reads YAML whatever the name.
	if res, err := ds.Import(ctx, strings.NewReader(yamlFile), tuples.ImportOptions{Name: "model.txt", Format: tuples.FormatYAML}); err != nil || res.Imported != 3 {
		t.Errorf("FormatYAML: %d imported, %v", res.Imported, err)
	}

	bad := strings.Replace(yamlFile, "group:eng#member@user:bo", "group:eng#member@user:", 1)
	_, err = ds.Import(ctx, strings.NewReader(bad), tuples.ImportOptions{Name: "model.yml"})
	if err == nil || !strings.HasPrefix(err.Error(), "model.yml:8: ") {
		t.Errorf("error %v, want model.yml:8: ...", err)
	}
	for _, tt := range []struct{ in, msg string }{
		{"schema: x\n", "no relationships block"},
		{"relationships: [a, b]\n", "model.yaml:1:16: relationships must be a string"},
		{"- a\n", "must be a mapping"},
		{"relationships: \"a\n", "not a YAML file"},
	} {
		_, err := ds.Import(ctx, strings.NewReader(tt.in), tuples.ImportOptions{Name: "model.yaml"})
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.msg)
		}
	}
}

// testImportTouch checks that Import replaces existing relationships (as
// TOUCH), their caveats and expirations too, in both indexes.
func testImportTouch(t *testing.T, f Factory) {
	ds := newStoreWith(t, f, Config{}, `document:a#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`, "document:a#viewer@user:bo", "document:b#viewer@user:cy")
	in := "document:a#viewer@user:ana\n" +
		"document:a#viewer@user:bo[expiration:2999-01-01T00:00:00Z]\n" +
		`document:a#viewer@user:cy[only_weekdays:{"tz":"UTC"}]` + "\n"
	if _, err := ds.Import(testContext(t), strings.NewReader(in), tuples.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"document:a#viewer@user:ana",
		"document:a#viewer@user:bo[expiration:2999-01-01T00:00:00Z]",
		`document:a#viewer@user:cy[only_weekdays:{"tz":"UTC"}]`,
		"document:b#viewer@user:cy",
	}
	if got := all(t, ds, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("stored %q, want %q", got, want)
	}
	checkViews(t, ds, 0, nil)
}

// testImportChangeFeed checks that imported batches appear in the change
// feed, one change set per batch, each with its lines in order.
func testImportChangeFeed(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	head0 := head(t, ds)
	var lines []string
	for i := range 5 {
		lines = append(lines, fmt.Sprintf("document:d%d#viewer@user:u%d", 5-i, i))
	}
	res, err := ds.Import(ctx, strings.NewReader(strings.Join(lines, "\n")), tuples.ImportOptions{BatchSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	sets, _, err := ds.Changes(ctx, head0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	prev := head0
	for i, cs := range sets {
		if cs.Revision <= prev {
			t.Errorf("change set %d at revision %d, after %d", i, cs.Revision, prev)
		}
		prev = cs.Revision
		for _, c := range cs.Changes {
			if c.Op != tuples.Touch {
				t.Errorf("change %v, want a TOUCH", c)
			}
			got = append(got, c.Relationship.String())
		}
	}
	if len(sets) != 2 || res.Batches != 2 || !reflect.DeepEqual(got, lines) {
		t.Errorf("%d change sets with %q, want 2 with %q", len(sets), got, lines)
	}
	if len(sets) == 2 && (len(sets[0].Changes) != 3 || sets[1].Revision != res.Revision) {
		t.Errorf("change sets of %d and %d changes, the last at %d; want 3 and 2, the last at %d", len(sets[0].Changes), len(sets[1].Changes), sets[1].Revision, res.Revision)
	}
}

func testExportImportRoundTrip(t *testing.T, f Factory) {
	ctx := testContext(t)
	src := newStore(t, f, Config{})
	input := "document:a#viewer@user:ana\n" +
		`document:a#viewer@user:bo[only_weekdays:{"tz":"UTC"}]` + "\n" +
		"document:a#viewer@user:cy[expiration:2999-01-01T00:00:00Z]\n" +
		"document:a#viewer@user:*\n" +
		"document:b#viewer@group:eng#member\n" +
		"group:eng#member@user:ana\n"
	if _, err := src.Import(ctx, strings.NewReader(input), tuples.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rev, n, err := src.Export(ctx, &out, tuples.ExportOptions{Header: true})
	if err != nil {
		t.Fatal(err)
	}
	if h := head(t, src); rev != h || n != 6 {
		t.Errorf("export at %d of %d relationships, want %d of 6", rev, n, h)
	}
	if !strings.HasPrefix(out.String(), "# relationships exported by reach at revision "+rev.Token()+"\n") {
		t.Errorf("export header missing: %q", out.String())
	}
	dst := newStore(t, f, Config{})
	if _, err := dst.Import(ctx, bytes.NewReader(out.Bytes()), tuples.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if a, b := all(t, src, 0), all(t, dst, 0); !reflect.DeepEqual(a, b) {
		t.Errorf("after the round trip %q, want %q", b, a)
	}
	var again bytes.Buffer
	if _, _, err := dst.Export(ctx, &again, tuples.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := strings.Cut(out.String(), "\n"); body != again.String() {
		t.Errorf("second export differs:\n%s\nwant\n%s", again.String(), body)
	}

	var part bytes.Buffer
	if _, n, err := src.Export(ctx, &part, tuples.ExportOptions{Filter: tuples.Filter{ResourceType: "group"}}); err != nil || n != 1 || part.String() != "group:eng#member@user:ana\n" {
		t.Errorf("filtered export: %q, %d, %v", part.String(), n, err)
	}
	checkViews(t, dst, 0, nil)
}
