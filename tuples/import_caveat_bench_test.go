package tuples

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// caveatLine appends line i of an import where every relationship has a
// caveat with a context (which Import checks line by line, unlike the
// shape of the line).
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

// caveatReader produces n lines of caveatLine.
type caveatReader struct {
	n, i int
	buf  []byte
	off  int
}

func (g *caveatReader) Read(p []byte) (int, error) {
	if g.off == len(g.buf) {
		if g.i == g.n {
			return 0, io.EOF
		}
		g.buf, g.off = g.buf[:0], 0
		for g.i < g.n && len(g.buf) < 64<<10 {
			g.buf = caveatLine(g.buf, g.i)
			g.i++
		}
	}
	n := copy(p, g.buf[g.off:])
	g.off += n
	return n, nil
}

// BenchmarkImportCaveated times Import of 1M relationships that all carry a
// caveat context into a fresh on-disk store, as BenchmarkImport does:
//
//	go test ./tuples/ -run '^$' -bench BenchmarkImportCaveated -benchtime 1x
func BenchmarkImportCaveated(b *testing.B) {
	const n = 1_000_000
	b.Run("1M", func(b *testing.B) {
		var cpu float64
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, _, err := s.WriteSchema(ctx, "t.zed", []byte(testSchema)); err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuTime()
			b.StartTimer()
			res, err := s.Import(ctx, &caveatReader{n: n}, ImportOptions{Name: "gen"})
			b.StopTimer()
			cpu += cpuTime() - cpu0
			if err != nil {
				b.Fatal(err)
			}
			if res.Imported != n {
				b.Fatalf("imported %d of %d", res.Imported, n)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rels/s")
		b.ReportMetric(cpu/float64(n*b.N)*1e9, "cpu-ns/rel")
	})
}

// BenchmarkImportValidate times the schema check of Import alone, per
// relationship: plain ones (one check per shape) and caveated ones with a
// context (their context checked each).
func BenchmarkImportValidate(b *testing.B) {
	s := newTestStore(b, Options{})
	prog, err := s.programAt(mustHead(b, s))
	if err != nil || prog == nil {
		b.Fatal(prog, err)
	}
	for _, tt := range []struct {
		name string
		line func([]byte, int) []byte
	}{{"plain", genLine}, {"caveated", caveatLine}} {
		b.Run(tt.name, func(b *testing.B) {
			var text strings.Builder
			for i := range 1000 {
				text.Write(tt.line(nil, i))
			}
			var rels []Relationship
			sc := bufio.NewScanner(strings.NewReader(text.String()))
			for sc.Scan() {
				r, err := Parse(sc.Text())
				if err != nil {
					b.Fatal(err)
				}
				rels = append(rels, r)
			}
			val := &ImportValidator{}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := val.check(prog, &rels[i%len(rels)]); err != nil {
					b.Fatal(fmt.Sprint(i, err))
				}
			}
		})
	}
}

func mustHead(b testing.TB, s *Store) Revision {
	h, err := s.headRev()
	if err != nil {
		b.Fatal(err)
	}
	return h
}
