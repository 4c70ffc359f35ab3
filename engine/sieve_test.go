package engine

import (
	"fmt"
	"slices"
	"testing"
)

// sieveSchema is the gifting portal's shape: a send's viewers are its
// sender, its department's admins, its organisation's admins, and those it
// was shared with who are admins somewhere in the organisation (an
// intersection); plus an exclusion and a .all arrow.
const sieveSchema = `
definition user {}

definition organization {
	relation admin: user
	relation department: department
	relation banned: user
	permission any_admin = admin + department->admins
}

definition department {
	relation admin: user
	permission admins = admin
}

definition send {
	relation organization: organization
	relation department: department
	relation sender: user
	relation shared_with: user
	permission shared_admin = shared_with & organization->any_admin
	permission view = sender + department->admins + organization->admin + shared_admin
	permission view_unbanned = view - organization->banned
	permission all_admins = department.all(admins)
}
`

// LookupResources sorts out candidates by which operands the walk up
// reached (upWalk.sieve) before it checks any: a department admin reaches
// every send of the organisation through organization->any_admin, one side
// of an intersection, but a send not shared with them cannot be in it, so
// it is no answer and costs no check; one shared with them is in it for
// certain and costs no check either. Only an exclusion's base, a .all
// arrow or a caveat leaves a candidate to Check.
func TestLookupResourcesSieve(t *testing.T) {
	rels := []string{
		"organization:o#admin@user:boss",
		"organization:o#department@department:d1",
		"organization:o#department@department:d2",
		"organization:o#banned@user:bad",
		"department:d1#admin@user:ana",
		"department:d2#admin@user:bad",
		"send:mine#organization@organization:o",
		"send:mine#department@department:d1",
		"send:mine#sender@user:ana",
		"send:shared#organization@organization:o",
		"send:shared#department@department:d2",
		"send:shared#shared_with@user:ana",
	}
	const others = 200
	for i := 0; i < others; i++ {
		s := fmt.Sprintf("send:s%03d", i)
		rels = append(rels, s+"#organization@organization:o", s+"#department@department:d2", fmt.Sprintf("%s#sender@user:u%d", s, i))
	}
	st := newTestStore(t, sieveSchema, rels...)
	cs := newCountingStore(st)
	e := New(cs, Options{})

	for _, tt := range []struct {
		perm, subject string
		want          []string
		maxSendReads  int // reads of a send's own relationships (a Check of it)
	}{
		{"view", "ana", []string{"mine", "shared"}, 0},
		{"shared_admin", "ana", []string{"shared"}, 0},
		{"view", "boss", nil, 0}, // filled below: every send
		// The subtracted side is never walked: the candidates are checked.
		{"view_unbanned", "ana", []string{"mine", "shared"}, 20},
		{"view_unbanned", "bad", nil, others * 20},
		{"all_admins", "ana", []string{"mine"}, 20},
	} {
		t.Run(tt.perm+"@"+tt.subject, func(t *testing.T) {
			want := tt.want
			if tt.subject == "boss" {
				want = []string{"mine", "shared"}
				for i := 0; i < others; i++ {
					want = append(want, fmt.Sprintf("s%03d", i))
				}
				slices.Sort(want)
			}
			cs.reset()
			got, _ := lookupIDs(t, e, LookupResourcesRequest{ResourceType: "send", Permission: tt.perm, Subject: Subject{Type: "user", ID: tt.subject}, Consistency: fresh})
			if !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			if n := cs.total("Subjects send:"); n > tt.maxSendReads {
				t.Errorf("%d reads of sends' relationships, want at most %d: candidates were checked", n, tt.maxSendReads)
			}
			// organization->admin and organization->any_admin read the
			// same relationships: once.
			if n := cs.total("Resources organization:o# send#organization"); n > 1 {
				t.Errorf("the organisation's sends were read %d times", n)
			}
		})
	}
}
