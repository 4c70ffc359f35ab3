package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/schema"
)

// diffMutations change one rule of each seed model (replacing text of
// NAME.zed exactly once).
var diffMutations = []struct{ model, old, new string }{
	{"gifting", "permission admins = admin + organization->admins", "permission admins = admin"},
	{"email_marketing", "permission companies_view = role->has_companies_view & basic_crm", "permission companies_view = role->has_companies_view"},
	{"marketing_suite", "permission email_groups = marketier_admin + site_admin + approver + publisher + marketer", "permission email_groups = marketier_admin + site_admin + approver + publisher"},
	{"organizing", "permission manage_broadcasts = full_admin & broadcast_enabled", "permission manage_broadcasts = broadcast_enabled"},
	{"catalogue", "permission see_all = admin + sales + designer + manager", "permission see_all = admin + sales_private + designer + manager"},
}

// mutatedSeed writes the seed's validation file and its schema with
// old replaced by new into a temporary directory, and returns the paths of
// the seed's schema, the mutated schema and the mutated validation file.
func mutatedSeed(t *testing.T, model, old, new string) (oldZed, newZed, newYAML string) {
	t.Helper()
	oldZed = filepath.Join("..", "..", "schemas", model+".zed")
	src, err := os.ReadFile(oldZed)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(src), old) != 1 {
		t.Fatalf("%q occurs %d times in %s", old, strings.Count(string(src), old), oldZed)
	}
	dir := t.TempDir()
	newZed = filepath.Join(dir, model+".zed")
	if err := os.WriteFile(newZed, []byte(strings.Replace(string(src), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join("..", "..", "schemas", model+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	newYAML = filepath.Join(dir, model+".yaml")
	if err := os.WriteFile(newYAML, y, 0o644); err != nil {
		t.Fatal(err)
	}
	return oldZed, newZed, newYAML
}

// matrixAnswers answers, with `reach matrix -o json`, every permission of
// every type on every object of the file's data, for every object as the
// subject: "res#perm@subj" -> answer.
func matrixAnswers(t *testing.T, file string, prog *schema.Program, objects []engine.Object) map[string]string {
	t.Helper()
	var types, subjects []string
	for _, o := range objects {
		if !slices.Contains(types, o.Type) && len(prog.Definition(o.Type).Relations) > 0 {
			types = append(types, o.Type)
		}
		subjects = append(subjects, o.String())
	}
	args := append([]string{"-o", "json", "matrix", "--file", file, "--subjects", strings.Join(subjects, ",")}, types...)
	code, stdout, stderr := reach(t, "", args...)
	if code != exitOK {
		t.Fatalf("reach matrix: exit %d: %s", code, stderr)
	}
	var m matrixJSON
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range m.Rows {
		for j, c := range r.Cells {
			out[r.Resource+"#"+r.Permission+"@"+m.Subjects[j]] = c
		}
	}
	return out
}

// TestSchemaDiffImpactSeeds: on each seed model with a changed rule,
// `reach schema diff --impact` lists exactly the cells that flip when the
// whole matrix is answered (with `reach matrix`) before and after.
func TestSchemaDiffImpactSeeds(t *testing.T) {
	for _, m := range diffMutations {
		t.Run(m.model, func(t *testing.T) {
			oldZed, newZed, newYAML := mutatedSeed(t, m.model, m.old, m.new)
			oldYAML := filepath.Join("..", "..", "schemas", m.model+".yaml")
			f, err := validation.Read(oldYAML)
			if err != nil {
				t.Fatal(err)
			}
			env, err := validation.Load(context.Background(), f, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			objects, prog := env.Objects, env.Program
			env.Close()

			before := matrixAnswers(t, oldYAML, prog, objects)
			after := matrixAnswers(t, newYAML, prog, objects)
			want := map[string]string{}
			for k, b := range before {
				if a := after[k]; a != b {
					want[k] = b + " -> " + a
				}
			}
			if len(want) == 0 {
				t.Fatal("the mutation flips no cell of the matrix")
			}

			code, stdout, stderr := reach(t, "", "-o", "json", "schema", "diff", oldZed, newZed, "--impact", "--file", oldYAML)
			if code != exitNo {
				t.Fatalf("exit %d, want %d: %s", code, exitNo, stderr)
			}
			var d diffJSON
			if err := json.Unmarshal([]byte(stdout), &d); err != nil {
				t.Fatal(err)
			}
			if len(d.Changes) != 1 || d.Changes[0].Kind.String() != "permission_expr_changed" {
				t.Errorf("changes %+v, want one permission_expr_changed", d.Changes)
			}
			got := map[string]string{}
			for k := range before {
				res, perm, subj := splitCellKey(k)
				if c, ok := impactCell(d.Impact, res, perm, subj); ok {
					got[k] = c.Before + " -> " + c.After
				}
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("missed %s: %s (got %q)", k, v, got[k])
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("listed %s: %s, which does not flip", k, v)
				}
			}
			t.Logf("%d cells flip", len(want))
		})
	}
}

func splitCellKey(k string) (res, perm, subj string) {
	rp, subj, _ := strings.Cut(k, "@")
	res, perm, _ = strings.Cut(rp, "#")
	return res, perm, subj
}

// impactCell finds the cell of the JSON impact that covers (res, perm,
// subj): its own, or a wildcard's that does not except it.
func impactCell(ij *impactJSON, res, perm, subj string) (cellJSON, bool) {
	typ, _, _ := strings.Cut(res, ":")
	styp, sid, _ := strings.Cut(subj, ":")
	var wild *cellJSON
	for _, p := range ij.Permissions {
		if p.Type != typ || p.Permission != perm {
			continue
		}
		for i, c := range p.Cells {
			if c.Resource != res {
				continue
			}
			if c.Subject == subj {
				return c, true
			}
			if c.Subject == styp+":*" && !slices.Contains(c.Except, sid) {
				wild = &p.Cells[i]
			}
		}
	}
	if wild != nil {
		return *wild, true
	}
	return cellJSON{}, false
}

func TestSchemaDiff(t *testing.T) {
	m := diffMutations[0]
	oldZed, newZed, newYAML := mutatedSeed(t, m.model, "permission cancel = sender + department->admins + organization->admins", "permission cancel = department->admins + organization->admins")
	oldYAML := filepath.Join("..", "..", "schemas", m.model+".yaml")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"same schema", []string{"schema", "diff", oldZed, oldZed}, exitOK, []string{"no schema change"}},
		{"structural", []string{"schema", "diff", oldZed, newZed}, exitNo,
			[]string{"schema changes (1):", "permission send#cancel: expression changed: sender + department->admins + organization->admins -> department->admins + organization->admins"}},
		{"impact text", []string{"schema", "diff", oldZed, newZed, "--impact", "--file", oldYAML}, exitNo,
			[]string{"4 answers change", "rules changed: send#cancel", "send#cancel (4)", "send:s1  user:uma    allowed -> denied"}},
		{"old schema from the file", []string{"schema", "diff", newZed, "--impact", "--file", oldYAML}, exitNo, []string{"send#cancel (4)"}},
		{"nothing changes", []string{"schema", "diff", newZed, "--impact", "--file", newYAML}, exitOK, []string{"no schema change", "0 answers change"}},
		{"markdown", []string{"schema", "diff", oldZed, newZed, "--impact", "--file", oldYAML, "--format", "markdown"}, exitNo,
			[]string{"## Schema changes", "## Impact", "### send#cancel (4)", "| resource | subject | before | after |", "| send:s1 | user:uma | ✅ | 🚫 |"}},
		{"bad format", []string{"schema", "diff", oldZed, newZed, "--format", "xml"}, exitUsage, nil},
		{"file without impact", []string{"schema", "diff", oldZed, newZed, "--file", oldYAML}, exitUsage, nil},
		{"invalid schema", []string{"schema", "diff", oldZed, "../../cmd/reach/testdata/schema/invalid.zed"}, exitError3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, c := range tt.contains {
				if !strings.Contains(stdout, c) {
					t.Errorf("output lacks %q:\n%s", c, stdout)
				}
			}
		})
	}
}

// TestSchemaWriteDryRun: --dry-run prints the diff and the impact on the
// stored data, and writes nothing.
func TestSchemaWriteDryRun(t *testing.T) {
	dir := t.TempDir()
	_, newZed, _ := mutatedSeed(t, "gifting", "permission cancel = sender + department->admins + organization->admins", "permission cancel = department->admins + organization->admins")
	oldZed := filepath.Join("..", "..", "schemas", "gifting.zed")
	for _, args := range [][]string{{"schema", "write", oldZed}, {"tuple", "import", filepath.Join("..", "..", "schemas", "gifting.yaml")}} {
		if code, _, stderr := reach(t, "", append([]string{"--data-dir", dir}, args...)...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	_, before, _ := reach(t, "", "--data-dir", dir, "schema", "read")
	code, stdout, stderr := reach(t, "", "--data-dir", dir, "schema", "write", "--dry-run", newZed)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"permission send#cancel: expression changed", "4 answers change", "send:s1  user:uma    allowed -> denied", "dry run: the schema was not written"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if _, after, _ := reach(t, "", "--data-dir", dir, "schema", "read"); after != before {
		t.Errorf("the dry run changed the schema in force")
	}
	// JSON says it was a dry run.
	_, stdout, _ = reach(t, "", "--data-dir", dir, "-o", "json", "schema", "write", "--dry-run", newZed)
	var d diffJSON
	if err := json.Unmarshal([]byte(stdout), &d); err != nil || !d.DryRun || d.Impact == nil || d.Impact.Cells != 4 {
		t.Errorf("json %s (err %v)", stdout, err)
	}
}

// TestSchemaDiffRemote: schema diff works on local data only; on a server,
// schema write --dry-run prints the structural changes.
func TestSchemaDiffRemote(t *testing.T) {
	addr := startRemote(t)
	remote := []string{"--endpoint", addr, "--token", remoteTestKey}
	oldZed, newZed, _ := mutatedSeed(t, "gifting", "permission cancel = sender + department->admins + organization->admins", "permission cancel = department->admins + organization->admins")
	if code, _, stderr := reach(t, "", append(remote, "schema", "write", oldZed)...); code != exitOK {
		t.Fatalf("schema write: exit %d: %s", code, stderr)
	}
	if code, _, stderr := reach(t, "", append(remote, "schema", "diff", newZed)...); code != exitUsage || !strings.Contains(stderr, "local data only") {
		t.Errorf("diff on a server: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := reach(t, "", append(remote, "schema", "write", "--dry-run", newZed)...)
	if code != exitOK || !strings.Contains(stdout, "permission send#cancel: expression changed") || !strings.Contains(stderr, "local store only") {
		t.Errorf("dry run on the server: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, after, _ := reach(t, "", append(remote, "schema", "read")...); !strings.Contains(after, "permission cancel = sender + department->admins") {
		t.Errorf("the dry run changed the server's schema")
	}
}
