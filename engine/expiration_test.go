package engine

import (
	"context"
	"testing"
	"time"

	"github.com/reach-authz/reach/tuples"
)

// An answer that rests on a relationship with an expiration must not
// outlive it in the check cache. The cache is keyed on revision, and with no
// writes the revision does not move when the relationship expires, so a
// cached "allowed" would stay allowed for ever. (SpiceDB reads expired
// relationships as absent; reach's store does the same at snapshot time.)
// The test waits for a real expiration (about 1.5 s): the store judges
// expiration by the wall clock.
func TestExpiredRelationshipLeavesNoCachedAnswer(t *testing.T) {
	const src = `use expiration
definition user {}
definition group {
	relation member: user with expiration | group#member
}
definition doc {
	relation viewer: group#member
	permission view = viewer
}`
	st := newTestStore(t, src, "doc:1#viewer@group:eng#member", "group:eng#member@group:core#member")
	expires := time.Now().Add(1500 * time.Millisecond)
	r, err := tuples.Parse("group:core#member@user:ana")
	if err != nil {
		t.Fatal(err)
	}
	r.Expiration = &expires
	if _, err := st.Write(context.Background(), []tuples.Update{{Op: tuples.Touch, Relationship: r}}); err != nil {
		t.Fatal(err)
	}
	e := New(st, Options{})
	head, err := st.HeadRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"doc:1#view@user:ana", "doc:1#viewer@user:ana", "group:eng#member@user:ana"} {
		res, err := e.Check(context.Background(), checkReq(t, q))
		if err != nil {
			t.Fatal(err)
		}
		if res.Permissionship != Allowed {
			t.Fatalf("%s before the expiration: %v, want allowed", q, res.Permissionship)
		}
	}
	time.Sleep(time.Until(expires) + 100*time.Millisecond)
	for _, q := range []string{"doc:1#view@user:ana", "doc:1#viewer@user:ana", "group:eng#member@user:ana", "group:core#member@user:ana"} {
		res, err := e.Check(context.Background(), checkReq(t, q))
		if err != nil {
			t.Fatal(err)
		}
		if res.Revision != head {
			t.Fatalf("revision moved from %d to %d: the test needs the same revision", head, res.Revision)
		}
		if res.Permissionship != Denied {
			t.Errorf("%s after the expiration, at the same revision: %v, want denied", q, res.Permissionship)
		}
	}
}
