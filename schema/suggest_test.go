package schema

import (
	"math/rand"
	"testing"
)

// fullEditDistance is the plain optimal-string-alignment distance over the
// whole table: the reference for the banded editDistance.
func fullEditDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// TestEditDistanceBanded: the banded distance agrees with the full table
// wherever the distance is within the limit, and is above the limit
// wherever the full distance is.
func TestEditDistanceBanded(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	word := func() string {
		n := rng.Intn(12)
		if rng.Intn(50) == 0 {
			n = 60 + rng.Intn(20) // past the buffer editDistance keeps on the stack
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[rng.Intn(3)]
		}
		return string(b)
	}
	for range 20000 {
		a, b := word(), word()
		if rng.Intn(2) == 0 && len(a) > 1 {
			// A near miss of a: a transposition, perhaps a substitution.
			bs := []byte(a)
			i := rng.Intn(len(bs) - 1)
			bs[i], bs[i+1] = bs[i+1], bs[i]
			if rng.Intn(2) == 0 {
				bs[rng.Intn(len(bs))] = 'd'
			}
			b = string(bs)
		}
		full := fullEditDistance(a, b)
		for limit := 1; limit <= 3; limit++ {
			got := editDistance(a, b, limit)
			if full <= limit && got != full || full > limit && got <= limit {
				t.Fatalf("editDistance(%q, %q, %d) = %d, full distance %d", a, b, limit, got, full)
			}
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"viewer", "editor", "owner", "view_all"}
	tests := []struct{ name, want string }{
		{"viewr", "viewer"},
		{"veiwer", "viewer"},
		{"edtior", "editor"},
		{"onwer", "owner"},
		{"viewer", ""}, // the name itself is no suggestion
		{"zzzzzz", ""},
		{"ab", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.name, names); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
