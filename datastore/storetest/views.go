package storetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/tuples"
)

// checkViews checks that the three views of the store at rev agree: the
// live relationships ForEach lists, the forward index (Snapshot.Get and
// Snapshot.Subjects, with and without a subject filter) and the reverse
// index (Snapshot.Resources), caveats and expirations included.
//
// probes are relationships that may or may not be live at rev (a test
// passes every relationship it ever wrote): each index is asked about each
// of them too, so that an entry a delete left behind in one index is found
// although ForEach no longer lists it. It reports with t.Errorf (not
// Fatal), so it may run on any goroutine, and returns whether all agreed.
func checkViews(t testing.TB, ds datastore.Datastore, rev tuples.Revision, probes []tuples.Relationship) bool {
	ctx := testContext(t)
	if err := views(ctx, ds, rev, probes); err != nil {
		t.Errorf("revision %d: %v", rev, err)
		return false
	}
	return true
}

// views does checkViews' work and returns its first disagreement.
func views(ctx context.Context, ds datastore.Datastore, rev tuples.Revision, probes []tuples.Relationship) error {
	if rev == 0 {
		var err error
		if rev, err = ds.HeadRevision(ctx); err != nil {
			return err
		}
	}
	// live maps each relationship without its traits to its full form.
	live := map[string]string{}
	var rels []tuples.Relationship
	if _, err := ds.ForEach(ctx, rev, tuples.Filter{}, func(r tuples.Relationship) (bool, error) {
		live[r.WithoutTraits().String()] = r.String()
		rels = append(rels, r)
		return true, nil
	}); err != nil {
		return fmt.Errorf("ForEach: %w", err)
	}
	sn, err := ds.Snapshot(ctx, rev)
	if err != nil {
		return err
	}
	defer sn.Close()
	if sn.Revision() != rev {
		return fmt.Errorf("Snapshot(%d).Revision() = %d", rev, sn.Revision())
	}

	// want lists the live relationships that match, fully printed.
	want := func(match func(r tuples.Relationship) bool) []string {
		var out []string
		for _, r := range rels {
			if match(r) {
				out = append(out, r.String())
			}
		}
		sort.Strings(out)
		return out
	}
	collect := func(scan func(fn func(tuples.Relationship) bool) error) ([]string, error) {
		var out []string
		err := scan(func(r tuples.Relationship) bool {
			out = append(out, r.String())
			return true
		})
		sort.Strings(out)
		return out, err
	}
	same := func(what string, got, want []string, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("%s lists %q, ForEach %q", what, got, want)
		}
		return nil
	}

	type resourceKey struct{ typ, id, rel string }
	type subjectKey struct {
		resourceKey
		styp, srel string
	}
	type reverseKey struct{ styp, sid, srel, typ, rel string }
	seenRes, seenSubj, seenRev, seenGet := map[resourceKey]bool{}, map[subjectKey]bool{}, map[reverseKey]bool{}, map[string]bool{}
	for _, r := range append(append([]tuples.Relationship(nil), probes...), rels...) {
		rk := resourceKey{r.ResourceType, r.ResourceID, r.Relation}
		if !seenRes[rk] {
			seenRes[rk] = true
			got, err := collect(func(fn func(tuples.Relationship) bool) error {
				return sn.Subjects(rk.typ, rk.id, rk.rel, "", "", fn)
			})
			w := want(func(x tuples.Relationship) bool {
				return x.ResourceType == rk.typ && x.ResourceID == rk.id && x.Relation == rk.rel
			})
			if err := same(fmt.Sprintf("Subjects(%s:%s#%s)", rk.typ, rk.id, rk.rel), got, w, err); err != nil {
				return err
			}
		}
		sk := subjectKey{rk, r.SubjectType, r.SubjectRelation}
		if !seenSubj[sk] {
			seenSubj[sk] = true
			got, err := collect(func(fn func(tuples.Relationship) bool) error {
				return sn.Subjects(rk.typ, rk.id, rk.rel, sk.styp, sk.srel, fn)
			})
			w := want(func(x tuples.Relationship) bool {
				return x.ResourceType == rk.typ && x.ResourceID == rk.id && x.Relation == rk.rel &&
					x.SubjectType == sk.styp && x.SubjectRelation == sk.srel
			})
			if err := same(fmt.Sprintf("Subjects(%s:%s#%s, %s#%s)", rk.typ, rk.id, rk.rel, sk.styp, sk.srel), got, w, err); err != nil {
				return err
			}
		}
		vk := reverseKey{r.SubjectType, r.SubjectID, r.SubjectRelation, r.ResourceType, r.Relation}
		if !seenRev[vk] {
			seenRev[vk] = true
			got, err := collect(func(fn func(tuples.Relationship) bool) error {
				return sn.Resources(vk.styp, vk.sid, vk.srel, vk.typ, vk.rel, fn)
			})
			w := want(func(x tuples.Relationship) bool {
				return x.SubjectType == vk.styp && x.SubjectID == vk.sid && x.SubjectRelation == vk.srel &&
					x.ResourceType == vk.typ && x.Relation == vk.rel
			})
			if err := same(fmt.Sprintf("Resources(%s:%s#%s, %s#%s)", vk.styp, vk.sid, vk.srel, vk.typ, vk.rel), got, w, err); err != nil {
				return err
			}
		}
		key := r.WithoutTraits().String()
		if !seenGet[key] {
			seenGet[key] = true
			g, ok, err := sn.Get(r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation)
			if err != nil {
				return fmt.Errorf("Get(%s): %w", key, err)
			}
			full, isLive := live[key]
			switch {
			case ok != isLive:
				return fmt.Errorf("Get(%s) found %v, ForEach %v", key, ok, isLive)
			case ok && g.String() != full:
				return fmt.Errorf("Get(%s) = %s, ForEach has %s", key, g, full)
			}
		}
	}
	return nil
}
