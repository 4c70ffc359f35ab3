package bench_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/reach-authz/reach/bench"
	"github.com/reach-authz/reach/tuples"
)

// A dataset is a pure function of its seed and size: it streams its
// relationships and makes queries whose answers it knows.
func ExampleNewDataset() {
	ds, err := bench.NewDataset("gifting", 1, 10_000)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ds.Relationships(), "relationships")
	n := 0
	ds.Generate(context.Background(), func(r tuples.Relationship) error {
		if n++; n <= 3 {
			fmt.Println(r)
		}
		return nil
	})
	q := ds.Check(rand.New(rand.NewPCG(1, 2)), 4) // class 4: "depth 3 allowed"
	fmt.Printf("%s: %s#%s@%s is %s\n", ds.CheckClasses()[q.Class], q.Req.Resource, q.Req.Permission, q.Req.Subject, q.Want)
	// Output:
	// 10125 relationships
	// organization:o0#admin@user:o0_a0
	// user:o0_a0#organization@organization:o0
	// organization:o0#department@department:o0_d0
	// depth 3 allowed: campaign:o0_d6_c0#view@user:o0_d6_u13 is allowed
}

// Run loads a dataset into a temporary store, runs workloads and reports.
func ExampleRun() {
	rep, err := bench.Run(context.Background(), bench.Config{
		Dataset:       "campaigns",
		Relationships: 5_000,
		Workloads:     []string{"check-cold", "lookup-resources"},
		Duration:      100 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rep.WriteText(os.Stdout)
}
