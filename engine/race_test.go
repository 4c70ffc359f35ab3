package engine

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/reach-authz/reach/tuples"
)

// Checks, bulk checks and lookups run while relationships are written and
// deleted. Run under the race detector (go test -race -short). Every answer
// is then asked again, uncached, at the exact revision it reported: the
// shared cache and the quantized revision never mix revisions up.
func TestConcurrentChecksAndWrites(t *testing.T) {
	st := newTestStore(t, semanticsSchema, semanticsData...)
	e := New(st, Options{CacheSize: 512, Quantization: -1})
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	ctx := context.Background()
	checks := []string{
		"doc:d2#read@user:carl", "doc:d3#read@user:vera", "doc:d6#all_folders@user:alice",
		"doc:d7#read@user:oscar", "doc:pub#not_blocked@user:bob", "group:ca#member@user:cyd",
		"doc:d2#read@user:w1", "doc:d3#read@user:w2", "group:eng#member@user:w3",
	}
	toggles := []string{
		"group:core#member@user:w1", "folder:root#viewer@user:w2", "group:eng#member@user:w3",
		"group:core#member@user:carl", "folder:root#viewer@user:vera", "group:ops#banned@user:olga",
		"folder:fb#viewer@user:bert", "doc:pub#blocked@user:amy",
	}

	reqs := make([]CheckRequest, len(checks))
	for i, q := range checks {
		reqs[i] = checkReq(t, q)
	}
	type answer struct {
		q   string
		res CheckResult
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
	)
	errs := make(chan error, 64)
	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < rounds; i++ {
			rel, err := tuples.Parse(toggles[r.IntN(len(toggles))])
			if err != nil {
				errs <- err
				return
			}
			op := tuples.Touch
			if r.IntN(2) == 0 {
				op = tuples.Delete
			}
			if _, err := st.Write(ctx, []tuples.Update{{Op: op, Relationship: rel}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) { // the readers
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for i := 0; i < rounds; i++ {
				n := r.IntN(len(checks))
				q, req := checks[n], reqs[n]
				if r.IntN(2) == 0 {
					req.Consistency = Consistency{Mode: MinimizeLatency}
				}
				switch i % 8 {
				case 3:
					res, err := e.CheckBulk(ctx, []CheckRequest{req, req})
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					answers = append(answers, answer{q, res[0]}, answer{q, res[1]})
					mu.Unlock()
				case 5:
					_, err := e.LookupResources(ctx, LookupResourcesRequest{ResourceType: "doc", Permission: "read",
						Subject: req.Subject, Consistency: req.Consistency}, func(LookupResult) bool { return true })
					if err != nil {
						errs <- err
						return
					}
					_, _, err = e.LookupSubjects(ctx, LookupSubjectsRequest{Resource: req.Resource, Permission: req.Permission,
						SubjectType: "user", Consistency: req.Consistency})
					if err != nil {
						errs <- err
						return
					}
				default:
					res, err := e.Check(ctx, req)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					answers = append(answers, answer{q, res})
					mu.Unlock()
				}
				_ = e.CacheStats()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	exact := New(st, Options{CacheSize: -1})
	for _, a := range answers {
		req := checkReq(t, a.q)
		req.Consistency = Consistency{Mode: AtExactSnapshot, Token: a.res.Revision.Token()}
		want, err := exact.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if want.Permissionship != a.res.Permissionship {
			t.Errorf("%s at revision %d: answered %s, uncached %s", a.q, a.res.Revision, a.res.Permissionship, want.Permissionship)
		}
	}
	if len(answers) == 0 {
		t.Fatal("no answers")
	}
	t.Logf("%d answers verified; cache %+v", len(answers), e.CacheStats())
}
