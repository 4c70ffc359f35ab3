package impact

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
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
	// Shared sends open to the organization's admins only (an operand of
	// an intersection changes).
	{"gifting", "(shared_with & organization->any_admin)", "(shared_with & organization->admins)", true, false},
	// Deleting contacts no longer needs the feature (an intersection
	// loses an operand).
	{"email_marketing", "permission contacts_delete = role->has_contacts_edit & contact_deletion & contacts_view", "permission contacts_delete = role->has_contacts_edit & contacts_view", true, false},
	// Syncing no longer excludes those who turned it off (an exclusion's
	// subtracted side), and managers may manage their own membership.
	{"organizing", "permission can_sync = (any_admin + is_volunteer) - sync_off", "permission can_sync = any_admin + is_volunteer", true, false},
	{"organizing", "(campaign->manage_roles - person - role_owner)", "(campaign->manage_roles - role_owner)", true, false},
	// Private sales may no longer create presentations.
	{"catalogue", "permission create_presentation = (admin + sales + sales_private + manager) & presentations_licence", "permission create_presentation = (admin + sales + manager) & presentations_licence", true, false},
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
	for _, m := range mutations {
		t.Run(m.model, func(t *testing.T) {
			env := loadSeed(t, m.model)
			src, _ := fs.ReadFile(schemas.FS, m.model+".zed")
			if strings.Count(string(src), m.old) != 1 {
				t.Fatalf("%q occurs %d times in %s.zed", m.old, strings.Count(string(src), m.old), m.model)
			}
			cur := compile(t, m.model+".zed", strings.Replace(string(src), m.old, m.new, 1))
			rep, want := checkAgainstMatrix(t, env, env.Program, cur)
			if m.flips && len(want) == 0 {
				t.Fatalf("the mutation flips nothing: pick another")
			}
			if !m.flips && len(want) != 0 {
				t.Fatalf("the mutation flips %d cells, want none", len(want))
			}
			if m.wildcard && !slices.ContainsFunc(rep.Cells, func(c Cell) bool { return c.Subject.ID == "*" }) {
				t.Errorf("no wildcard cell in %+v", rep.Cells)
			}
		})
	}
}

// checkAgainstMatrix runs Analyze from old to cur on env's data and
// compares its cells with the whole matrix answered under both schemas.
func checkAgainstMatrix(t *testing.T, env *validation.Env, old, cur *schema.Program) (*Report, map[string]string) {
	t.Helper()
	rep, err := Analyze(context.Background(), env.Store, 0, old, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := wholeMatrixFlips(t, env, old, cur)
	got := map[string]string{}
	for _, o := range env.Objects {
		for _, rel := range allRules(old, cur, o.Type) {
			{
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
	return rep, want
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

// TestAnalyzeRandomMutations mutates random permissions of the seed models
// (drop an operand, swap union and intersection, point a reference at
// another relation) and checks each against the whole matrix.
func TestAnalyzeRandomMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(16, 2026))
	const perModel = 3
	for _, name := range schemas.Names() {
		env := loadSeed(t, name)
		src, _ := fs.ReadFile(schemas.FS, name+".zed")
		lines := strings.Split(string(src), "\n")
		var perms []int // lines holding a whole permission
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "permission ") && strings.Contains(l, " = ") && !strings.Contains(l, "//") {
				perms = append(perms, i)
			}
		}
		for done, tries := 0, 0; done < perModel && tries < 50; tries++ {
			i := perms[r.IntN(len(perms))]
			perm := strings.Fields(lines[i])[1]
			typ := definitionAt(lines, i)
			rel := env.Program.Lookup(typ, perm)
			if rel == nil {
				continue
			}
			rw := mutate(r, env.Program.Definition(typ), rel.Rewrite)
			if rw == nil {
				continue
			}
			mutated := slices.Clone(lines)
			mutated[i] = "\tpermission " + perm + " = " + schema.RewriteText(rw)
			cur, _, err := schema.Compile(name+".zed", []byte(strings.Join(mutated, "\n")))
			if err != nil {
				continue // a cycle, say
			}
			done++
			t.Run(fmt.Sprintf("%s/%s#%s", name, typ, perm), func(t *testing.T) {
				t.Logf("%s -> %s", schema.RewriteText(rel.Rewrite), schema.RewriteText(rw))
				checkAgainstMatrix(t, env, env.Program, cur)
			})
		}
	}
}

// definitionAt is the name of the definition enclosing line i.
func definitionAt(lines []string, i int) string {
	for ; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) >= 2 && f[0] == "definition" {
			return f[1]
		}
	}
	return ""
}

// mutate returns a changed copy of rw, or nil if it found nothing to
// change.
func mutate(r *rand.Rand, d *schema.Definition, rw *schema.Rewrite) *schema.Rewrite {
	cp := clone(rw)
	var nodes []*schema.Rewrite
	walkRewrite(cp, func(n *schema.Rewrite) { nodes = append(nodes, n) })
	n := nodes[r.IntN(len(nodes))]
	switch n.Op {
	case schema.OpUnion, schema.OpIntersection:
		if r.IntN(2) == 0 && len(n.Children) > 2 {
			k := r.IntN(len(n.Children))
			n.Children = append(n.Children[:k], n.Children[k+1:]...)
		} else if n.Op == schema.OpUnion {
			n.Op = schema.OpIntersection
		} else {
			n.Op = schema.OpUnion
		}
	case schema.OpExclusion:
		n.Children[0], n.Children[1] = n.Children[1], n.Children[0]
	case schema.OpComputed:
		other := d.Relations[r.IntN(len(d.Relations))]
		if other.Name == n.Relation {
			return nil
		}
		n.Relation = other.Name
	default:
		return nil
	}
	if schema.SameRewrite(cp, rw) {
		return nil
	}
	return cp
}

func clone(rw *schema.Rewrite) *schema.Rewrite {
	c := *rw
	c.Children = nil
	for _, ch := range rw.Children {
		c.Children = append(c.Children, clone(ch))
	}
	return &c
}
