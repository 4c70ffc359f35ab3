package engine

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

func TestZZSlow(t *testing.T) {
	for _, seed := range []uint64{808, 1281} {
		data := make([]byte, 64+seed%200)
		r := rand.New(rand.NewPCG(seed, 99))
		for i := range data { data[i] = byte(r.IntN(256)) }
		c := genCase(rand.New(&byteSource{b: data}), 6)
		for rep := 0; rep < 3; rep++ {
		start := time.Now()
		var st refStats
		compareWithReference(t, c, &st)
		t.Logf("seed %d: total %v", seed, time.Since(start))
		}
		e := New(newMemStore(c.prog, c.rels), Options{CacheSize: -1, MaxDepth: 1000})
		start := time.Now()
		n := 0
		for _, o := range c.universe() {
			for _, rel := range c.prog.Definition(o.Type).Relations {
				for _, s := range c.tableSubjects {
					_, _ = e.Check(context.Background(), CheckRequest{Resource: o, Permission: rel.Name, Subject: s, Consistency: fresh})
					n++
				}
			}
		}
		t.Logf("seed %d: %d table checks in %v", seed, n, time.Since(start))
	}
}
