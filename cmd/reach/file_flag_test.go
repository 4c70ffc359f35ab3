package main

import (
	"strings"
	"testing"
)

// The read commands accept --file: a validation file loaded into memory,
// so that a model can be queried without writing it to a store first.
func TestReadCommandsFromFile(t *testing.T) {
	t.Setenv("REACH_DATA_DIR", t.TempDir()) // an empty store: must not be read
	const file = "../../schemas/gifting.yaml"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // lines the output must contain
	}{
		{"check allowed", []string{"check", "--file", file, "send:s1", "cancel", "user:dana"}, 0, []string{"allowed"}},
		{"check denied", []string{"check", "--file", file, "send:s1", "cancel", "user:sam"}, 1, []string{"denied"}},
		{"check explained", []string{"check", "--file", file, "send:s1", "cancel", "user:dana", "--explain"},
			0, []string{"arrow department->admins", "department:sales#admin@user:dana"}},
		{"lookup resources", []string{"lookup", "resources", "--file", file, "send", "cancel", "user:dana"}, 0, []string{"s1", "s3"}},
		{"lookup subjects", []string{"lookup", "subjects", "--file", file, "send:s1", "cancel", "user"}, 0, []string{"user:dana", "user:olivia", "user:uma"}},
		{"expand", []string{"expand", "--file", file, "send:s1", "cancel"}, 0, []string{"send:s1#sender", "user:uma"}},
		{"missing file", []string{"check", "--file", "nope.yaml", "send:s1", "cancel", "user:dana"}, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := reach(t, "", tt.args...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, stdout)
				}
			}
		})
	}
}
