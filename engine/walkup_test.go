package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// Walking up from the subject (checker.walkUp) must give the answer of the
// downward walk. An explained check always walks down, so every check here
// is asked both ways, on random nested groups wide enough (more than
// walkUpFanOut subject sets) to walk up: with caveats on some edges,
// wildcards (SpiceDB allows them on the top relation only), expired relationships, cycles, and a relation that nests in
// another (folder#viewer holds group#member).
const walkUpSchema = `
use expiration

caveat cav(x int) {
	x > 1
}

definition user {}

definition group {
	relation member: user | user with cav | user with expiration | group#member | group#member with cav
}

definition folder {
	relation viewer: user | user:* | group#member | group#member with cav
	relation owner: user
	permission view = viewer + owner
}
`

func TestWalkUpMatchesWalkDown(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 6
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 11))
			nGroups, nUsers := 6+r.IntN(30), 4+r.IntN(12)
			seen := map[string]bool{}
			var rels []string
			add := func(s string) { // once per relationship, whatever its caveat
				if k, _, _ := strings.Cut(s, "["); !seen[k] {
					seen[k] = true
					rels = append(rels, s)
				}
			}
			suffix := func() string {
				switch r.IntN(8) {
				case 0:
					return "[cav]"
				case 1:
					return "[cav:{\"x\":2}]"
				}
				return ""
			}
			for g := 0; g < nGroups; g++ {
				for k := r.IntN(8); k > 0; k-- { // nested groups, cycles included
					add(fmt.Sprintf("group:g%d#member@group:g%d#member%s", g, r.IntN(nGroups), suffix()))
				}
				for k := r.IntN(3); k > 0; k-- {
					u := fmt.Sprintf("group:g%d#member@user:u%d", g, r.IntN(nUsers))
					switch r.IntN(6) {
					case 0:
						u += "[cav]"
					case 1:
						u += "[expiration:2001-01-01T00:00:00Z]" // expired: absent
					case 2:
						u += "[expiration:2201-01-01T00:00:00Z]"
					}
					add(u)
				}
			}
			for f := 0; f < 3; f++ {
				for k := r.IntN(12); k > 0; k-- {
					add(fmt.Sprintf("folder:f%d#viewer@group:g%d#member%s", f, r.IntN(nGroups), suffix()))
				}
				add(fmt.Sprintf("folder:f%d#viewer@user:u%d", f, r.IntN(nUsers)))
				if r.IntN(6) == 0 {
					add(fmt.Sprintf("folder:f%d#viewer@user:*", f))
				}
			}
			st := newTestStore(t, walkUpSchema, rels...)
			var qs []string
			for u := 0; u <= nUsers; u++ { // u(nUsers) is in no group
				for g := 0; g < nGroups; g++ {
					qs = append(qs, fmt.Sprintf("group:g%d#member@user:u%d", g, u))
				}
				for f := 0; f < 3; f++ {
					qs = append(qs, fmt.Sprintf("folder:f%d#view@user:u%d", f, u), fmt.Sprintf("folder:f%d#viewer@user:u%d", f, u))
				}
			}
			for _, cache := range []int{-1, 0} {
				e := New(st, Options{CacheSize: cache})
				for _, q := range qs {
					req := checkReq(t, q)
					req.Consistency = fresh
					got, err := e.Check(context.Background(), req)
					if err != nil {
						t.Fatalf("%s: %v", q, err)
					}
					req.Explain = true
					want, err := e.Check(context.Background(), req)
					if err != nil {
						t.Fatalf("%s explained: %v", q, err)
					}
					if got.Permissionship != want.Permissionship {
						t.Errorf("cache %d: %s = %s, walking down gives %s\n%s", cache, q, got.Permissionship, want.Permissionship, rels)
					}
				}
			}
		})
	}
}

// A subject in more groups than the walk's budget: the walk gives up and
// the check walks down, with the same answers.
func TestWalkUpBudget(t *testing.T) {
	var rels []string
	for g := 0; g < walkUpBudget+50; g++ {
		rels = append(rels, fmt.Sprintf("group:g%d#member@user:busy", g))
		rels = append(rels, fmt.Sprintf("group:top#member@group:g%d#member", g))
	}
	rels = append(rels, "group:g7#member@group:deep#member", "group:deep#member@user:quiet")
	st := newTestStore(t, walkUpSchema, rels...)
	e := New(st, Options{CacheSize: -1})
	for q, want := range map[string]Permissionship{
		"group:top#member@user:busy":     Allowed,
		"group:top#member@user:quiet":    Allowed,
		"group:top#member@user:stranger": Denied,
		"group:g3#member@user:quiet":     Denied,
	} {
		got, err := e.Check(context.Background(), checkReq(t, q))
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got.Permissionship != want {
			t.Errorf("%s = %s, want %s", q, got.Permissionship, want)
		}
	}
}
