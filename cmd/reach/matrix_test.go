package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	goldenfile "github.com/reach-authz/reach/internal/golden"

	"github.com/reach-authz/reach/tuples"
)

// matrixGoldens are the seed tables of schemas/README.md (markdown) and one
// golden per other format. Each runs on a seed's validation file, so it
// needs no setup: the tables are what `reach matrix ... --file` prints.
var matrixGoldens = []struct {
	name string // testdata/matrix/NAME.golden
	args []string
}{
	// Seed 000: the detailed matrix (columns Organization Admin, Department
	// Admin, User) plus the other department's admin and user and another
	// organization's admin; then the organization with the setting off.
	{"gifting.md", []string{"--file", "../../schemas/gifting.yaml", "--format", "markdown",
		"organization:acme", "department:sales", "user:uma", "send", "one_link:ol_sales", "automated_campaign:ac1",
		"budget", "inventory_item:inv_sales", "campaign:c_sales", "template:t_sales", "business_reason:br_acme",
		"claim_link_template:cl_sales",
		"--subjects", "user:olivia,user:dana,user:uma,user:sam,user:steve,user:gary"}},
	{"gifting_globex.md", []string{"--file", "../../schemas/gifting.yaml", "--format", "markdown",
		"organization:globex", "--subjects", "user:gary,user:gina,user:gus,user:olivia"}},
	// Seed 001: every permission for each kind of role; licences off in
	// globex; who assigns and edits roles.
	{"email_marketing.md", []string{"--file", "../../schemas/email_marketing.yaml", "--format", "markdown",
		"account:acme", "--subjects", "user:alice,user:vera,user:eddie,user:ivan,user:nora,user:sid,user:gail"}},
	{"email_marketing_globex.md", []string{"--file", "../../schemas/email_marketing.yaml", "--format", "markdown",
		"account:globex", "--subjects", "user:gail,user:alice"}},
	{"email_marketing_roles.md", []string{"--file", "../../schemas/email_marketing.yaml", "--format", "markdown",
		"role", "--permissions", "assign,edit", "--subjects", "user:sid,user:alice,user:nora,user:gail"}},
	// Seed 002: both task tables, one column per group.
	{"marketing_suite.md", []string{"--file", "../../schemas/marketing_suite.yaml", "--format", "markdown",
		"site:main", "email_group:eg_main", "email",
		"--subjects", "user:mary,user:adam,user:april,user:paul,user:mark,user:lisa,user:ian,user:molly,user:nick,user:oscar"}},
	// Seed 003: the campaign permissions, managing memberships, broadcasts.
	{"organizing.md", []string{"--file", "../../schemas/organizing.yaml", "--format", "markdown",
		"campaign:rally", "campaign:townhall", "--subjects", organizingPeople}},
	{"organizing_memberships.md", []string{"--file", "../../schemas/organizing.yaml", "--format", "markdown",
		"membership", "--permissions", "manage", "--subjects", organizingPeople}},
	{"organizing_broadcasts.md", []string{"--file", "../../schemas/organizing.yaml", "--format", "markdown",
		"broadcast", "--subjects", organizingPeople}},
	// Seed 004: one table per topic.
	{"catalogue_organization.md", []string{"--file", "../../schemas/catalogue.yaml", "--format", "markdown",
		"organization:acme", "--permissions", "edit_settings,manage_users,create_brand,create_personal_template,order_templates,create_lookbook,create_presentation",
		"--subjects", cataloguePeople}},
	{"catalogue_brands.md", []string{"--file", "../../schemas/catalogue.yaml", "--format", "markdown",
		"brand", "--permissions", "view,use,edit,delete", "--subjects", cataloguePeople}},
	{"catalogue_templates.md", []string{"--file", "../../schemas/catalogue.yaml", "--format", "markdown",
		"template", "--permissions", "view,edit,convert_to_org,publish", "--subjects", cataloguePeople}},
	{"catalogue_lookbooks.md", []string{"--file", "../../schemas/catalogue.yaml", "--format", "markdown",
		"lookbook", "--permissions", "view,archive,convert_from_test", "--subjects", cataloguePeople}},
	{"catalogue_presentations.md", []string{"--file", "../../schemas/catalogue.yaml", "--format", "markdown",
		"presentation", "--permissions", "view,edit,delete", "--subjects", cataloguePeople}},
	// The other formats, and --subjects-of.
	{"gifting_sends.table", []string{"--file", "../../schemas/gifting.yaml",
		"send", "--subjects-of", "organization:acme#member"}},
	{"gifting_one_link.csv", []string{"--file", "../../schemas/gifting.yaml", "--format", "csv",
		"one_link", "--subjects-of", "department:sales#people"}},
	{"gifting_one_link.html", []string{"--file", "../../schemas/gifting.yaml", "--format", "html",
		"one_link:ol_sales", "--subjects", "user:olivia,user:dana,user:uma"}},
}

const (
	organizingPeople = "user:olga,user:ada,user:adam,user:stan,user:sara,user:seth,user:sue,user:vic,user:val,user:tom,user:tess,user:vera"
	cataloguePeople  = "user:ann,user:abe,user:sal,user:sam,user:pia,user:pat,user:dee,user:max,user:mo,user:gail"
)

func TestMatrixGolden(t *testing.T) {
	for _, tt := range matrixGoldens {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"matrix"}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			golden := filepath.Join("testdata", "matrix", tt.name+".golden")
			goldenfile.Check(t, golden, stdout)
		})
	}
}

// TestMatrixGoldensInReadme checks that schemas/README.md shows every
// markdown golden table verbatim, so that the README's tables are what
// reach matrix prints.
func TestMatrixGoldensInReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "schemas", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range matrixGoldens {
		if !strings.HasSuffix(tt.name, ".md") {
			continue
		}
		want, err := os.ReadFile(filepath.Join("testdata", "matrix", tt.name+".golden"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), string(want)) {
			t.Errorf("schemas/README.md lacks the table of testdata/matrix/%s.golden", tt.name)
		}
		// The command line above the table reproduces it.
		if !strings.Contains(string(readme), "reach matrix "+strings.Join(readmeArgs(tt.args), " ")) {
			t.Errorf("schemas/README.md lacks the command of %s: reach matrix %s", tt.name, strings.Join(readmeArgs(tt.args), " "))
		}
	}
}

// readmeArgs are a golden's arguments as run from the repository root.
func readmeArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.TrimPrefix(a, "../../")
	}
	return out
}

// A small model with a caveat, a wildcard and a subject set, for the
// cases below.
const matrixTestYAML = `schema: |-
  caveat weekday(day string) {
    day != "sunday"
  }
  definition user {}
  definition team {
    relation member: user
  }
  definition folder {
    relation owner: user
  }
  definition doc {
    relation owner: user
    relation viewer: user | user:* | team#member | user with weekday
    permission edit = owner
    permission view = viewer + owner
  }
relationships: |-
  doc:a#owner@user:ana
  doc:a#viewer@team:eng#member
  doc:a#viewer@user:cy[weekday]
  doc:b#viewer@user:*
  team:eng#member@user:bo
`

func writeMatrixTestFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(p, []byte(matrixTestYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatrixOutput(t *testing.T) {
	file := writeMatrixTestFile(t)
	tests := []struct {
		name       string
		args       []string
		want       string
		wantStderr string
	}{
		{"single resource, conditional cell", []string{"doc:a", "--subjects", "user:ana,user:bo,user:cy,user:dee"},
			"doc:a  user:ana  user:bo  user:cy  user:dee\n" +
				"edit   ✓         ✗        ✗        ✗\n" +
				"view   ✓         ✓        ?        ✗\n" +
				"\n✓ allowed  ✗ denied  ? conditional (through a caveat not evaluated)\n", ""},
		{"type: every object named, sorted", []string{"doc", "--subjects", "user:ana,user:zed", "--permissions", "view"},
			"resource  permission  user:ana  user:zed\n" +
				"doc:a     view        ✓         ✗\n" +
				"doc:b     view        ✓         ✓\n", ""},
		{"subject set column", []string{"doc:a", "--subjects", "team:eng#member", "--permissions", "view,viewer"},
			"doc:a   team:eng#member\nview    ✓\nviewer  ✓\n", ""},
		{"relations when asked", []string{"team:eng", "--subjects", "user:bo"},
			"team:eng  user:bo\nmember    ✓\n", ""},
		{"subjects-of through a subject set, caveated holder included", []string{"doc:a", "--subjects-of", "doc:a#view", "--permissions", "edit"},
			"doc:a  user:ana  user:bo  user:cy\nedit   ✓         ✗        ✗\n", ""},
		{"subjects-of notes a wildcard", []string{"doc:b", "--subjects-of", "doc:a#view", "--permissions", "view"},
			"doc:b  user:ana  user:bo  user:cy\nview   ✓         ✓        ✓\n", ""},
		{"wildcard holder not listed", []string{"doc:a", "--subjects-of", "doc:b#view"},
			"", "every user (user:*) holds doc:b#view"},
		{"markdown", []string{"doc:a", "--subjects", "user:ana,user:cy", "--format", "markdown"},
			"| doc:a | user:ana | user:cy |\n|---|:---:|:---:|\n| edit | ✅ | 🚫 |\n| view | ✅ | ❓ |\n" +
				"\n✅ allowed, 🚫 denied, ❓ conditional (through a caveat not evaluated)\n", ""},
		{"csv", []string{"doc", "--subjects", "user:cy", "--format", "csv"},
			"resource,permission,user:cy\ndoc:a,edit,denied\ndoc:a,view,conditional\ndoc:b,edit,denied\ndoc:b,view,allowed\n", ""},
		{"html", []string{"doc", "--subjects", "user:cy", "--format", "html", "--permissions", "view"},
			"<table class=\"reach-matrix\">\n<thead>\n<tr><th>resource</th><th>permission</th><th>user:cy</th></tr>\n</thead>\n<tbody>\n" +
				"<tr><th scope=\"row\">doc:a</th><th scope=\"row\">view</th><td class=\"conditional\" title=\"conditional\">❓</td></tr>\n" +
				"<tr><th scope=\"row\">doc:b</th><th scope=\"row\">view</th><td class=\"allowed\" title=\"allowed\">✅</td></tr>\n" +
				"</tbody>\n</table>\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"matrix", "--file", file}, tt.args...)...)
			if tt.want == "" {
				// Only the stderr note matters (the wildcard is the only holder).
				if code != exitNo || !strings.Contains(stderr, tt.wantStderr) {
					t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, exitNo, tt.wantStderr)
				}
				return
			}
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if stdout != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", stdout, tt.want)
			}
		})
	}
}

func TestMatrixJSON(t *testing.T) {
	file := writeMatrixTestFile(t)
	code, stdout, stderr := reach(t, "", "matrix", "--file", file, "-o", "json", "doc:a", "--subjects", "user:ana,user:cy")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Revision string   `json:"revision"`
		Subjects []string `json:"subjects"`
		Rows     []struct {
			Resource, Permission string
			Cells                []string
		} `json:"rows"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if got.Revision == "" || strings.Join(got.Subjects, ",") != "user:ana,user:cy" || len(got.Rows) != 2 ||
		got.Rows[1].Resource != "doc:a" || got.Rows[1].Permission != "view" ||
		strings.Join(got.Rows[1].Cells, ",") != "allowed,conditional" {
		t.Errorf("unexpected JSON:\n%s", stdout)
	}
}

// TestMatrixDataDir runs the matrix on the embedded store rather than a file.
func TestMatrixDataDir(t *testing.T) {
	dir := t.TempDir()
	s, err := tuples.Open(dir, tuples.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := "definition user {}\ndefinition doc {\n  relation owner: user\n  relation reader: user\n  permission read = reader + owner\n}\n"
	if _, _, err := s.WriteSchema(ctx, "doc.zed", []byte(src)); err != nil {
		t.Fatal(err)
	}
	var ups []tuples.Update
	for _, r := range []string{"doc:x#owner@user:ana", "doc:x#reader@user:bo", "doc:y#reader@user:ana"} {
		rel, err := tuples.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, tuples.Update{Op: tuples.Touch, Relationship: rel})
	}
	if _, err := s.Write(ctx, ups); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := reach(t, "", "matrix", "--data-dir", dir, "doc", "--subjects-of", "doc:x#read", "--format", "csv")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "resource,permission,user:ana,user:bo\ndoc:x,read,allowed,allowed\ndoc:y,read,allowed,denied\n"
	if stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", stdout, want)
	}
}

func TestMatrixErrors(t *testing.T) {
	file := writeMatrixTestFile(t)
	empty := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no subjects", []string{"--file", file, "doc:a"}, exitUsage, "exactly one of --subjects and --subjects-of"},
		{"both subject flags", []string{"--file", file, "doc:a", "--subjects", "user:ana", "--subjects-of", "doc:a#view"}, exitUsage, "exactly one of"},
		{"no target", []string{"--file", file, "--subjects", "user:ana"}, exitUsage, "requires at least 1 arg"},
		{"bad format", []string{"--file", file, "doc:a", "--subjects", "user:ana", "--format", "xml"}, exitUsage, "--format must be one of"},
		{"format with json", []string{"--file", file, "-o", "json", "doc:a", "--subjects", "user:ana", "--format", "csv"}, exitUsage, "do not go together"},
		{"unknown type", []string{"--file", file, "dok", "--subjects", "user:ana"}, exitUsage, `type "dok" is not defined in the schema (did you mean "doc"?)`},
		{"bad resource", []string{"--file", file, "doc:", "--subjects", "user:ana"}, exitUsage, `resource "doc:"`},
		{"unknown permission", []string{"--file", file, "doc", "--permissions", "veiw", "--subjects", "user:ana"}, exitUsage, `relation or permission "veiw" is not defined on type "doc" (did you mean "view"?)`},
		{"permission missing on one type", []string{"--file", file, "doc", "team", "--permissions", "view", "--subjects", "user:ana"}, exitUsage, `relation or permission "view" is not defined on type "team"`},
		{"unknown subject type", []string{"--file", file, "doc:a", "--subjects", "usr:ana"}, exitUsage, `type "usr" is not defined`},
		{"bad subject", []string{"--file", file, "doc:a", "--subjects", "user"}, exitUsage, `subject "user"`},
		{"unknown subject relation", []string{"--file", file, "doc:a", "--subjects", "team:eng#lead"}, exitUsage, `relation or permission "lead" is not defined on type "team"`},
		{"subjects-of without relation", []string{"--file", file, "doc:a", "--subjects-of", "doc:a"}, exitUsage, "want RESOURCE#RELATION"},
		{"subjects-of unknown relation", []string{"--file", file, "doc:a", "--subjects-of", "doc:a#nope"}, exitUsage, `relation or permission "nope" is not defined on type "doc"`},
		{"no subject found", []string{"--file", file, "doc:a", "--subjects-of", "doc:zz#view"}, exitNo, "no subject holds doc:zz#view"},
		{"no object of the type", []string{"--file", file, "folder", "--subjects", "user:ana"}, exitNo, "no object of type folder"},
		{"missing file", []string{"--file", filepath.Join(empty, "nope.yaml"), "doc:a", "--subjects", "user:ana"}, exitError3, "nope.yaml"},
		{"empty store", []string{"--data-dir", empty, "doc:a", "--subjects", "user:ana"}, exitError3, "no schema has been written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", append([]string{"matrix"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

// TestValidateSeedModels is the acceptance check of the seed models:
// `reach validate schemas/*.yaml` passes (their tables are the goldens
// above).
func TestValidateSeedModels(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "schemas", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 5 {
		t.Fatalf("found %d seed validation files, want 5", len(files))
	}
	code, stdout, stderr := reach(t, "", append([]string{"validate"}, files...)...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "5 files: 5 passed, 0 failed") {
		t.Errorf("unexpected summary:\n%s", stdout)
	}
	if stderr != "" {
		t.Errorf("warnings:\n%s", stderr)
	}
}
