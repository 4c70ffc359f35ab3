package impact

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reach-authz/reach/bench"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// TestImpactScale measures Analyze on the benchmark's gifting dataset at
// $REACH_IMPACT_SCALE relationships (skipped when unset), loaded into a
// temporary Badger store, for three rule changes of growing reach:
//
//	REACH_IMPACT_SCALE=1000000 go test ./internal/impact -run TestImpactScale -v -timeout 30m
func TestImpactScale(t *testing.T) {
	scale, _ := strconv.ParseInt(os.Getenv("REACH_IMPACT_SCALE"), 10, 64)
	if scale <= 0 {
		t.Skip("set REACH_IMPACT_SCALE (e.g. 1000000) to measure the impact analysis at that many relationships")
	}
	ctx := context.Background()
	ds, err := bench.NewDataset("gifting", 1, scale)
	if err != nil {
		t.Fatal(err)
	}
	store, err := tuples.Open(t.TempDir(), tuples.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	name, src := ds.Schema()
	if _, _, err := store.WriteSchema(ctx, name, src); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		err := ds.Generate(ctx, func(r tuples.Relationship) error {
			_, err := bw.WriteString(r.String() + "\n")
			return err
		})
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	res, err := store.Import(ctx, pr, tuples.ImportOptions{Name: "gifting.txt"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d relationships in %s", res.Imported, time.Since(start).Round(time.Millisecond))
	old, _, err := schema.Compile(name, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ what, from, to string }{
		{"one_link#edit: department admins lose it",
			"permission edit = department->admins + organization->admins\n}\n\n// A campaign",
			"permission edit = organization->admins\n}\n\n// A campaign"},
		{"send#cancel: the sender loses it (every send)",
			"permission cancel = sender + department->admins + organization->admins",
			"permission cancel = department->admins + organization->admins"},
		{"template#view: department people -> department admins",
			"permission view = department->people + organization->admins",
			"permission view = department->admins + organization->admins"},
	} {
		if strings.Count(string(src), c.from) != 1 {
			t.Fatalf("%s: %q occurs %d times", c.what, c.from, strings.Count(string(src), c.from))
		}
		cur, _, err := schema.Compile(name, []byte(strings.Replace(string(src), c.from, c.to, 1)))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Analyze(ctx, store, 0, old, cur, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d answers flip; %d (rule, resource) pairs evaluated, %d lookups, %d resources listed, in %s",
			c.what, len(rep.Cells), rep.Stats.Evaluated, rep.Stats.Lookups, rep.Stats.Resources, rep.Stats.Duration.Round(time.Millisecond))
	}
}
