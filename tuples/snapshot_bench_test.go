package tuples

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkSnapshotGetParallel times a check request's reads on every
// core at once: open a snapshot, one Get, close it. It measures what the
// store shares among concurrent requests (the read gates of readgate.go,
// the registry of open snapshots).
func BenchmarkSnapshotGetParallel(b *testing.B) {
	s := benchStore(b, 100, 100)
	ctx := context.Background()
	head, _ := s.HeadRevision(ctx)
	ids := make([]string, 100)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%d", i)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			sn, err := s.Snapshot(ctx, head)
			if err != nil {
				b.Fatal(err)
			}
			if _, ok, err := sn.Get("document", "doc7", "viewer", "user", ids[i%100], ""); !ok || err != nil {
				b.Fatal("not found", err)
			}
			sn.Close()
			i++
		}
	})
}
