package main

import (
	"strings"
	"testing"
)

// TestCheckContext: `reach check --context` evaluates caveats with the
// given JSON object (testdata/validate/caveat.yaml: tom reads doc under
// only_weekdays(day), day != "sunday").
func TestCheckContext(t *testing.T) {
	file := "--file=" + vdir + "caveat.yaml"
	tests := []struct {
		name    string
		context []string
		want    int
		out     string
	}{
		{"no context", nil, exitNo, "conditional\nmissing context: day"},
		{"empty", []string{"--context", ""}, exitNo, "conditional\nmissing context: day"},
		{"true", []string{"--context", `{"day": "monday"}`}, exitOK, "allowed"},
		{"false", []string{"--context", `{"day": "sunday"}`}, exitNo, "denied"},
		{"unrelated name", []string{"--context", `{"hour": 3}`}, exitNo, "conditional\nmissing context: day"},
		{"badly typed", []string{"--context", `{"day": 3}`}, exitError3, ""},
		{"not JSON", []string{"--context", `day=monday`}, exitUsage, ""},
		{"not an object", []string{"--context", `[1]`}, exitUsage, ""},
		{"null", []string{"--context", `null`}, exitUsage, ""},
		{"trailing text", []string{"--context", `{} {}`}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"check", file, "document:doc", "reader", "user:tom"}, tt.context...)
			code, stdout, stderr := reach(t, "", args...)
			if code != tt.want || strings.TrimSpace(stdout) != tt.out {
				t.Errorf("exit %d stdout %q, want %d %q\nstderr: %s", code, stdout, tt.want, tt.out, stderr)
			}
		})
	}
}

// TestCheckExplainCaveatFalse: --explain labels a relationship whose caveat
// was false as such, not as a relationship that does not exist.
func TestCheckExplainCaveatFalse(t *testing.T) {
	file := "--file=" + vdir + "caveat.yaml"
	args := []string{"check", file, "document:doc", "reader", "user:tom", "--explain", "--context", `{"day": "sunday"}`}
	code, stdout, stderr := reach(t, "", args...)
	if code != exitNo || !strings.Contains(stdout, "(caveat only_weekdays was false)") || strings.Contains(stdout, "no relationship") {
		t.Errorf("exit %d, stdout %q (stderr %q): want denied with the caveat false", code, stdout, stderr)
	}
	code, stdout, _ = reach(t, "", append([]string{"-o", "json"}, args...)...)
	if code != exitNo || !strings.Contains(stdout, `"caveat_false": "only_weekdays"`) || !strings.Contains(stdout, "(caveat only_weekdays was false)") {
		t.Errorf("-o json: exit %d, stdout %s", code, stdout)
	}
}
