package impact

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/schemas"
)

// mutations are deliberate rule changes on the seed models: each replaces
// text of NAME.zed (exactly once).
var mutations = []struct {
	model    string
	old, new string
	flips    bool // some cell must flip
	wildcard bool // a wildcard cell must flip
}{
	// A department's admins no longer include the organization's admins:
	// flows through arrows into every department-scoped object.
	{"gifting", "permission admins = admin + organization->admins", "permission admins = admin", true, false},
	// The sender may no longer cancel their own send.
	{"gifting", "permission cancel = sender + department->admins + organization->admins", "permission cancel = department->admins + organization->admins", true, false},
	// A new subject type no relationship uses: nothing flips.
	{"gifting", "relation shared_with: user\n", "relation shared_with: user | department#people\n", false, false},
	// Companies no longer need the Basic CRM licence.
	{"email_marketing", "permission companies_view = role->has_companies_view & basic_crm", "permission companies_view = role->has_companies_view", true, false},
	// Marketers lose the email groups (and everything they open).
	{"marketing_suite", "permission email_groups = marketier_admin + site_admin + approver + publisher + marketer", "permission email_groups = marketier_admin + site_admin + approver + publisher", true, false},
	// Staff are no longer admins.
	{"organizing", "permission any_admin = owner + admin + staff", "permission any_admin = owner + admin", true, false},
	// Broadcasts open to everyone where enabled: a wildcard flips.
	{"organizing", "permission manage_broadcasts = full_admin & broadcast_enabled", "permission manage_broadcasts = broadcast_enabled", true, true},
	// Private sales see everything, sales no longer do.
	{"catalogue", "permission see_all = admin + sales + designer + manager", "permission see_all = admin + sales_private + designer + manager", true, false},
}

func loadSeed(t *testing.T, name string) *validation.Env {
	t.Helper()
	data, err := fs.ReadFile(schemas.FS, name+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := validation.Parse(name+".yaml", data, func(n string) ([]byte, error) { return fs.ReadFile(schemas.FS, n) })
	if err != nil {
		t.Fatal(err)
	}
	env, err := validation.Load(context.Background(), f, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	return env
}

func compile(t *testing.T, name, src string) *schema.Program {
	t.Helper()
	p, _, err := schema.Compile(name, []byte(src))
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}

// TestAnalyzeSeeds checks, for each mutation, that the cells Analyze
// reports are exactly those that flip when the whole matrix (every rule of
// every type, on every object of the data, for every object as subject) is
// answered before and after.
func TestAnalyzeSeeds(t *testing.T) {
	ctx := context.Background()
	for _, m := range mutations {
		t.Run(m.model+"/"+strings.Fields(m.new)[1], func(t *testing.T) {
			env := loadSeed(t, m.model)
			src, _ := fs.ReadFile(schemas.FS, m.model+".zed")
			if strings.Count(string(src), m.old) != 1 {
				t.Fatalf("%q occurs %d times in %s.zed", m.old, strings.Count(string(src), m.old), m.model)
			}
			old := env.Program
			cur := compile(t, m.model+".zed", strings.Replace(string(src), m.old, m.new, 1))
			rep, err := Analyze(ctx, env.Store, 0, old, cur, Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := wholeMatrixFlips(t, env, old, cur)
			if m.flips && len(want) == 0 {
				t.Fatalf("the mutation flips nothing: pick another")
			}
			if !m.flips && len(want) != 0 {
				t.Fatalf("the mutation flips %d cells, want none", len(want))
			}
			if m.wildcard && !slices.ContainsFunc(rep.Cells, func(c Cell) bool { return c.Subject.ID == "*" }) {
				t.Errorf("no wildcard cell in %+v", rep.Cells)
			}
			got := map[string]string{}
			for _, o := range env.Objects {
				for _, typ := range allTypes(old, cur) {
					for _, rel := range allRules(old, cur, typ) {
						if o.Type != typ {
							continue
						}
						for _, s := range env.Objects {
							b, a, ok := rep.Flipped(o, rel, engine.Subject{Type: s.Type, ID: s.ID})
							if ok && b != a {
								got[fmt.Sprintf("%s#%s@%s", o, rel, s)] = b.String() + " -> " + a.String()
							}
						}
					}
				}
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("missed %s: %s (got %q)", k, v, got[k])
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("reported %s: %s, which does not flip", k, v)
				}
			}
			t.Logf("%d cells flip; %d touched, %d dependents; %d evaluations, %d lookups over %d resources",
				len(want), len(rep.Touched), len(rep.Dependents), rep.Stats.Evaluated, rep.Stats.Lookups, rep.Stats.Resources)
		})
	}
}

func allTypes(progs ...*schema.Program) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range progs {
		for _, d := range p.Definitions() {
			if !seen[d.Name] {
				seen[d.Name] = true
				out = append(out, d.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

func allRules(old, cur *schema.Program, typ string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range []*schema.Program{old, cur} {
		if d := p.Definition(typ); d != nil {
			for _, r := range d.Relations {
				if !seen[r.Name] {
					seen[r.Name] = true
					out = append(out, r.Name)
				}
			}
		}
	}
	return out
}

// wholeMatrixFlips answers every (object, rule, object) under both schemas
// and returns those that differ, as "res#rule@subj" -> "before -> after".
func wholeMatrixFlips(t *testing.T, env *validation.Env, old, cur *schema.Program) map[string]string {
	t.Helper()
	ctx := context.Background()
	var answers [2]map[string]engine.Permissionship
	for i, p := range []*schema.Program{old, cur} {
		eng := engine.New(withSchema{env.Store, p}, engine.Options{})
		var reqs []engine.CheckRequest
		var keys []string
		for _, o := range env.Objects {
			for _, rel := range allRules(old, cur, o.Type) {
				if p.Lookup(o.Type, rel) == nil {
					continue
				}
				for _, s := range env.Objects {
					if p.Definition(s.Type) == nil {
						continue
					}
					reqs = append(reqs, engine.CheckRequest{Resource: o, Permission: rel, Subject: engine.Subject{Type: s.Type, ID: s.ID},
						Consistency: engine.Consistency{Mode: engine.FullyConsistent}})
					keys = append(keys, fmt.Sprintf("%s#%s@%s", o, rel, s))
				}
			}
		}
		res, err := eng.CheckBulk(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		answers[i] = map[string]engine.Permissionship{}
		for j, k := range keys {
			answers[i][k] = res[j].Permissionship
		}
	}
	out := map[string]string{}
	for _, k := range unionKeys(answers[0], answers[1]) {
		if b, a := answers[0][k], answers[1][k]; b != a {
			out[k] = b.String() + " -> " + a.String()
		}
	}
	return out
}

func unionKeys(a, b map[string]engine.Permissionship) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// TestAnalyzeNarrows checks that a change deep in one model evaluates only
// what depends on it, not every resource of every type.
func TestAnalyzeNarrows(t *testing.T) {
	env := loadSeed(t, "gifting")
	src, _ := fs.ReadFile(schemas.FS, "gifting.zed")
	cur := compile(t, "gifting.zed", strings.Replace(string(src),
		"permission cancel = sender + department->admins + organization->admins",
		"permission cancel = department->admins + organization->admins", 1))
	rep, err := Analyze(context.Background(), env.Store, 0, env.Program, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Touched) != 1 || rep.Touched[0] != (Rule{"send", "cancel"}) || len(rep.Dependents) != 0 {
		t.Errorf("touched %v, dependents %v; want send#cancel alone", rep.Touched, rep.Dependents)
	}
	sends := 0
	for _, o := range env.Objects {
		if o.Type == "send" {
			sends++
		}
	}
	if rep.Stats.Evaluated != sends {
		t.Errorf("evaluated %d (rule, resource) pairs, want the %d sends", rep.Stats.Evaluated, sends)
	}
	for _, c := range rep.Cells {
		if c.Permission != "cancel" || c.Before != engine.Allowed || c.After != engine.Denied {
			t.Errorf("unexpected cell %+v", c)
		}
	}
}

// TestAnalyzeSameSchema: no change, no work.
func TestAnalyzeSameSchema(t *testing.T) {
	env := loadSeed(t, "catalogue")
	rep, err := Analyze(context.Background(), env.Store, 0, env.Program, env.Program, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes)+len(rep.Cells)+rep.Stats.Evaluated != 0 {
		t.Errorf("same schema: %d changes, %d cells, %d evaluations", len(rep.Changes), len(rep.Cells), rep.Stats.Evaluated)
	}
}

// TestAnalyzeEmptySchema: from nothing to the model, every allowed cell
// appears.
func TestAnalyzeEmptySchema(t *testing.T) {
	env := loadSeed(t, "marketing_suite")
	rep, err := Analyze(context.Background(), env.Store, 0, nil, env.Program, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cells) == 0 {
		t.Fatal("no cell appears")
	}
	for _, c := range rep.Cells {
		if c.Before != engine.Denied || c.After == engine.Denied {
			t.Errorf("cell %+v: want denied -> allowed", c)
		}
	}
}
