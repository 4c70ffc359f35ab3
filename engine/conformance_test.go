package engine

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/reach-authz/reach/internal/corpus"
	"gopkg.in/yaml.v3"
)

// conformanceDir holds SpiceDB's truth tables (../shared/conformance beside
// the repository); the test skips when it is absent.
var conformanceDir = filepath.Join("..", "..", "shared", "conformance", "matrix")

type matrixFile struct {
	Schema        string `yaml:"schema"`
	Relationships string `yaml:"relationships"`
	Assertions    struct {
		AssertTrue  []string `yaml:"assertTrue"`
		AssertFalse []string `yaml:"assertFalse"`
	} `yaml:"assertions"`
}

type lookupsFile struct {
	LookupResources []string `yaml:"lookupResources"`
}

var caveatOrExpiration = regexp.MustCompile(`(?m)^\s*caveat\s|use expiration|\[`)

// TestConformanceMatrix checks the engine against the check truth tables
// and LookupResources results SpiceDB computed for its own integration
// tests (see ../shared/conformance/README.md): every check (one by one with
// the cache, and all at once in a CheckBulk), every LookupResources, and
// LookupSubjects against the truth table. Files that need caveats or
// expiration are left to the caveat work and listed in the log.
func TestConformanceMatrix(t *testing.T) {
	// 69 truth tables are in the corpus (../shared/conformance/README.md).
	files := corpus.Glob(t, filepath.Join(conformanceDir, "*.matrix.yaml"), 69)
	var skipped []string
	checks, lookups := 0, 0
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".matrix.yaml")
		var m matrixFile
		readYAML(t, path, &m)
		if caveatOrExpiration.MatchString(m.Schema) || caveatOrExpiration.MatchString(m.Relationships) {
			skipped = append(skipped, name)
			continue
		}
		var lk lookupsFile
		readYAML(t, strings.TrimSuffix(path, ".matrix.yaml")+".lookups.yaml", &lk)
		t.Run(name, func(t *testing.T) {
			var rels []string
			for _, line := range strings.Split(m.Relationships, "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "//") {
					rels = append(rels, line)
				}
			}
			st := newTestStore(t, m.Schema, rels...)
			e := New(st, Options{})
			ctx := context.Background()
			truth := map[string]bool{}
			var reqs []CheckRequest
			for _, set := range []struct {
				list []string
				want bool
			}{{m.Assertions.AssertTrue, true}, {m.Assertions.AssertFalse, false}} {
				for _, q := range set.list {
					truth[q] = set.want
					reqs = append(reqs, checkReq(t, q))
				}
			}
			bulk, err := New(st, Options{CacheSize: -1}).CheckBulk(ctx, reqs)
			if err != nil {
				t.Fatalf("CheckBulk: %v", err)
			}
			for i, req := range reqs {
				q := req.Resource.String() + "#" + req.Permission + "@" + req.Subject.String()
				want := Denied
				if truth[q] {
					want = Allowed
				}
				got, err := e.Check(ctx, req)
				if err != nil {
					t.Errorf("Check(%s): %v", q, err)
					continue
				}
				if got.Permissionship != want || bulk[i].Permissionship != want {
					t.Errorf("Check(%s) = %s (bulk %s), SpiceDB says %s", q, got.Permissionship, bulk[i].Permissionship, want)
				}
				checks++
			}
			for _, entry := range lk.LookupResources {
				q, ids, ok := strings.Cut(entry, " -> ")
				res, sub, ok2 := strings.Cut(q, "@")
				typ, perm, ok3 := strings.Cut(res, "#")
				if !ok || !ok2 || !ok3 {
					t.Fatalf("bad lookup entry %q", entry)
				}
				var want []string
				if ids = strings.Trim(ids, "[]"); ids != "" {
					want = strings.Split(ids, ", ")
				}
				var got []string
				_, err := e.LookupResources(ctx, LookupResourcesRequest{ResourceType: typ, Permission: perm, Subject: mustSubject(t, sub), Consistency: fresh},
					func(r LookupResult) bool {
						got = append(got, r.ResourceID)
						return true
					})
				if err != nil {
					t.Errorf("LookupResources(%s): %v", q, err)
					continue
				}
				if !slices.Equal(got, want) {
					t.Errorf("LookupResources(%s) = %v, SpiceDB says %v", q, got, want)
				}
				lookups++
			}
			checkSubjectsAgainstTruth(t, e, truth)
		})
	}
	t.Logf("%d checks and %d LookupResources agree with SpiceDB; left for caveats and expiration: %s",
		checks, lookups, strings.Join(skipped, ", "))
	// The corpus holds 5,057 such checks and 2,274 lookups: a count far
	// below says the test stopped looking (a moved path, a filter gone
	// wrong), not that the engine agrees.
	if checks < 5000 || lookups < 2200 {
		t.Errorf("only %d checks and %d lookups were compared: the test no longer sees the corpus", checks, lookups)
	}
}

// checkSubjectsAgainstTruth asks LookupSubjects for every resource and
// permission of the truth table and each subject type, and compares what it
// says of each subject (listed, or covered by a wildcard and not excluded)
// with the table; zz_stranger, named by no relationship, is covered only by
// a wildcard.
func checkSubjectsAgainstTruth(t *testing.T, e *Engine, truth map[string]bool) {
	t.Helper()
	type key struct{ res, stype string }
	subjects := map[key][]string{}
	for q := range truth {
		res, sub, _ := strings.Cut(q, "@")
		stype, sid, _ := strings.Cut(sub, ":")
		k := key{res, stype}
		if !slices.Contains(subjects[k], sid) {
			subjects[k] = append(subjects[k], sid)
		}
	}
	for k, ids := range subjects {
		obj, perm, _ := strings.Cut(k.res, "#")
		found, _, err := e.LookupSubjects(context.Background(), LookupSubjectsRequest{Resource: mustObject(t, obj), Permission: perm,
			SubjectType: k.stype, Consistency: fresh})
		if err != nil {
			t.Errorf("LookupSubjects(%s, %s): %v", k.res, k.stype, err)
			continue
		}
		listed := map[string]bool{}
		var wild *FoundSubject
		for i, f := range found {
			if f.ID == "*" {
				wild = &found[i]
			} else {
				listed[f.ID] = true
			}
		}
		for _, id := range ids {
			got := listed[id] || (wild != nil && !slices.Contains(wild.Excluded, id))
			if want := truth[k.res+"@"+k.stype+":"+id]; got != want {
				t.Errorf("LookupSubjects(%s, %s) = %s: says %s is %v, SpiceDB's check says %v", k.res, k.stype, formatFound(found), id, got, want)
			}
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
