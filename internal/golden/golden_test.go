package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		want, got string
		has       []string
	}{
		{"a\nb\nc\n", "a\nB\nc\n", []string{"line 2:", `want "b"`, `got  "B"`}},
		{"a\n", "a\nextra\n", []string{"line 2:", `got  "extra"`}},
		{"same\n", "same\n", nil},
	}
	for _, tt := range tests {
		d := Diff(tt.want, tt.got)
		if tt.has == nil && d != "" {
			t.Errorf("Diff(%q, %q) = %q, want none", tt.want, tt.got, d)
		}
		for _, h := range tt.has {
			if !strings.Contains(d, h) {
				t.Errorf("Diff(%q, %q) = %q, lacks %q", tt.want, tt.got, d, h)
			}
		}
	}
}

func TestCheckMatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	if err := os.WriteFile(path, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	Check(t, path, "hello\n") // must not fail
}
