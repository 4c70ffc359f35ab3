package tuples

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/internal/golden"
)

// TestParseGolden parses every line of testdata/parse.txt and compares the
// printed result (or the error) with testdata/parse.golden.
func TestParseGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "parse.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		r, err := Parse(line)
		if err != nil {
			fmt.Fprintf(&out, "%s\n\terror: %v\n", line, err)
			continue
		}
		fmt.Fprintf(&out, "%s\n\t%s\n", line, r)
		again, err := Parse(r.String())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("%s: reparsing %s gave %+v, %v", line, r, again, err)
		}
	}
	golden.Check(t, filepath.Join("testdata", "parse.golden"), out.String())
}

func TestParseFields(t *testing.T) {
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want Relationship
	}{
		{"document:q3#viewer@group:eng#member", Relationship{ResourceType: "document", ResourceID: "q3", Relation: "viewer", SubjectType: "group", SubjectID: "eng", SubjectRelation: "member"}},
		{"document:q3#viewer@user:*", Relationship{ResourceType: "document", ResourceID: "q3", Relation: "viewer", SubjectType: "user", SubjectID: "*"}},
		{"document:q3#viewer@user:ana#...", Relationship{ResourceType: "document", ResourceID: "q3", Relation: "viewer", SubjectType: "user", SubjectID: "ana"}},
		{`doc:abc#viewer@user:ana[only_weekdays:{"tz":"UTC"}][expiration:2027-01-01T00:00:00Z]`, Relationship{
			ResourceType: "doc", ResourceID: "abc", Relation: "viewer", SubjectType: "user", SubjectID: "ana",
			Caveat:     &Caveat{Name: "only_weekdays", Context: map[string]any{"tz": "UTC"}},
			Expiration: &exp,
		}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrorColumn(t *testing.T) {
	tests := []struct {
		in   string
		part string
		col  int
	}{
		{"document:q 3#viewer@user:ana", "resource id", 11},
		{"document:q3#viewer@user:ana!", "subject id", 28},
		{"document:q3#Viewer@user:ana", "relation", 13},
		{"document:q3#viewer@user:ana[expiration:soon]", "expiration", 40},
		{"document:" + strings.Repeat("a", MaxIDLength+1) + "#viewer@user:ana", "resource id", 10},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		pe, ok := err.(*ParseError)
		if !ok {
			t.Errorf("Parse(%q) error = %v, want a *ParseError", tt.in, err)
			continue
		}
		if pe.Part != tt.part || pe.Column != tt.col {
			t.Errorf("Parse(%q): part %q column %d, want %q column %d (%v)", tt.in, pe.Part, pe.Column, tt.part, tt.col, err)
		}
	}
}

func TestIDLimits(t *testing.T) {
	long := strings.Repeat("x", MaxIDLength)
	if _, err := Parse("document:" + long + "#viewer@user:" + long); err != nil {
		t.Errorf("ids of %d characters: %v", MaxIDLength, err)
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// prints to a string that parses back to the same relationship.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"document:q3#viewer@group:eng#member",
		"document:q3#viewer@user:*",
		`doc:1#viewer@user:ana[only_weekdays:{"tz":"UTC","n":[1,2.5,null]}]`,
		"doc:1#viewer@user:ana[expiration:2027-01-01T00:00:00.123Z]",
		`doc:1#viewer@user:ana[c_1:{"a":{"b":"]"}}][expiration:2027-01-01T00:00:00Z]`,
		"org/doc:a/b|c#rel@org/user:x#member",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("Parse(%q) accepted a relationship Validate refuses: %v", s, err)
		}
		printed := r.String()
		again, err := Parse(printed)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", s, printed, err)
		}
		if again.String() != printed {
			t.Fatalf("round trip of %q: %q then %q", s, printed, again.String())
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, r)
		}
	})
}
