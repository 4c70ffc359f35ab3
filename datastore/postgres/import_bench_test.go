package postgres_test

import (
	"context"
	"io"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/reach-authz/reach/datastore/postgres"
	"github.com/reach-authz/reach/internal/pgtest"
	"github.com/reach-authz/reach/tuples"
)

// genReader produces n relationship lines in the shape of the Badger
// driver's import benchmark (tuples/import_bench_test.go), without holding
// them in memory: per document 10 viewers, one in ten a group#member and
// the rest users, plus group memberships.
type genReader struct {
	n, i int
	buf  []byte
	off  int
	line func([]byte, int) []byte // genLine when nil
}

func genLine(b []byte, i int) []byte {
	switch {
	case i%10 == 9:
		b = append(b, "group:g"...)
		b = strconv.AppendInt(b, int64(i/10%50000), 10)
		b = append(b, "#member@user:u"...)
		b = strconv.AppendInt(b, int64(i*7919%1000003), 10)
	case i%10 == 8:
		b = append(b, "document:d"...)
		b = strconv.AppendInt(b, int64(i/10), 10)
		b = append(b, "#viewer@group:g"...)
		b = strconv.AppendInt(b, int64(i*31%50000), 10)
		b = append(b, "#member"...)
	default:
		b = append(b, "document:d"...)
		b = strconv.AppendInt(b, int64(i/10), 10)
		b = append(b, "#viewer@user:u"...)
		b = strconv.AppendInt(b, int64(i*7919%1000003), 10)
	}
	return append(b, '\n')
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off == len(g.buf) {
		if g.i == g.n {
			return 0, io.EOF
		}
		g.buf, g.off = g.buf[:0], 0
		line := g.line
		if line == nil {
			line = genLine
		}
		for g.i < g.n && len(g.buf) < 64<<10 {
			g.buf = line(g.buf, g.i)
			g.i++
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

// caveatLine appends line i of an import where every relationship has a
// caveat with a context, as tuples' BenchmarkImportCaveated does: the
// context is checked on every line, not once per shape.
func caveatLine(b []byte, i int) []byte {
	b = append(b, "document:d"...)
	b = strconv.AppendInt(b, int64(i/10), 10)
	b = append(b, "#viewer@user:u"...)
	b = strconv.AppendInt(b, int64(i*7919%1000003), 10)
	if i%2 == 0 {
		return append(b, `[only_weekdays:{"tz":"UTC"}]`+"\n"...)
	}
	return append(b, `[only_weekdays:{"tz":"Europe/Berlin"}]`+"\n"...)
}

const benchSchema = `
caveat only_weekdays(tz string) {
  tz == "UTC"
}
definition user {}
definition group {
  relation member: user
}
definition document {
  relation viewer: user | group#member | user with only_weekdays
  permission view = viewer
}
`

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchImport imports n generated relationships into an empty database per
// iteration. Besides the wall-clock rate it reports the processor time
// per relationship of this process (parsing, validating, rendering COPY)
// and of the PostgreSQL server: on a shared machine the wall clock says
// more about the neighbours than about the import; the larger of the two
// CPU costs bounds the rate an otherwise idle machine reaches (the two
// run in parallel).
func benchImport(b *testing.B, n, batch int, line func([]byte, int) []byte) {
	ctx := context.Background()
	cluster := pgtest.Shared(b)
	var total, goCPU, pgCPU time.Duration
	for range b.N {
		b.StopTimer()
		s := open(b, migrated(b), postgres.Options{})
		if _, _, err := s.WriteSchema(ctx, "bench.zed", []byte(benchSchema)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, go0, pg0 := time.Now(), cpuTime(), cluster.CPUTime()
		res, err := s.Import(ctx, &genReader{n: n, line: line}, tuples.ImportOptions{BatchSize: batch})
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		goCPU += cpuTime() - go0
		pgCPU += cluster.CPUTime() - pg0
		if res.Imported != int64(n) {
			b.Fatalf("imported %d, want %d", res.Imported, n)
		}
	}
	rels := float64(n) * float64(b.N)
	b.ReportMetric(rels/total.Seconds(), "rels/s")
	b.ReportMetric(goCPU.Seconds()*1e6/rels, "go-cpu-µs/rel")
	b.ReportMetric(pgCPU.Seconds()*1e6/rels, "pg-cpu-µs/rel")
	b.ReportMetric(rels/max(goCPU, pgCPU).Seconds(), "cpu-bound-rels/s")
}

// BenchmarkImport1M imports 1,000,000 relationships into an empty
// database, in batches of 10,000 (the default) and of 40,000 (the most).
//
//	go test -run '^$' -bench Import1M -benchtime 1x ./datastore/postgres/
func BenchmarkImport1M(b *testing.B) {
	b.Run("batch=10000", func(b *testing.B) { benchImport(b, 1_000_000, 10000, genLine) })
	b.Run("batch=40000", func(b *testing.B) { benchImport(b, 1_000_000, 40000, genLine) })
}

// BenchmarkImport100k is the same at a tenth of the size, for quick runs.
func BenchmarkImport100k(b *testing.B) {
	benchImport(b, 100_000, 10000, genLine)
}

// BenchmarkImportCaveated imports 1,000,000 relationships that all carry a
// caveat context (in batches of 10,000), the case where the import's
// validation costs most:
//
//	go test -run '^$' -bench ImportCaveated -benchtime 1x ./datastore/postgres/
func BenchmarkImportCaveated(b *testing.B) {
	benchImport(b, 1_000_000, 10000, caveatLine)
}
