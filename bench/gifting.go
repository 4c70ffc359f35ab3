package bench

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// Gifting is the gifting-portal dataset (seed 000, schemas/gifting.zed in
// bench): organisations, each with 4 to 12 departments; most departments
// have 8 to 24 users, one in 40 (and always the first department of the
// first organisation) 100 times more. A department has 1 to 3 admins and one
// team per 6 users; a tenth of the teams (at least one) sit directly in the
// department, the others nest 1 to 3 levels deep below them. 40% of the
// users are direct members, the others belong to one team each. Users make 0 to 4 sends each (one in ten
// shared with an admin of the next department); departments have campaigns,
// templates and One Links; each organisation has two organisation-wide
// ("popular") campaigns that every department's members view.
//
// Object ids name their place: organisation o3, department o3_d1, user
// o3_d1_u7, department admin o3_d1_a0, organisation admin o3_a0, team
// o3_d1_t4, send o3_d1_u7_s0, campaign o3_d1_c2 (popular: o3_p0), template
// o3_d1_m0, One Link o3_d1_l1.
type Gifting struct {
	seed  uint64
	orgs  int
	total int64
}

// shape tags for mix.
const (
	gDepts = iota + 1
	gLarge
	gUsers
	gAdmins
	gOrgAdmins
	gSetting
	gSends
	gShared
	gCampaigns
	gTemplates
	gLinks
	gParent
)

const giftingPopular = 2 // organisation-wide campaigns per organisation

// NewGifting returns the gifting dataset with as many organisations as it
// takes to reach target relationships (at least one).
func NewGifting(seed uint64, target int64) *Gifting {
	g := &Gifting{seed: seed}
	for g.orgs == 0 || g.total < target {
		g.total += g.orgRelationships(g.orgs)
		g.orgs++
	}
	return g
}

// Name implements Dataset.
func (g *Gifting) Name() string { return "gifting" }

// Schema implements Dataset.
func (g *Gifting) Schema() (string, []byte) { return "gifting.zed", mustSchema("gifting.zed") }

// Relationships implements Dataset.
func (g *Gifting) Relationships() int64 { return g.total }

// Organizations is the number of organisations generated.
func (g *Gifting) Organizations() int { return g.orgs }

func (g *Gifting) h(vals ...uint64) uint64 { return mix(g.seed, vals...) }

func (g *Gifting) depts(o int) int { return 4 + int(g.h(gDepts, uint64(o))%9) }

func (g *Gifting) large(o, d int) bool {
	return (o == 0 && d == 0) || g.h(gLarge, uint64(o), uint64(d))%40 == 0
}

func (g *Gifting) users(o, d int) int {
	n := 8 + int(g.h(gUsers, uint64(o), uint64(d))%17)
	if g.large(o, d) {
		n *= 100
	}
	return n
}

func (g *Gifting) admins(o, d int) int    { return 1 + int(g.h(gAdmins, uint64(o), uint64(d))%3) }
func (g *Gifting) orgAdmins(o int) int    { return 1 + int(g.h(gOrgAdmins, uint64(o))%3) }
func (g *Gifting) setting(o int) bool     { return g.h(gSetting, uint64(o))%2 == 0 }
func (g *Gifting) campaigns(o, d int) int { return 2 + int(g.h(gCampaigns, uint64(o), uint64(d))%4) }
func (g *Gifting) templates(o, d int) int { return 1 + int(g.h(gTemplates, uint64(o), uint64(d))%3) }
func (g *Gifting) links(o, d int) int     { return int(g.h(gLinks, uint64(o), uint64(d)) % 3) }
func (g *Gifting) direct(o, d int) int    { return g.users(o, d) * 4 / 10 }

func (g *Gifting) sends(o, d, u int) int {
	return int(g.h(gSends, uint64(o), uint64(d), uint64(u)) % 5)
}

// shared reports whether send s of user u is shared with the first admin of
// the next department.
func (g *Gifting) shared(o, d, u, s int) bool {
	return g.h(gShared, uint64(o), uint64(d), uint64(u), uint64(s))%10 == 0
}

// teamLayout is the teams of a department by nesting level: teams
// start[l] .. start[l]+n[l]-1 are at level l (0: directly in the department).
type teamLayout struct{ n, start [4]int }

func (t teamLayout) total() int { return t.start[3] + t.n[3] }

func (t teamLayout) level(team int) int {
	for l := 3; l > 0; l-- {
		if team >= t.start[l] {
			return l
		}
	}
	return 0
}

func (g *Gifting) teams(o, d int) teamLayout {
	nt := max(1, g.users(o, d)/6)
	// a few top-level teams, most nested under them; levels left empty
	// are closed up so that every nested team has a parent level.
	want := [4]int{max(1, nt/10), nt * 3 / 10, nt * 4 / 10, 0}
	want[3] = nt - want[0] - want[1] - want[2]
	var t teamLayout
	l := 0
	for _, n := range want {
		if n > 0 {
			t.n[l] = n
			l++
		}
	}
	for l := 1; l < 4; l++ {
		t.start[l] = t.start[l-1] + t.n[l-1]
	}
	return t
}

// parent is the team a team of level > 0 belongs to (a team one level up).
func (g *Gifting) parent(o, d int, tl teamLayout, team int) int {
	l := tl.level(team)
	return tl.start[l-1] + int(g.h(gParent, uint64(o), uint64(d), uint64(team))%uint64(tl.n[l-1]))
}

// teamOf is the team of user u, or -1 for a direct member.
func (g *Gifting) teamOf(o, d int, tl teamLayout, u int) int {
	dir := g.direct(o, d)
	if u < dir {
		return -1
	}
	return (u - dir) % tl.total()
}

// orgRelationships counts what Generate emits for organisation o.
func (g *Gifting) orgRelationships(o int) int64 {
	var n int64
	if g.setting(o) {
		n++
	}
	n += 2 * int64(g.orgAdmins(o))
	nd := g.depts(o)
	for d := 0; d < nd; d++ {
		n += 2 + 2*int64(g.admins(o, d))
		n += int64(g.teams(o, d).total())
		nu := g.users(o, d)
		n += 2 * int64(nu)
		for u := 0; u < nu; u++ {
			ns := g.sends(o, d, u)
			n += 3 * int64(ns)
			for s := 0; s < ns; s++ {
				if g.shared(o, d, u, s) {
					n++
				}
			}
		}
		n += 2*int64(g.campaigns(o, d)) + 2*int64(g.templates(o, d)) + 3*int64(g.links(o, d))
	}
	n += giftingPopular * int64(2+nd)
	return n
}

// Generate implements Dataset.
func (g *Gifting) Generate(ctx context.Context, emit func(tuples.Relationship) error) error {
	for o := 0; o < g.orgs; o++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := g.generateOrg(o, emit); err != nil {
			return fmt.Errorf("gifting: organization %d: %w", o, err)
		}
	}
	return nil
}

func (g *Gifting) generateOrg(o int, emit func(tuples.Relationship) error) error {
	org := ident("o", o)
	if g.setting(o) {
		if err := emit(rel("organization", org, "send_on_behalf_setting", "user", "*", "")); err != nil {
			return err
		}
	}
	for k := 0; k < g.orgAdmins(o); k++ {
		a := ident("oa", o, k)
		if err := emit(rel("organization", org, "admin", "user", a, "")); err != nil {
			return err
		}
		if err := emit(rel("user", a, "organization", "organization", org, "")); err != nil {
			return err
		}
	}
	nd := g.depts(o)
	for d := 0; d < nd; d++ {
		if err := g.generateDept(o, d, nd, org, emit); err != nil {
			return err
		}
	}
	for p := 0; p < giftingPopular; p++ {
		c := ident("op", o, p)
		if err := emit(rel("campaign", c, "organization", "organization", org, "")); err != nil {
			return err
		}
		if err := emit(rel("campaign", c, "department", "department", ident("od", o, 0), "")); err != nil {
			return err
		}
		for d := 0; d < nd; d++ {
			if err := emit(rel("campaign", c, "viewer", "department", ident("od", o, d), "member")); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *Gifting) generateDept(o, d, nd int, org string, emit func(tuples.Relationship) error) error {
	dept := ident("od", o, d)
	out := []tuples.Relationship{
		rel("organization", org, "department", "department", dept, ""),
		rel("department", dept, "organization", "organization", org, ""),
	}
	for k := 0; k < g.admins(o, d); k++ {
		a := ident("oda", o, d, k)
		out = append(out, rel("department", dept, "admin", "user", a, ""), rel("user", a, "department", "department", dept, ""))
	}
	tl := g.teams(o, d)
	for t := 0; t < tl.total(); t++ {
		team := ident("odt", o, d, t)
		if tl.level(t) == 0 {
			out = append(out, rel("department", dept, "member", "team", team, "member"))
		} else {
			out = append(out, rel("team", ident("odt", o, d, g.parent(o, d, tl, t)), "member", "team", team, "member"))
		}
	}
	for k := 0; k < g.campaigns(o, d); k++ {
		c := ident("odc", o, d, k)
		out = append(out, rel("campaign", c, "organization", "organization", org, ""), rel("campaign", c, "department", "department", dept, ""))
	}
	for k := 0; k < g.templates(o, d); k++ {
		m := ident("odm", o, d, k)
		out = append(out, rel("template", m, "organization", "organization", org, ""), rel("template", m, "department", "department", dept, ""))
	}
	for k := 0; k < g.links(o, d); k++ {
		l := ident("odl", o, d, k)
		out = append(out, rel("one_link", l, "organization", "organization", org, ""), rel("one_link", l, "department", "department", dept, ""),
			rel("one_link", l, "creator", "user", ident("oda", o, d, 0), ""))
	}
	for _, r := range out {
		if err := emit(r); err != nil {
			return err
		}
	}
	nextAdmin := ident("oda", o, (d+1)%nd, 0)
	nu := g.users(o, d)
	for u := 0; u < nu; u++ {
		user := ident("odu", o, d, u)
		out = out[:0]
		if t := g.teamOf(o, d, tl, u); t < 0 {
			out = append(out, rel("department", dept, "member", "user", user, ""))
		} else {
			out = append(out, rel("team", ident("odt", o, d, t), "member", "user", user, ""))
		}
		out = append(out, rel("user", user, "department", "department", dept, ""))
		for s := 0; s < g.sends(o, d, u); s++ {
			send := ident("odus", o, d, u, s)
			out = append(out, rel("send", send, "organization", "organization", org, ""),
				rel("send", send, "department", "department", dept, ""),
				rel("send", send, "sender", "user", user, ""))
			if g.shared(o, d, u, s) {
				out = append(out, rel("send", send, "shared_with", "user", nextAdmin, ""))
			}
		}
		for _, r := range out {
			if err := emit(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Check classes: depth 1 to 5, allowed and denied. Depth counts the
// relationships on the path that proves an allowed answer:
//
//	1  send#view by its sender
//	2  campaign or template#view by a direct department member, or
//	   send#view / one_link#edit by a department admin
//	3  campaign or template#view by a member of a team of the department
//	4  ... of a team nested in such a team
//	5  ... of a team nested two levels deep
//
// The denied query of each depth asks the same kind of question about a
// resource of one department for a plain user of another department (of the
// same organisation, or of another organisation).
var giftingCheckClasses = []string{
	"depth 1 allowed", "depth 1 denied",
	"depth 2 allowed", "depth 2 denied",
	"depth 3 allowed", "depth 3 denied",
	"depth 4 allowed", "depth 4 denied",
	"depth 5 allowed", "depth 5 denied",
}

// CheckClasses implements Dataset.
func (g *Gifting) CheckClasses() []string { return giftingCheckClasses }

// Check implements Dataset.
func (g *Gifting) Check(r *rand.Rand, class int) CheckQuery {
	depth, allowed := class/2+1, class%2 == 0
	var res engine.Object
	var perm, subj string
	for try := 0; ; try++ {
		o := r.IntN(g.orgs)
		d := r.IntN(g.depts(o))
		if try >= 20 {
			o, d = 0, 0 // large: every nesting level exists
		}
		switch depth {
		case 1:
			u := r.IntN(g.users(o, d))
			ns := g.sends(o, d, u)
			if ns == 0 {
				continue
			}
			res, perm = engine.Object{Type: "send", ID: ident("odus", o, d, u, r.IntN(ns))}, "view"
			subj = ident("odu", o, d, u)
		case 2:
			admin := ident("oda", o, d, r.IntN(g.admins(o, d)))
			switch r.IntN(4) {
			case 0:
				res, perm, subj = engine.Object{Type: "campaign", ID: ident("odc", o, d, r.IntN(g.campaigns(o, d)))}, "view", ident("odu", o, d, r.IntN(g.direct(o, d)))
			case 1:
				res, perm, subj = engine.Object{Type: "template", ID: ident("odm", o, d, r.IntN(g.templates(o, d)))}, "view", ident("odu", o, d, r.IntN(g.direct(o, d)))
			case 2:
				u := r.IntN(g.users(o, d))
				ns := g.sends(o, d, u)
				if ns == 0 {
					continue
				}
				res, perm, subj = engine.Object{Type: "send", ID: ident("odus", o, d, u, r.IntN(ns))}, "view", admin
			case 3:
				nl := g.links(o, d)
				if nl == 0 {
					continue
				}
				res, perm, subj = engine.Object{Type: "one_link", ID: ident("odl", o, d, r.IntN(nl))}, "edit", admin
			}
		default:
			tl := g.teams(o, d)
			lvl := depth - 3
			if tl.n[lvl] == 0 {
				continue
			}
			team := tl.start[lvl] + r.IntN(tl.n[lvl])
			// users of team t: direct + t + k*total for k >= 0
			dir, nu := g.direct(o, d), g.users(o, d)
			first := dir + team
			if first >= nu {
				continue
			}
			k := r.IntN((nu-first-1)/tl.total() + 1)
			subj = ident("odu", o, d, first+k*tl.total())
			if r.IntN(2) == 0 {
				res = engine.Object{Type: "campaign", ID: ident("odc", o, d, r.IntN(g.campaigns(o, d)))}
			} else {
				res = engine.Object{Type: "template", ID: ident("odm", o, d, r.IntN(g.templates(o, d)))}
			}
			perm = "view"
		}
		if !allowed {
			subj = g.outsider(r, o, d)
		}
		break
	}
	return CheckQuery{
		Req:   engine.CheckRequest{Resource: res, Permission: perm, Subject: engine.Subject{Type: "user", ID: subj}},
		Want:  allowedIf(allowed),
		Class: class,
	}
}

// outsider is a plain user (no admin role) of a department other than d of
// organisation o: of the same organisation, or of another one.
func (g *Gifting) outsider(r *rand.Rand, o, d int) string {
	if g.orgs > 1 && r.IntN(2) == 0 {
		o2 := (o + 1 + r.IntN(g.orgs-1)) % g.orgs
		d2 := r.IntN(g.depts(o2))
		return ident("odu", o2, d2, r.IntN(g.users(o2, d2)))
	}
	nd := g.depts(o)
	d2 := (d + 1 + r.IntN(nd-1)) % nd
	return ident("odu", o, d2, r.IntN(g.users(o, d2)))
}

var giftingLookupResourcesClasses = []string{"sends an org admin views", "campaigns a user views", "sends a dept admin views"}

// LookupResourcesClasses implements Dataset.
func (g *Gifting) LookupResourcesClasses() []string { return giftingLookupResourcesClasses }

// LookupResources implements Dataset.
func (g *Gifting) LookupResources(r *rand.Rand, class int) engine.LookupResourcesRequest {
	o := r.IntN(g.orgs)
	d := r.IntN(g.depts(o))
	req := engine.LookupResourcesRequest{ResourceType: "send", Permission: "view"}
	switch class {
	case 0:
		req.Subject = engine.Subject{Type: "user", ID: ident("oa", o, r.IntN(g.orgAdmins(o)))}
	case 1:
		req.ResourceType = "campaign"
		req.Subject = engine.Subject{Type: "user", ID: ident("odu", o, d, r.IntN(g.users(o, d)))}
	default:
		req.Subject = engine.Subject{Type: "user", ID: ident("oda", o, d, r.IntN(g.admins(o, d)))}
	}
	return req
}

var giftingLookupSubjectsClasses = []string{"users who view a campaign", "users who view a send", "users who view an org-wide campaign"}

// LookupSubjectsClasses implements Dataset.
func (g *Gifting) LookupSubjectsClasses() []string { return giftingLookupSubjectsClasses }

// LookupSubjects implements Dataset.
func (g *Gifting) LookupSubjects(r *rand.Rand, class int) engine.LookupSubjectsRequest {
	req := engine.LookupSubjectsRequest{Permission: "view", SubjectType: "user"}
	for {
		o := r.IntN(g.orgs)
		d := r.IntN(g.depts(o))
		switch class {
		case 0:
			req.Resource = engine.Object{Type: "campaign", ID: ident("odc", o, d, r.IntN(g.campaigns(o, d)))}
		case 1:
			u := r.IntN(g.users(o, d))
			ns := g.sends(o, d, u)
			if ns == 0 {
				continue
			}
			req.Resource = engine.Object{Type: "send", ID: ident("odus", o, d, u, r.IntN(ns))}
		default:
			req.Resource = engine.Object{Type: "campaign", ID: ident("op", o, r.IntN(giftingPopular))}
		}
		return req
	}
}

// Write implements Dataset: a new send by a random user.
func (g *Gifting) Write(r *rand.Rand, n uint64) (add, remove []tuples.Update) {
	o := r.IntN(g.orgs)
	d := r.IntN(g.depts(o))
	u := r.IntN(g.users(o, d))
	send := fmt.Sprintf("w%d_%s", n, ident("odu", o, d, u))
	rels := []tuples.Relationship{
		rel("send", send, "organization", "organization", ident("o", o), ""),
		rel("send", send, "department", "department", ident("od", o, d), ""),
		rel("send", send, "sender", "user", ident("odu", o, d, u), ""),
	}
	return updates(tuples.Touch, rels...), updates(tuples.Delete, rels...)
}
