package bench

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// Campaigns is the campaign-organising dataset (seed 003, bench's
// schemas/campaigns.zed): accounts, each with an owner and 1 to 4 campaigns.
// A campaign has 1 to 3 admins, 1 to 4 staff and 10 to 40 volunteers (one
// campaign in 40, and always the first, 100 times more); staff hold the data
// and list add-ons at random, the first admin sends welcome messages and
// broadcasts (where the campaign enables them), the last admin handles them,
// one volunteer in 20 turned contact sync off, and one in 10 was also invited
// to the account's next campaign. Each campaign has actions (5 plus one per
// 20 volunteers, created by staff), 2 to 5 contact lists and one role
// assignment per admin and staff member.
//
// Ids: account a2, owner a2_o0, campaign a2_c1, admin a2_c1_a0, staff
// a2_c1_s3, volunteer a2_c1_v17, action a2_c1_x4, contact list a2_c1_l0, role
// assignment of an admin a2_c1_r0 and of a staff member a2_c1_q1.
type Campaigns struct {
	seed     uint64
	accounts int
	total    int64
}

const (
	cCampaigns = iota + 100
	cLarge
	cVolunteers
	cAdmins
	cStaff
	cData
	cLists
	cBroadcasts
	cSender
	cSyncOff
	cInvite
	cContactLists
)

// NewCampaigns returns the campaigns dataset with as many accounts as it
// takes to reach target relationships (at least one).
func NewCampaigns(seed uint64, target int64) *Campaigns {
	c := &Campaigns{seed: seed}
	for c.accounts == 0 || c.total < target {
		c.total += c.accountRelationships(c.accounts)
		c.accounts++
	}
	return c
}

// Name implements Dataset.
func (c *Campaigns) Name() string { return "campaigns" }

// Schema implements Dataset.
func (c *Campaigns) Schema() (string, []byte) { return "campaigns.zed", mustSchema("campaigns.zed") }

// Relationships implements Dataset.
func (c *Campaigns) Relationships() int64 { return c.total }

// Accounts is the number of accounts generated.
func (c *Campaigns) Accounts() int { return c.accounts }

func (c *Campaigns) h(vals ...uint64) uint64 { return mix(c.seed, vals...) }

func (c *Campaigns) campaigns(a int) int { return 1 + int(c.h(cCampaigns, uint64(a))%4) }

func (c *Campaigns) volunteers(a, k int) int {
	n := 10 + int(c.h(cVolunteers, uint64(a), uint64(k))%31)
	if (a == 0 && k == 0) || c.h(cLarge, uint64(a), uint64(k))%40 == 0 {
		n *= 100
	}
	return n
}

func (c *Campaigns) admins(a, k int) int { return 1 + int(c.h(cAdmins, uint64(a), uint64(k))%3) }
func (c *Campaigns) staff(a, k int) int  { return 1 + int(c.h(cStaff, uint64(a), uint64(k))%4) }
func (c *Campaigns) dataAddon(a, k, s int) bool {
	return c.h(cData, uint64(a), uint64(k), uint64(s))%3 == 0
}
func (c *Campaigns) listsAddon(a, k, s int) bool {
	return c.h(cLists, uint64(a), uint64(k), uint64(s))%3 == 0
}
func (c *Campaigns) broadcasts(a, k int) bool { return c.h(cBroadcasts, uint64(a), uint64(k))%2 == 0 }
func (c *Campaigns) staffSender(a, k, s int) bool {
	return c.h(cSender, uint64(a), uint64(k), uint64(s))%4 == 0
}
func (c *Campaigns) syncOff(a, k, v int) bool {
	return c.h(cSyncOff, uint64(a), uint64(k), uint64(v))%20 == 0
}

// invited reports whether volunteer v of campaign k is also a volunteer of
// the account's next campaign.
func (c *Campaigns) invited(a, k, v int) bool {
	return c.campaigns(a) > 1 && c.h(cInvite, uint64(a), uint64(k), uint64(v))%10 == 0
}
func (c *Campaigns) actions(a, k int) int { return 5 + c.volunteers(a, k)/20 }
func (c *Campaigns) contactLists(a, k int) int {
	return 2 + int(c.h(cContactLists, uint64(a), uint64(k))%4)
}

func (c *Campaigns) accountRelationships(a int) int64 {
	n := int64(1)
	for k := 0; k < c.campaigns(a); k++ {
		na, ns, nv := c.admins(a, k), c.staff(a, k), c.volunteers(a, k)
		// the account; per admin and staff member the role and a role
		// assignment (3); welcome sender, broadcast sender and handler (3)
		n += 1 + 3*int64(na+ns) + 3
		n += int64(2 * c.actions(a, k))
		n += int64(c.contactLists(a, k))
		if c.broadcasts(a, k) {
			n++
		}
		for s := 0; s < ns; s++ {
			if c.dataAddon(a, k, s) {
				n++
			}
			if c.listsAddon(a, k, s) {
				n++
			}
			if c.staffSender(a, k, s) {
				n++
			}
		}
		n += int64(nv)
		for v := 0; v < nv; v++ {
			if c.syncOff(a, k, v) {
				n++
			}
			if c.invited(a, k, v) {
				n++
			}
		}
	}
	return n
}

// Generate implements Dataset.
func (c *Campaigns) Generate(ctx context.Context, emit func(tuples.Relationship) error) error {
	for a := 0; a < c.accounts; a++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.generateAccount(a, emit); err != nil {
			return fmt.Errorf("campaigns: account %d: %w", a, err)
		}
	}
	return nil
}

func (c *Campaigns) generateAccount(a int, emit func(tuples.Relationship) error) error {
	acct := ident("a", a)
	out := []tuples.Relationship{rel("account", acct, "owner", "user", ident("ao", a, 0), "")}
	nc := c.campaigns(a)
	for k := 0; k < nc; k++ {
		cp := ident("ac", a, k)
		na, ns, nv := c.admins(a, k), c.staff(a, k), c.volunteers(a, k)
		out = append(out, rel("campaign", cp, "account", "account", acct, ""))
		for i := 0; i < na; i++ {
			admin := ident("aca", a, k, i)
			ra := ident("acr", a, k, i)
			out = append(out, rel("campaign", cp, "admin", "user", admin, ""),
				rel("role_assignment", ra, "campaign", "campaign", cp, ""),
				rel("role_assignment", ra, "holder", "user", admin, ""))
		}
		first, last := ident("aca", a, k, 0), ident("aca", a, k, na-1)
		out = append(out, rel("campaign", cp, "welcome_sender", "user", first, ""),
			rel("campaign", cp, "broadcast_sender", "user", first, ""),
			rel("campaign", cp, "broadcast_handler", "user", last, ""))
		if c.broadcasts(a, k) {
			out = append(out, rel("campaign", cp, "broadcasts_enabled", "user", "*", ""))
		}
		for s := 0; s < ns; s++ {
			staff := ident("acs", a, k, s)
			ra := ident("acq", a, k, s)
			out = append(out, rel("campaign", cp, "staff", "user", staff, ""),
				rel("role_assignment", ra, "campaign", "campaign", cp, ""),
				rel("role_assignment", ra, "holder", "user", staff, ""))
			if c.dataAddon(a, k, s) {
				out = append(out, rel("campaign", cp, "data_addon", "user", staff, ""))
			}
			if c.listsAddon(a, k, s) {
				out = append(out, rel("campaign", cp, "lists_addon", "user", staff, ""))
			}
			if c.staffSender(a, k, s) {
				out = append(out, rel("campaign", cp, "broadcast_sender", "user", staff, ""))
			}
		}
		for x := 0; x < c.actions(a, k); x++ {
			act := ident("acx", a, k, x)
			out = append(out, rel("action", act, "campaign", "campaign", cp, ""),
				rel("action", act, "creator", "user", ident("acs", a, k, x%ns), ""))
		}
		for l := 0; l < c.contactLists(a, k); l++ {
			out = append(out, rel("contact_list", ident("acl", a, k, l), "campaign", "campaign", cp, ""))
		}
		for _, r := range out {
			if err := emit(r); err != nil {
				return err
			}
		}
		out = out[:0]
		next := ident("ac", a, (k+1)%nc)
		for v := 0; v < nv; v++ {
			vol := ident("acv", a, k, v)
			if err := emit(rel("campaign", cp, "volunteer", "user", vol, "")); err != nil {
				return err
			}
			if c.syncOff(a, k, v) {
				if err := emit(rel("campaign", cp, "sync_off", "user", vol, "")); err != nil {
					return err
				}
			}
			if c.invited(a, k, v) {
				if err := emit(rel("campaign", next, "volunteer", "user", vol, "")); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Check classes of the campaigns dataset.
var campaignsCheckClasses = []string{
	"volunteer uses app (d1 allowed)",
	"outsider uses app (d1 denied)",
	"volunteer views action (d2 allowed)",
	"outsider views action (d2 denied)",
	"owner edits action (d3 allowed)",
	"staff+lists deletes list (& allowed)",
	"staff deletes list (& denied)",
	"admin manages other role (- allowed)",
	"admin manages own role (- denied)",
	"sync off volunteer syncs (- denied)",
	"admin sends broadcast (& switch)",
}

// CheckClasses implements Dataset.
func (c *Campaigns) CheckClasses() []string { return campaignsCheckClasses }

// Check implements Dataset.
func (c *Campaigns) Check(r *rand.Rand, class int) CheckQuery {
	q := CheckQuery{Class: class}
	user := func(id string) engine.Subject { return engine.Subject{Type: "user", ID: id} }
	for try := 0; ; try++ {
		a := r.IntN(c.accounts)
		k := r.IntN(c.campaigns(a))
		if try >= 50 {
			a, k = 0, 0 // large: every kind of member exists
		}
		cp := engine.Object{Type: "campaign", ID: ident("ac", a, k)}
		vol := ident("acv", a, k, r.IntN(c.volunteers(a, k)))
		action := engine.Object{Type: "action", ID: ident("acx", a, k, r.IntN(c.actions(a, k)))}
		list := engine.Object{Type: "contact_list", ID: ident("acl", a, k, r.IntN(c.contactLists(a, k)))}
		ns := c.staff(a, k)
		switch class {
		case 0:
			q.Req, q.Want = engine.CheckRequest{Resource: cp, Permission: "app_access", Subject: user(vol)}, engine.Allowed
		case 1:
			q.Req, q.Want = engine.CheckRequest{Resource: cp, Permission: "app_access", Subject: user(c.outsider(r, a))}, engine.Denied
		case 2:
			q.Req, q.Want = engine.CheckRequest{Resource: action, Permission: "view", Subject: user(vol)}, engine.Allowed
		case 3:
			q.Req, q.Want = engine.CheckRequest{Resource: action, Permission: "view", Subject: user(c.outsider(r, a))}, engine.Denied
		case 4:
			q.Req, q.Want = engine.CheckRequest{Resource: action, Permission: "edit", Subject: user(ident("ao", a, 0))}, engine.Allowed
		case 5, 6:
			s := r.IntN(ns)
			if c.listsAddon(a, k, s) != (class == 5) {
				continue
			}
			q.Req, q.Want = engine.CheckRequest{Resource: list, Permission: "delete", Subject: user(ident("acs", a, k, s))}, allowedIf(class == 5)
		case 7:
			s := r.IntN(ns)
			ra := engine.Object{Type: "role_assignment", ID: ident("acq", a, k, s)}
			q.Req, q.Want = engine.CheckRequest{Resource: ra, Permission: "manage", Subject: user(ident("aca", a, k, r.IntN(c.admins(a, k))))}, engine.Allowed
		case 8:
			i := r.IntN(c.admins(a, k))
			ra := engine.Object{Type: "role_assignment", ID: ident("acr", a, k, i)}
			q.Req, q.Want = engine.CheckRequest{Resource: ra, Permission: "manage", Subject: user(ident("aca", a, k, i))}, engine.Denied
		case 9:
			v := r.IntN(c.volunteers(a, k))
			if !c.syncOff(a, k, v) {
				continue
			}
			q.Req, q.Want = engine.CheckRequest{Resource: cp, Permission: "sync_contacts", Subject: user(ident("acv", a, k, v))}, engine.Denied
		default:
			q.Req, q.Want = engine.CheckRequest{Resource: cp, Permission: "send_broadcast", Subject: user(ident("aca", a, k, 0))}, allowedIf(c.broadcasts(a, k))
		}
		return q
	}
}

// outsider is a volunteer of another account, or (with one account) a user
// the data never names.
func (c *Campaigns) outsider(r *rand.Rand, a int) string {
	if c.accounts == 1 {
		return fmt.Sprintf("stranger%d", r.IntN(1<<20))
	}
	a2 := (a + 1 + r.IntN(c.accounts-1)) % c.accounts
	k2 := r.IntN(c.campaigns(a2))
	return ident("acv", a2, k2, r.IntN(c.volunteers(a2, k2)))
}

var campaignsLookupResourcesClasses = []string{"actions a volunteer views", "actions the owner edits", "lists a staff member deletes"}

// LookupResourcesClasses implements Dataset.
func (c *Campaigns) LookupResourcesClasses() []string { return campaignsLookupResourcesClasses }

// LookupResources implements Dataset.
func (c *Campaigns) LookupResources(r *rand.Rand, class int) engine.LookupResourcesRequest {
	a := r.IntN(c.accounts)
	k := r.IntN(c.campaigns(a))
	switch class {
	case 0:
		return engine.LookupResourcesRequest{ResourceType: "action", Permission: "view", Subject: engine.Subject{Type: "user", ID: ident("acv", a, k, r.IntN(c.volunteers(a, k)))}}
	case 1:
		return engine.LookupResourcesRequest{ResourceType: "action", Permission: "edit", Subject: engine.Subject{Type: "user", ID: ident("ao", a, 0)}}
	default:
		return engine.LookupResourcesRequest{ResourceType: "contact_list", Permission: "delete", Subject: engine.Subject{Type: "user", ID: ident("acs", a, k, r.IntN(c.staff(a, k)))}}
	}
}

var campaignsLookupSubjectsClasses = []string{"users with app access", "users who may sync", "users who manage a role"}

// LookupSubjectsClasses implements Dataset.
func (c *Campaigns) LookupSubjectsClasses() []string { return campaignsLookupSubjectsClasses }

// LookupSubjects implements Dataset.
func (c *Campaigns) LookupSubjects(r *rand.Rand, class int) engine.LookupSubjectsRequest {
	a := r.IntN(c.accounts)
	k := r.IntN(c.campaigns(a))
	cp := engine.Object{Type: "campaign", ID: ident("ac", a, k)}
	switch class {
	case 0:
		return engine.LookupSubjectsRequest{Resource: cp, Permission: "app_access", SubjectType: "user"}
	case 1:
		return engine.LookupSubjectsRequest{Resource: cp, Permission: "sync_contacts", SubjectType: "user"}
	default:
		ra := engine.Object{Type: "role_assignment", ID: ident("acr", a, k, r.IntN(c.admins(a, k)))}
		return engine.LookupSubjectsRequest{Resource: ra, Permission: "manage", SubjectType: "user"}
	}
}

// Write implements Dataset: a new action created by a staff member.
func (c *Campaigns) Write(r *rand.Rand, n uint64) (add, remove []tuples.Update) {
	a := r.IntN(c.accounts)
	k := r.IntN(c.campaigns(a))
	act := fmt.Sprintf("w%d_%s", n, ident("ac", a, k))
	rels := []tuples.Relationship{
		rel("action", act, "campaign", "campaign", ident("ac", a, k), ""),
		rel("action", act, "creator", "user", ident("acs", a, k, r.IntN(c.staff(a, k))), ""),
	}
	return updates(tuples.Touch, rels...), updates(tuples.Delete, rels...)
}
