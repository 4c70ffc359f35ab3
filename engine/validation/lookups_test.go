package validation

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/reach-authz/reach/engine"
)

const sampleLookups = `# a comment
source: "groups.yaml"
matrix: "groups.matrix.yaml"
lookupResources:
  - "document#view@user:amy -> [doc, pub]"
  - "document#view@user:bob -> []"
  - "document#edit@user:fred -> [doc]"
  - "document#reader@group:eng#member -> [doc]"
  - "group#member@user:tom -> [eng]"
conditionalLookupResources: []
erroredLookups: []
erroredChecks: []
conditionalChecks: []
`

// readGroups serves groupsSchema as the matrix file.
func readGroups(name string) (*File, error) {
	if name != "groups.matrix.yaml" {
		return nil, os.ErrNotExist
	}
	return Parse(name, []byte(groupsSchema), nil)
}

func TestParseLookups(t *testing.T) {
	src := strings.Replace(sampleLookups, "conditionalChecks: []", "conditionalChecks:\n  - \"document:doc#view@user:tom\"", 1)
	l, err := ParseLookups("groups.lookups.yaml", []byte(src), readGroups)
	if err != nil {
		t.Fatal(err)
	}
	if l.Source != "groups.yaml" || l.Matrix == nil || l.Matrix.Path != "groups.matrix.yaml" {
		t.Fatalf("source %q matrix %+v", l.Source, l.Matrix)
	}
	if len(l.Lookups) != 5 {
		t.Fatalf("lookups %+v", l.Lookups)
	}
	want := LookupExpectation{
		Text: "document#reader@group:eng#member", Line: 8, ResourceType: "document", Permission: "reader",
		Subject: engine.Subject{Type: "group", ID: "eng", Relation: "member"}, IDs: []string{"doc"},
	}
	if !reflect.DeepEqual(l.Lookups[3], want) {
		t.Errorf("lookup = %+v, want %+v", l.Lookups[3], want)
	}
	if got := l.Lookups[1].IDs; got == nil || len(got) != 0 {
		t.Errorf("empty result list = %#v, want an empty slice", got)
	}
	if len(l.ConditionalChecks) != 1 || l.ConditionalChecks[0].Kind != AssertCaveated || l.ConditionalChecks[0].Line != 14 {
		t.Errorf("conditional checks %+v", l.ConditionalChecks)
	}
}

func TestParseLookupsErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty", "", "empty file"},
		{"not a mapping", "- a\n", "must be a mapping"},
		{"no matrix", "lookupResources: []\n", "no matrix file"},
		{"escaping matrix", "matrix: ../x.yaml\n", "must be a relative path"},
		{"missing matrix", "matrix: nope.yaml\n", "file does not exist"},
		{"unknown key", "matrix: groups.matrix.yaml\nlookups: []\n", `unknown key "lookups"`},
		{"not a list", "matrix: groups.matrix.yaml\nlookupResources: x\n", "must be a list"},
		{"no arrow", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#view@user:amy'\n", "want `type#permission@subject -> [id, ...]`"},
		{"no brackets", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#view@user:amy -> doc'\n", "want `type#permission"},
		{"empty id", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#view@user:amy -> [a, ]'\n", "empty resource id"},
		{"duplicate id", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#view@user:amy -> [a, a]'\n", "listed twice"},
		{"resource id given", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document:doc#view@user:amy -> []'\n", "want resource_type#permission@subject"},
		{"wildcard subject", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#view@user:* -> []'\n", "plain subject"},
		{"bad subject", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#view@user -> []'\n", "lookup"},
		{"duplicate lookup", "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#view@user:amy -> []'\n  - 'document#view@user:amy -> [doc]'\n", "twice"},
		{"errored without field", "matrix: groups.matrix.yaml\nerroredChecks:\n  - {error: x}\n", "mappings with check and error"},
		{"bad conditional check", "matrix: groups.matrix.yaml\nconditionalChecks:\n  - [x]\n", "must be strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLookups("l.yaml", []byte(tt.src), readGroups)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
			if l != nil {
				t.Error("lookups returned with an error")
			}
		})
	}
	if _, err := ParseLookups("l.yaml", []byte("matrix: [\n"), readGroups); !errors.Is(err, ErrSyntax) {
		t.Errorf("bad YAML: err = %v, want ErrSyntax", err)
	}
}

func TestIsLookups(t *testing.T) {
	for src, want := range map[string]bool{
		sampleLookups:         true,
		"matrix: x.yaml\n":    true,
		groupsSchema:          false,
		"":                    false,
		"- lookupResources\n": false,
		"schema: [\n":         false,
	} {
		if got := IsLookups([]byte(src)); got != want {
			t.Errorf("IsLookups(%.30q) = %v, want %v", src, got, want)
		}
	}
}

func runLookups(t *testing.T, src string) *Result {
	t.Helper()
	return runLookupsOpts(t, src, DefaultOptions())
}

func runLookupsOpts(t *testing.T, src string, opts Options) *Result {
	t.Helper()
	l, err := ParseLookups("groups.lookups.yaml", []byte(src), readGroups)
	if err != nil {
		t.Fatal(err)
	}
	r, err := RunLookups(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunLookups(t *testing.T) {
	r := runLookups(t, sampleLookups)
	if r.Status != Passed || r.Kind != KindLookups {
		t.Fatalf("status %v kind %s: %s %+v", r.Status, r.Kind, r.Error, r.Failures())
	}
	if p, f := r.Counts(); p != 5 || f != 0 {
		t.Errorf("counts %d, %d", p, f)
	}

	r = runLookups(t, `matrix: groups.matrix.yaml
lookupResources:
  - "document#view@user:tom -> [doc]"
  - "document#view@user:fred -> [doc, nope]"
erroredChecks:
  - {check: "document:doc#view@user:tom", error: "some error"}
erroredLookups:
  - {lookup: "document#edit@user:tom", error: "some error"}
`)
	if r.Status != Failed {
		t.Fatalf("status %v: %s", r.Status, r.Error)
	}
	fails := r.Failures()
	if len(fails) != 4 {
		t.Fatalf("failures %+v", fails)
	}
	// user:tom reaches both documents; the explanation says what Check
	// answers for the id in question.
	if f := fails[0]; f.Kind != KindLookupResources || f.Got != "[doc, pub]" || !strings.Contains(f.Explanation, "unexpected pub: check document:pub#view@user:tom is allowed") {
		t.Errorf("failure %+v", f)
	}
	if f := fails[1]; f.Got != "[doc, pub]" || !strings.Contains(f.Explanation, "missing nope: check document:nope#view@user:fred is denied") {
		t.Errorf("failure %+v", f)
	}
	if f := fails[2]; f.Kind != KindErroredLookup || f.Line != 8 {
		t.Errorf("failure %+v", f)
	}
	if f := fails[3]; f.Kind != KindErroredCheck || f.Got != "allowed" {
		t.Errorf("failure %+v", f)
	}

	// Conditional results need caveats: unsupported with them off; with
	// them on (the default) they are compared, and groups has no caveat.
	const conditional = `matrix: groups.matrix.yaml
conditionalLookupResources:
  - "document#view@user:tom -> [doc]"
`
	noCaveats := DefaultOptions()
	noCaveats.Caveats = false
	r = runLookupsOpts(t, conditional, noCaveats)
	if r.Status != Unsupported || !strings.Contains(strings.Join(r.Unsupported, ";"), "line 3: conditional lookup results") {
		t.Errorf("conditional results, caveats off: status %v %q", r.Status, r.Unsupported)
	}
	r = runLookups(t, conditional)
	if fails := r.Failures(); r.Status != Failed || len(fails) != 1 || !strings.Contains(fails[0].Explanation, "missing conditional doc") {
		t.Errorf("conditional results: status %v failures %+v, want failed: no conditional result", r.Status, fails)
	}
	r = runLookups(t, "matrix: groups.matrix.yaml\nlookupResources:\n  - 'document#frobnicate@user:tom -> []'\n")
	if r.Status != Invalid || !strings.Contains(r.Error, "`frobnicate` not found") {
		t.Errorf("unknown permission: status %v %q", r.Status, r.Error)
	}
}

func FuzzParseLookups(f *testing.F) {
	f.Add([]byte(sampleLookups))
	f.Add([]byte("matrix: groups.matrix.yaml\nerroredChecks:\n  - {check: 'a:b#c@d:e', error: x}\n"))
	f.Add([]byte("matrix: groups.matrix.yaml\nlookupResources:\n  - 'a#b@c:d#e -> [x, y]'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLookups("f.yaml", data, readGroups)
		if err != nil {
			if l != nil {
				t.Fatal("lookups returned with an error")
			}
			return
		}
		for _, le := range l.Lookups {
			if le.ResourceType == "" || le.Permission == "" || le.Subject.Type == "" || le.Subject.ID == "" {
				t.Fatalf("incomplete lookup %+v", le)
			}
			for i := 1; i < len(le.IDs); i++ {
				if le.IDs[i-1] >= le.IDs[i] {
					t.Fatalf("ids not sorted and unique: %q", le.IDs)
				}
			}
		}
	})
}
