package tuples

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// genReader produces n relationship lines in a seed-like shape without
// holding them in memory: per resource 10 viewers, where one in ten is a
// group#member and the rest users, plus group memberships.
type genReader struct {
	n, i int
	buf  []byte
	off  int
}

func newGenReader(n int) *genReader { return &genReader{n: n} }

// genLine appends line i of the generated data.
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
		for g.i < g.n && len(g.buf) < 64<<10 {
			g.buf = genLine(g.buf, g.i)
			g.i++
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

// cpuTime is the user and system CPU time of this process so far, in
// seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkImport times Import of 1M and 10M generated relationships into a
// fresh on-disk store (the 10M case is skipped under -short). It reports
// relationships per second and the store's size on disk per relationship
// after Close. Run with -benchtime=1x:
//
//	go test ./tuples/ -run '^$' -bench BenchmarkImport -benchtime 1x
func BenchmarkImport(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		b.Run(fmt.Sprintf("%dM", n/1_000_000), func(b *testing.B) {
			if n > 1_000_000 && testing.Short() {
				b.Skip("10M skipped under -short")
			}
			var rate, disk, cpu float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := b.TempDir()
				s, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
					b.Fatal(err)
				}
				cpu0 := cpuTime()
				b.StartTimer()
				res, err := s.Import(ctx, newGenReader(n), ImportOptions{Name: "gen"})
				b.StopTimer()
				cpu += cpuTime() - cpu0
				if err != nil {
					b.Fatal(err)
				}
				if res.Imported != int64(n) {
					b.Fatalf("imported %d of %d", res.Imported, n)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				disk += float64(dirSize(b, dir)) / float64(n)
				b.StartTimer()
			}
			rate = float64(n) * float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "rels/s")
			b.ReportMetric(disk/float64(b.N), "disk-B/rel")
			// CPU time (user and system, all threads) per relationship: on a
			// shared machine, less noisy than the rate.
			b.ReportMetric(cpu/float64(n*b.N)*1e9, "cpu-ns/rel")
		})
	}
}
