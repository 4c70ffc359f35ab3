package validation

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

const sampleFile = `---
schema: |+
  definition user {}

  definition document {
    relation reader: user
    permission view = reader
  }

relationships: >-
  document:first#reader@user:tom#...

  // a comment

  document:first#reader@user:fred
assertions:
  assertTrue:
    - "document:first#view@user:tom"
    - 'document:first#view@user:fred with {"n": 1}'
  assertFalse: []
  assertCaveated: null
validation:
  document:first#view:
    - "[user:tom] is <document:first#reader>"
    - "[user:fred#...] is <document:first#reader>"
`

func TestParseSample(t *testing.T) {
	f, err := Parse("sample.yaml", []byte(sampleFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Schema, "definition document") || f.SchemaName != "sample.yaml" || f.SchemaLine != 2 {
		t.Errorf("schema = %q name %q line %d", f.Schema, f.SchemaName, f.SchemaLine)
	}
	wantRels := []Line{{"document:first#reader@user:tom#...", 11}, {"document:first#reader@user:fred", 15}}
	if !reflect.DeepEqual(f.Relationships, wantRels) {
		t.Errorf("relationships = %+v, want %+v", f.Relationships, wantRels)
	}
	if len(f.Assertions) != 2 {
		t.Fatalf("assertions = %+v", f.Assertions)
	}
	a := f.Assertions[1]
	if a.Kind != AssertTrue || a.Relationship != "document:first#view@user:fred" || a.Context["n"] != 1.0 || a.Line != 19 {
		t.Errorf("assertion = %+v", a)
	}
	if len(f.Validation) != 1 || f.Validation[0].Key != "document:first#view" || len(f.Validation[0].Subjects) != 2 {
		t.Fatalf("validation = %+v", f.Validation)
	}
	if s := f.Validation[0].Subjects[1]; s.Subject != "user:fred" || s.Line != 25 || !reflect.DeepEqual(s.Resources, []string{"document:first#reader"}) {
		t.Errorf("expected subject = %+v", s)
	}
}

func TestParseSchemaFile(t *testing.T) {
	src := "schemaFile: model.zed\nrelationships: \"\"\n"
	read := func(name string) ([]byte, error) {
		if name != "model.zed" {
			return nil, os.ErrNotExist
		}
		return []byte("definition user {}"), nil
	}
	f, err := Parse("dir/v.yaml", []byte(src), read)
	if err != nil {
		t.Fatal(err)
	}
	if f.Schema != "definition user {}" || f.SchemaName != "dir/model.zed" {
		t.Errorf("schema %q from %q", f.Schema, f.SchemaName)
	}
	if _, err := Parse("dir/v.yaml", []byte("schemaFile: other.zed\n"), read); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing schema file: err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "empty file"},
		{"not a mapping", "- a\n- b\n", "must be a mapping"},
		{"bad yaml", "schema: [\n", "invalid validation file"},
		{"unknown key", "schema: x\nassertion: y\n", `unknown key "assertion"`},
		{"both schemas", "schema: x\nschemaFile: y.zed\n", "both schema and schemaFile"},
		{"escaping schemaFile", "schemaFile: ../y.zed\n", "must be a relative path"},
		{"absolute schemaFile", "schemaFile: /etc/y.zed\n", "must be a relative path"},
		{"schema not string", "schema: [a]\n", "schema must be a string"},
		{"unknown assertion block", "assertions:\n  assertMaybe: []\n", `unknown assertion block "assertMaybe"`},
		{"assertions not list", "assertions:\n  assertTrue: x\n", "must be a list"},
		{"bad context", "assertions:\n  assertTrue:\n    - 'a:b#c@d:e with {nope'\n", "caveat context"},
		{"context trailing", "assertions:\n  assertTrue:\n    - 'a:b#c@d:e with {} x'\n", "text after the JSON"},
		{"validation no subject", "validation:\n  a:b#c:\n    - 'is <a:b#c>'\n", "want `[subject]"},
		{"validation bad onr", "validation:\n  a:b#c:\n    - '[user:x] is <a:b>'\n", "invalid resource and relation"},
		{"non-wildcard exception", "validation:\n  a:b#c:\n    - '[user:x - {user:y}] is <a:b#c>'\n", "only a wildcard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tt.src), func(string) ([]byte, error) { return []byte(""), nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseExpectedSubject(t *testing.T) {
	tests := []struct {
		in   string
		want ExpectedSubject
	}{
		{"[user:tom] is <document:first#reader>", ExpectedSubject{Subject: "user:tom", Resources: []string{"document:first#reader"}}},
		{"[user:tom#...] is <b:x#y>/<a:x#y>", ExpectedSubject{Subject: "user:tom", Resources: []string{"a:x#y", "b:x#y"}}},
		{"[group:eng#member] is <d:1#r>", ExpectedSubject{Subject: "group:eng#member", Resources: []string{"d:1#r"}}},
		{"[user:sarah[...]] is <d:1#r>", ExpectedSubject{Subject: "user:sarah", Caveated: true, Resources: []string{"d:1#r"}}},
		{"[user:* - {user:z, user:a[...]}] is <d:1#r>", ExpectedSubject{Subject: "user:*", Exceptions: []string{"user:a[...]", "user:z"}, Resources: []string{"d:1#r"}}},
		{"[user:tom]", ExpectedSubject{Subject: "user:tom"}},
	}
	for _, tt := range tests {
		got, err := ParseExpectedSubject(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		tt.want.Text = tt.in
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleFile))
	f.Add([]byte("schemaFile: x.zed\n"))
	f.Add([]byte("validation:\n  a:b#c:\n    - '[user:* - {user:y}] is <a:b#c>'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.yaml", data, func(string) ([]byte, error) { return nil, os.ErrNotExist })
		if err != nil {
			if file != nil {
				t.Fatal("file returned with an error")
			}
			return
		}
		for _, l := range file.Relationships {
			if l.Text == "" || strings.HasPrefix(l.Text, "//") {
				t.Fatalf("blank or comment line kept: %q", l.Text)
			}
		}
	})
}
