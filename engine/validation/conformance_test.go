package validation

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	extcorpus "github.com/reach-authz/reach/internal/corpus"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/internal/testdatastore"
)

// corpus is the conformance corpus beside the repository (../shared).
const corpus = "../../../shared/conformance"

// The files of the corpus that need caveat evaluation, as its README lists
// them: 20 source files with caveats, and the matrix and lookups files of
// the 19 caveated ones that have a matrix (58 files). The engine evaluates
// caveats, so they must pass like every other file; the test counts them
// to make sure none went missing from the corpus.
var (
	caveatSources = []string{
		"allopscaveat", "basiccaveat", "caveatarrow", "caveatedintersectionarrow", "caveatexpiration",
		"caveatindirectarrow", "caveatip", "caveatlist", "caveatlr", "caveatmap",
		"caveatmultiplebranchessamerel", "caveatunderarrow", "caveatunderintersect", "expirationwithcaveat",
		"multibranchcaveatwitharrows", "multibranchcaveatwithintersectionarrows", "multipleslashes",
		"publiccaveat", "publiccaveatexclusion", "quay",
	}
	// wantCaveatFiles: 20 sources, 19 matrices, 19 lookups files.
	wantCaveatFiles = 20 + 19 + 19
)

func corpusFiles(t *testing.T) []string {
	t.Helper()
	extcorpus.Dir(t, corpus)
	var files []string
	for _, pat := range []string{"spicedb/*.yaml", "matrix/*.matrix.yaml", "matrix/*.lookups.yaml"} {
		m, err := filepath.Glob(filepath.Join(corpus, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	// The corpus holds 211 files (../shared/conformance/README.md).
	if len(files) < 211 {
		t.Fatalf("%d files in %s, want 211: the corpus moved or lost files", len(files), corpus)
	}
	return files
}

// needsCaveats says whether the corpus file at path needs caveat
// evaluation.
func needsCaveats(path string) bool {
	base := filepath.Base(path)
	name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(base, ".yaml"), ".matrix"), ".lookups")
	for _, n := range caveatSources {
		if n == name {
			return true
		}
	}
	return false
}

// TestConformance runs every file of the corpus, those with caveats and
// relationship expiration included: all must pass, none be reported
// unsupported. Each passing file is then run again with one expectation
// turned around, which must fail, to show the file's expectations are
// really compared (not under -short).
func TestConformance(t *testing.T) {
	ctx := context.Background()
	files := corpusFiles(t)
	counts := map[string]int{}
	var caveated []string
	for _, path := range files {
		rel, _ := filepath.Rel(corpus, path)
		t.Run(rel, func(t *testing.T) {
			opts := DefaultOptions()
			if testdatastore.Kind() != "badger" {
				// Each file in a fresh store of the driver asked for.
				opts.Open = func(context.Context) (datastore.Datastore, error) {
					return testdatastore.Open(t, testdatastore.Options{}), nil
				}
			}
			r, err := RunPath(ctx, path, opts)
			if err != nil {
				t.Fatal(err)
			}
			counts[r.Kind+" "+r.Status.String()]++
			if needsCaveats(path) {
				caveated = append(caveated, rel)
			}
			switch r.Status {
			case Passed:
			case Invalid:
				t.Fatalf("invalid: %s", r.Error)
			case Unsupported:
				t.Fatalf("unsupported: %s", strings.Join(r.Unsupported, "; "))
			default:
				for _, a := range r.Failures() {
					t.Errorf("line %d: %s %s: got %s %s\n%s", a.Line, a.Kind, a.Text, a.Got, a.Error, a.Explanation)
				}
				for _, v := range r.Validation {
					t.Errorf("line %d: %s", v.Line, v.Message)
				}
				t.FailNow()
			}
			p, _ := r.Counts()
			counts[r.Kind+" checks"] += p
			if p > 0 && !testing.Short() {
				checkMutantFails(t, path, r.Kind)
			}
		})
	}
	sort.Strings(caveated)
	t.Logf("%d files; %v", len(files), counts)
	t.Logf("with caveats (%d): %s", len(caveated), strings.Join(caveated, " "))
	if len(caveated) != wantCaveatFiles {
		t.Errorf("%d files with caveats in the corpus, want %d", len(caveated), wantCaveatFiles)
	}
}

// checkMutantFails runs the file at path with its first expectation turned
// around and makes sure the result is a failure.
func checkMutantFails(t *testing.T, path, kind string) {
	t.Helper()
	ctx := context.Background()
	var r *Result
	var err error
	if kind == KindLookups {
		l, lerr := ReadLookups(path)
		if lerr != nil {
			t.Fatal(lerr)
		}
		if len(l.Lookups) == 0 {
			return
		}
		l.Lookups[0].IDs = append(append([]string{}, l.Lookups[0].IDs...), "zz_not_a_result")
		r, err = RunLookups(ctx, l, DefaultOptions())
	} else {
		f, ferr := Read(path)
		if ferr != nil {
			t.Fatal(ferr)
		}
		a := &f.Assertions[0]
		a.Kind = map[AssertionKind]AssertionKind{AssertTrue: AssertFalse, AssertFalse: AssertTrue}[a.Kind]
		r, err = Run(ctx, f, DefaultOptions())
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, failed := r.Counts(); r.Status != Failed || failed != 1 {
		t.Errorf("with its first expectation turned around: status %v, %d failed; want failed, 1", r.Status, failed)
	}
}
