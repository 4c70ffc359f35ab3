package validation

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// groupsSchema has nested groups, a wildcard, an intersection and an
// exclusion, for the assertion and expected-relation tests.
const groupsSchema = `schema: |-
  definition user {}

  definition group {
    relation member: user | group#member
  }

  definition document {
    relation reader: user | user:* | group#member
    relation writer: user
    relation banned: user
    permission edit = writer & reader
    permission view = reader - banned
  }
relationships: |-
  document:doc#reader@user:tom
  document:doc#reader@group:eng#member
  group:eng#member@user:tom
  group:eng#member@user:fred
  group:eng#member@group:sub#member
  group:sub#member@user:amy
  document:doc#writer@user:fred
  document:doc#writer@user:zed
  document:pub#reader@user:*
  document:pub#reader@user:tom
  document:pub#banned@user:bob
`

func runText(t *testing.T, src string) *Result {
	t.Helper()
	return runTextOpts(t, src, DefaultOptions())
}

func runTextOpts(t *testing.T, src string, opts Options) *Result {
	t.Helper()
	f, err := Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunAssertions(t *testing.T) {
	r := runText(t, groupsSchema+`assertions:
  assertTrue:
    - document:doc#view@user:amy
    - document:doc#edit@user:fred
    - document:pub#view@user:anyone
    - document:doc#reader@group:sub#member
    - document:doc#view@user:zed
  assertFalse:
    - document:doc#edit@user:zed
    - document:pub#view@user:bob
    - document:doc#view@user:amy
`)
	if r.Status != Failed {
		t.Fatalf("status %v (%s)", r.Status, r.Error)
	}
	passed, failed := r.Counts()
	if passed != 6 || failed != 2 {
		t.Errorf("counts %d passed, %d failed; want 6, 2", passed, failed)
	}
	fails := r.Failures()
	if len(fails) != 2 {
		t.Fatalf("failures %+v", fails)
	}
	// An unexpected denial explains the branches tried; an unexpected
	// grant, its proof.
	if f := fails[0]; f.Text != "document:doc#view@user:zed" || f.Got != "denied" || f.Line != 33 || !strings.Contains(f.Explanation, "document:doc#reader") {
		t.Errorf("first failure %+v", f)
	}
	if f := fails[1]; f.Kind != "assertFalse" || f.Got != "allowed" || !strings.Contains(f.Explanation, "group:sub#member") {
		t.Errorf("second failure %+v", f)
	}
}

func TestRunExpectedRelations(t *testing.T) {
	// What zed validate computes (a recursive expansion, SpiceDB's
	// developmentmembership): subject sets are listed and expanded; each
	// subject names the relations it was found in directly.
	good := `validation:
  document:doc#reader:
    - "[user:tom] is <document:doc#reader>/<group:eng#member>"
    - "[group:eng#member] is <document:doc#reader>"
    - "[user:fred] is <group:eng#member>"
    - "[group:sub#member] is <group:eng#member>"
    - "[user:amy] is <group:sub#member>"
  document:doc#edit:
    - "[user:fred] is <document:doc#writer>/<group:eng#member>"
  document:pub#view:
    - "[user:* - {user:bob}] is <document:pub#reader>"
    - "[user:tom] is <document:pub#reader>"
  document:pub#banned:
    - "[user:bob] is <document:pub#banned>"
  document:pub#writer: []
`
	r := runText(t, groupsSchema+good)
	if r.Status != Passed || r.ExpectedRelations != 5 {
		t.Fatalf("status %v, %d expected relations, failures %+v, error %s", r.Status, r.ExpectedRelations, r.Validation, r.Error)
	}

	tests := []struct {
		name, block string
		want        []string
	}{
		{"missing subject", `  document:doc#edit: []`, []string{"subject `user:fred` found but missing from specified"}},
		{"extra subject", `  document:doc#edit:
    - "[user:fred] is <document:doc#writer>/<group:eng#member>"
    - "[user:zed] is <document:doc#writer>"`, []string{"missing expected subject `user:zed`"}},
		{"different relations", `  document:doc#edit:
    - "[user:fred] is <document:doc#writer>"`, []string{"found different relationships for subject `user:fred`: specified <document:doc#writer>, computed <document:doc#writer>/<group:eng#member>"}},
		{"different exclusions", `  document:pub#view:
    - "[user:*] is <document:pub#reader>"
    - "[user:tom] is <document:pub#reader>"`, []string{"found different excluded subjects for subject `user:*`: specified {}, computed {user:bob}"}},
		{"exclusions on a concrete subject", `  document:pub#banned:
    - "[user:bob[...]] is <document:pub#banned>"`, []string{"caveat mismatch for subject `user:bob`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runText(t, groupsSchema+"validation:\n"+tt.block+"\n")
			if r.Status != Failed {
				t.Fatalf("status %v, error %s", r.Status, r.Error)
			}
			var msgs []string
			for _, v := range r.Validation {
				msgs = append(msgs, v.Message)
			}
			if len(msgs) != len(tt.want) {
				t.Fatalf("failures %q, want %d", msgs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(msgs[i], w) {
					t.Errorf("failure %q does not contain %q", msgs[i], w)
				}
			}
		})
	}
}

func TestRunCycleInExpectedRelations(t *testing.T) {
	// A group cycle: the recursive expansion stops where it began.
	r := runText(t, `schema: |-
  definition user {}
  definition group {
    relation member: user | group#member
  }
relationships: |-
  group:a#member@group:b#member
  group:b#member@group:a#member
  group:b#member@user:tom
validation:
  group:a#member:
    - "[group:b#member] is <group:a#member>"
    - "[group:a#member] is <group:b#member>"
    - "[user:tom] is <group:b#member>"
`)
	if r.Status != Passed {
		t.Fatalf("status %v %s %+v", r.Status, r.Error, r.Validation)
	}
}

func TestRunInvalid(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"no schema", "relationships: ''\n", "no schema"},
		{"schema error", "schema: 'definition user { relation x: nope }'\n", "nope"},
		{"bad relationship", "schema: 'definition user {}'\nrelationships: 'user:a#b@'\n", "t.yaml:2"},
		{"relationship outside the schema", "schema: 'definition user {}'\nrelationships: 'user:a#friend@user:b'\n", "friend"},
		{"unknown relation in assertion", "schema: 'definition user {}'\nassertions:\n  assertTrue:\n    - user:a#friend@user:b\n", "relation or permission `friend` not found"},
		{"unknown subject type", "schema: 'definition user {}'\nassertions:\n  assertFalse:\n    - user:a#friend@robot:b\n", "not found"},
		{"wildcard assertion", "schema: 'definition user {}'\nassertions:\n  assertFalse:\n    - user:a#friend@user:*\n", "wildcard"},
		{"unknown validation relation", "schema: 'definition user {}'\nvalidation:\n  user:a#friend: []\n", "`friend` not found"},
		{"caveat type error", "schema: |-\n  caveat cav(x int) { x == 'a' }\n  definition user {}\n", "t.yaml:2:23: caveat cav: found no matching overload"},
		{"caveat context: unknown name", "schema: |-\n  caveat cav(x int) { x > 1 }\n  definition user {}\n  definition doc {\n    relation rel: user with cav\n  }\nrelationships: 'doc:a#rel@user:b[cav:{\"y\":1}]'\n", "t.yaml:7"},
		{"caveat context: bad type", "schema: |-\n  caveat cav(x int) { x > 1 }\n  definition user {}\n  definition doc {\n    relation rel: user with cav\n  }\nrelationships: 'doc:a#rel@user:b[cav:{\"x\":\"z\"}]'\n", "could not convert context parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runText(t, tt.src)
			if r.Status != Invalid || !strings.Contains(r.Error, tt.want) {
				t.Errorf("status %v error %q, want invalid mentioning %q", r.Status, r.Error, tt.want)
			}
		})
	}
}

// With Options.Caveats off, a file that needs caveat evaluation is reported
// unsupported rather than run.
func TestRunUnsupported(t *testing.T) {
	opts := DefaultOptions()
	opts.Caveats = false
	tests := []struct {
		name, src, want string
	}{
		{"caveat in schema", "schema: |-\n  caveat cav(x int) { x > 1 }\n  definition user {}\n", "caveats (the schema defines caveat cav)"},
		{"caveated relationship", "schema: |-\n  caveat cav(x int) { x > 1 }\n  definition user {}\n  definition doc {\n    relation rel: user with cav\n  }\nrelationships: 'doc:a#rel@user:b[cav]'\n", "caveats (line 7: caveated relationship"},
		{"assertCaveated", "schema: 'definition user {}'\nassertions:\n  assertCaveated:\n    - user:a#b@user:c\n", "line 4: assertCaveated"},
		{"caveat context", "schema: 'definition user {}'\nassertions:\n  assertTrue:\n    - 'user:a#b@user:c with {\"x\": 1}'\n", "line 4: assertion with caveat context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runTextOpts(t, tt.src, opts)
			if r.Status != Unsupported || !strings.Contains(strings.Join(r.Unsupported, "; "), tt.want) {
				t.Errorf("status %v unsupported %q error %q, want unsupported mentioning %q", r.Status, r.Unsupported, r.Error, tt.want)
			}
		})
	}
}

// Relationship expiration is evaluated by default; with Options.Expiration
// off, a file that uses it is reported unsupported rather than run.
func TestRunExpiration(t *testing.T) {
	const src = `schema: |-
  use expiration
  definition user {}
  definition doc {
    relation rel: user with expiration
  }
relationships: |-
  doc:a#rel@user:b[expiration:2030-01-01T00:00:00Z]
  doc:a#rel@user:c[expiration:2020-01-01T00:00:00Z]
assertions:
  assertTrue:
    - doc:a#rel@user:b
  assertFalse:
    - doc:a#rel@user:c
`
	if r := runText(t, src); r.Status != Passed {
		t.Fatalf("status %v %s %+v, want passed (user:c's relationship has expired)", r.Status, r.Error, r.Failures())
	}
	f, err := Parse("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Expiration = false
	r, err := Run(context.Background(), f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != Unsupported || !strings.Contains(strings.Join(r.Unsupported, "; "), "relationship expiration") {
		t.Errorf("with expiration off: status %v unsupported %q, want unsupported mentioning relationship expiration", r.Status, r.Unsupported)
	}
}

// A schema and ids longer than 1 KiB load into the in-memory store (Badger's
// in-memory mode refuses values above its value threshold, once 1 KiB).
func TestRunLargeValues(t *testing.T) {
	var b strings.Builder
	b.WriteString("schema: |-\n  definition user {}\n  definition doc {\n")
	for i := range 60 {
		fmt.Fprintf(&b, "    relation reader_%02d: user\n", i)
	}
	b.WriteString("  }\nrelationships: |-\n")
	id := strings.Repeat("x", 1000)
	fmt.Fprintf(&b, "  doc:%s#reader_00@user:%s\n", id, id)
	fmt.Fprintf(&b, "assertions:\n  assertTrue:\n    - doc:%s#reader_00@user:%s\n", id, id)
	r := runText(t, b.String())
	if r.Status != Passed {
		t.Fatalf("status %v: %s %+v", r.Status, r.Error, r.Failures())
	}
}
