package storetest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/tuples"
)

func testExpiration(t *testing.T, f Factory) {
	subtests(t, f, []subtest{
		{"Past", testExpirationPast},
		{"Passes", testExpirationPasses},
	})
}

// testExpirationPast checks that a relationship written with an expiration
// already past is accepted and reads as absent everywhere, and that a
// CREATE over it succeeds.
func testExpirationPast(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	write(t, ds, tuples.Touch,
		`document:a#viewer@user:ana[only_weekdays:{"tz":"UTC"}]`,
		"document:a#viewer@user:bo[expiration:2999-01-01T00:00:00.25Z]",
		"document:a#viewer@user:cy[expiration:"+past+"]",
	)
	sn := snapshot(t, ds, head(t, ds))
	r, ok, err := sn.Get("document", "a", "viewer", "user", "ana", "")
	if !ok || err != nil || r.Caveat == nil || r.Caveat.Name != "only_weekdays" || r.Caveat.Context["tz"] != "UTC" {
		t.Errorf("caveated relationship: %v %v %v", r, ok, err)
	}
	r, ok, _ = sn.Get("document", "a", "viewer", "user", "bo", "")
	if !ok || r.String() != "document:a#viewer@user:bo[expiration:2999-01-01T00:00:00.25Z]" || r.Expiration == nil {
		t.Errorf("expiring relationship: %v %v", r, ok)
	}
	if _, ok, _ := sn.Get("document", "a", "viewer", "user", "cy", ""); ok {
		t.Errorf("Get finds the expired relationship")
	}
	if got := resources(t, sn, "user", "cy", "", "document", "viewer"); len(got) != 0 {
		t.Errorf("Resources finds the expired relationship: %q", got)
	}
	if got := subjects(t, sn, "document", "a", "viewer", "", ""); len(got) != 2 {
		t.Errorf("Subjects finds the expired relationship: %q", got)
	}
	if got := all(t, ds, 0); len(got) != 2 {
		t.Errorf("ForEach lists the expired relationship: %q", got)
	}
	res, err := ds.ReadRelationships(ctx, mustFilter(t, "@user:cy"), tuples.ReadOptions{})
	if err != nil || len(res.Relationships) != 0 {
		t.Errorf("ReadRelationships lists the expired relationship: %v (%v)", res.Relationships, err)
	}
	var out bytes.Buffer
	if _, n, err := ds.Export(ctx, &out, tuples.ExportOptions{}); err != nil || n != 2 || strings.Contains(out.String(), "user:cy") {
		t.Errorf("Export writes the expired relationship: %q (%d, %v)", out.String(), n, err)
	}
	// A precondition does not see it either.
	if _, err := ds.Write(ctx, nil, tuples.Precondition{MustMatch: true, Filter: mustFilter(t, "@user:cy")}); err == nil {
		t.Errorf("a precondition matched the expired relationship")
	}
	// CREATE over an expired relationship succeeds, as it is absent.
	if _, err := ds.Write(ctx, updates(t, tuples.Create, "document:a#viewer@user:cy")); err != nil {
		t.Errorf("CREATE over an expired relationship: %v", err)
	}
	checkViews(t, ds, 0, nil)
}

// testExpirationPasses checks that a relationship disappears once its
// expiration passes, without any write.
func testExpirationPasses(t *testing.T, f Factory) {
	ctx := testContext(t)
	ds := newStore(t, f, Config{})
	at := time.Now().Add(300 * time.Millisecond).UTC()
	write(t, ds, tuples.Touch, "document:a#viewer@user:ana[expiration:"+at.Format(time.RFC3339Nano)+"]", "document:a#viewer@user:bo")
	rev := head(t, ds)
	got := all(t, ds, rev)
	if time.Now().Before(at) && len(got) != 2 {
		t.Errorf("before its expiration: %q, want both", got)
	}
	// Wait for it to pass; time.Sleep is the clock this test needs.
	time.Sleep(time.Until(at) + 10*time.Millisecond)
	for _, rd := range []tuples.Revision{rev, 0} {
		if got := all(t, ds, rd); len(got) != 1 || got[0] != "document:a#viewer@user:bo" {
			t.Errorf("after its expiration, at %d: %q", rd, got)
		}
	}
	sn := snapshot(t, ds, rev)
	if _, ok, err := sn.Get("document", "a", "viewer", "user", "ana", ""); ok || err != nil {
		t.Errorf("Get after its expiration: %v, %v", ok, err)
	}
	if got := resources(t, sn, "user", "ana", "", "document", "viewer"); len(got) != 0 {
		t.Errorf("Resources after its expiration: %q", got)
	}
	if _, err := ds.Write(ctx, updates(t, tuples.Create, "document:a#viewer@user:ana")); err != nil {
		t.Errorf("CREATE after its expiration: %v", err)
	}
}
