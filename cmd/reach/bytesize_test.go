package main

import "testing"

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "-1": -1, "100000000": 100000000, "256MiB": 256 << 20, "256mib": 256 << 20, "1GiB": 1 << 30,
		"1.5GiB": 3 << 29, "64KiB": 64 << 10, "2TiB": 2 << 40, "500MB": 500e6, "1kB": 1000, "10B": 10, " 3 MiB ": 3 << 20,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "x", "1.5.2GiB", "1e30GiB", "NaN", "inf"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, b)
		}
	}
	for n, want := range map[int64]string{256 << 20: "256MiB", 1 << 30: "1GiB", 1000: "1000", 0: "0", -1: "-1", 3 << 29: "1536MiB"} {
		if got := byteSize(n).String(); got != want {
			t.Errorf("String(%d) = %q, want %q", n, got, want)
		}
	}
}
