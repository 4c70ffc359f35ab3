package main

import (
	"fmt"
	"strconv"
	"strings"
)

// byteSize is a flag's number of bytes, written as a number with an
// optional unit: B, KiB, MiB, GiB, TiB (powers of 1024) or kB, MB, GB, TB
// (powers of 1000), in any case ("256MiB", "1.5GiB", "100000000").
type byteSize int64

var byteUnits = []struct {
	suffix string
	n      float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"b", 1},
}

func (b *byteSize) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && mult == 1 {
		*b = byteSize(n)
		return nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f != f || f*mult > 1<<62 || f*mult < -(1<<62) {
		return fmt.Errorf("%q is not a size in bytes (as 256MiB, 1GiB or 100000000)", s)
	}
	*b = byteSize(f * mult)
	return nil
}

func (b byteSize) String() string {
	n := int64(b)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.n == 0 {
			return fmt.Sprintf("%d%s", n/u.n, u.suffix)
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Type() string { return "bytes" }
