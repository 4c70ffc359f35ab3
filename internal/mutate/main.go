// Command mutate is reach's mutation runner: it plants named bugs, one at a
// time, and checks that the tests of the package they are in catch each
// one. It runs on demand (see scripts/mutate.sh), not in every CI run.
//
// A mutant is a bug a developer might really write (a flipped comparison,
// a dropped reverse-index delete, an auth check skipped for one method),
// written down in internal/mutate/mutants/*.mut as a file, a text that
// occurs exactly once in it, its replacement and a one-line reason (the
// format is documented at ParseList). For each mutant the runner builds the
// package with the file replaced through go's -overlay flag (the working
// tree is never written, so an interrupted run leaves nothing to restore)
// and runs
//
//	go test -short -count=1 -failfast -vet=off -overlay=... ./PACKAGE
//
// under a timeout. A failing test kills the mutant; a passing run means it
// survived: a test is missing, or the mutant is equivalent to the code
// (then the list says why, with "equivalent:", and it does not count
// against the package). A mutant that does not compile, or whose text is
// no longer in its file (the code changed under it), is an error of the
// list.
//
// Usage:
//
//	go run ./internal/mutate [flags] [package ...]
//
// where a package is a directory of the module (engine, ./server); none
// means every package that has mutants. Flags:
//
//	-run REGEXP   only the mutants whose name matches
//	-tests REGEXP only the tests that match (go test -run): to show which
//	              tests kill a mutant; a survivor then means only that
//	              these tests miss it
//	-list         print the mutants and exit
//	-check        only check that every mutant's text occurs once (no tests)
//	-timeout D    the tests' timeout per mutant (default 3m)
//	-baseline     first run each package's tests unmutated (default true)
//	-v            print the failure that killed each mutant
//	-log DIR      keep each run's output in DIR/NAME.log
//
// The exit status is 0 when every mutant was killed or is explained as
// equivalent, 1 otherwise, 2 on a usage error. Mutants run one at a time:
// each test run already uses every core. The runner reads the working tree
// as it is: leave it unchanged while a run goes on (a test file added
// midway runs with every later mutant).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Status is what became of a mutant.
type Status string

const (
	Killed   Status = "KILLED"
	Survived Status = "SURVIVED"
	Invalid  Status = "INVALID" // the mutated package does not build
	Stale    Status = "STALE"   // the mutant's text is not in its file once
)

type result struct {
	m       Mutant
	status  Status
	by      string // the test (or "timeout", "panic") that killed it
	excerpt string
	elapsed time.Duration
}

func main() {
	os.Exit(run())
}

func run() int {
	var (
		runRe    = flag.String("run", "", "only the mutants whose name matches this regexp")
		list     = flag.Bool("list", false, "print the mutants and exit")
		check    = flag.Bool("check", false, "only check that every mutant's text occurs exactly once")
		timeout  = flag.Duration("timeout", 3*time.Minute, "the tests' timeout per mutant")
		baseline = flag.Bool("baseline", true, "first run each package's tests unmutated")
		verbose  = flag.Bool("v", false, "print the failure that killed each mutant")
		logDir   = flag.String("log", "", "keep each run's output in this directory")
		tests    = flag.String("tests", "", "run only the tests matching this regexp (go test -run): which tests kill a mutant")
	)
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/mutate [-run REGEXP] [-tests REGEXP] [-list] [-check] [-timeout D] [-baseline=false] [-v] [-log DIR] [package ...]")
		flag.PrintDefaults()
	}
	flag.Parse()

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		return 2
	}
	all, err := LoadDir(filepath.Join(root, "internal", "mutate", "mutants"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		return 2
	}
	ms, err := selectMutants(all, flag.Args(), *runRe)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		return 2
	}
	if *list {
		for _, m := range ms {
			eq := ""
			if len(m.Env) > 0 {
				eq += " [env: " + strings.Join(m.Env, " ") + "]"
			}
			if m.Equivalent != "" {
				eq += " [equivalent: " + m.Equivalent + "]"
			}
			fmt.Printf("%-8s %-46s %s: %s%s\n", m.Package(), m.Name, m.File, m.Why, eq)
		}
		return 0
	}

	// Plant every mutant on paper first: a stale one is found before an
	// hour of tests, not after.
	stale := 0
	for _, m := range ms {
		src, err := os.ReadFile(filepath.Join(root, m.File))
		if err == nil {
			_, err = m.Apply(string(src))
		}
		if err != nil {
			fmt.Println("STALE   ", err)
			stale++
		}
	}
	if *check {
		fmt.Printf("%d mutants, %d stale\n", len(ms), stale)
		if stale > 0 {
			return 1
		}
		return 0
	}

	work, err := os.MkdirTemp("", "reach-mutate-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		return 2
	}
	defer os.RemoveAll(work)
	if *logDir != "" {
		if err := os.MkdirAll(*logDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "mutate:", err)
			return 2
		}
	}

	var results []result
	pkgs := packagesOf(ms)
	for _, pkg := range pkgs {
		if *baseline {
			start := time.Now()
			out, err := goTest(root, pkg, "", nil, *tests, *timeout)
			if err != nil {
				fmt.Printf("BASELINE FAILED %s (%s): the package's tests fail unmutated; fix them first\n%s\n",
					pkg, time.Since(start).Round(time.Second), excerpt(out, 30))
				return 1
			}
			fmt.Printf("baseline %s: ok (%s)\n", pkg, time.Since(start).Round(time.Second))
		}
		for _, m := range ms {
			if m.Package() != pkg {
				continue
			}
			r := runMutant(root, work, m, *tests, *timeout, *logDir)
			results = append(results, r)
			line := fmt.Sprintf("%-8s %-8s %-46s %5s", r.status, pkg, m.Name, r.elapsed.Round(time.Second))
			switch {
			case r.status == Killed:
				line += "  by " + r.by
			case r.status == Survived && m.Equivalent != "":
				line += "  (equivalent: " + m.Equivalent + ")"
			case r.status == Survived:
				line += "  " + m.File + ": " + m.Why
			}
			fmt.Println(line)
			if (*verbose && r.status == Killed) || r.status == Invalid {
				fmt.Println(indent(r.excerpt))
			}
		}
	}
	return report(results, stale)
}

func report(results []result, stale int) int {
	type tally struct{ total, killed, equivalent, survived, invalid int }
	per := map[string]*tally{}
	var order []string
	for _, r := range results {
		p := r.m.Package()
		if per[p] == nil {
			per[p] = &tally{}
			order = append(order, p)
		}
		t := per[p]
		t.total++
		switch {
		case r.status == Killed:
			t.killed++
		case r.status == Survived && r.m.Equivalent != "":
			t.equivalent++
		case r.status == Survived:
			t.survived++
		default:
			t.invalid++
		}
	}
	fmt.Println()
	fmt.Printf("%-10s %8s %10s %9s %8s %7s\n", "package", "killed", "equivalent", "survived", "invalid", "score")
	bad := stale
	for _, p := range order {
		t := per[p]
		score := 100.0
		if n := t.total - t.equivalent; n > 0 {
			score = 100 * float64(t.killed) / float64(n)
		}
		fmt.Printf("%-10s %8s %10d %9d %8d %6.1f%%\n", p, fmt.Sprintf("%d/%d", t.killed, t.total), t.equivalent, t.survived, t.invalid, score)
		bad += t.survived + t.invalid
	}
	if stale > 0 {
		fmt.Printf("%d stale mutants (see above): their text is no longer in their file\n", stale)
	}
	if bad > 0 {
		return 1
	}
	return 0
}

func runMutant(root, work string, m Mutant, tests string, timeout time.Duration, logDir string) (r result) {
	r.m = m
	start := time.Now()
	defer func() { r.elapsed = time.Since(start) }()
	path := filepath.Join(root, m.File)
	src, err := os.ReadFile(path)
	var mutated string
	if err == nil {
		mutated, err = m.Apply(string(src))
	}
	if err != nil {
		r.status, r.excerpt = Stale, err.Error()
		return r
	}
	// The overlay replaces the file for the build only.
	dir := filepath.Join(work, m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.status, r.excerpt = Invalid, err.Error()
		return r
	}
	repl := filepath.Join(dir, filepath.Base(m.File))
	overlay := filepath.Join(dir, "overlay.json")
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {path: repl}})
	if err := errors.Join(os.WriteFile(repl, []byte(mutated), 0o644), os.WriteFile(overlay, ov, 0o644)); err != nil {
		r.status, r.excerpt = Invalid, err.Error()
		return r
	}
	out, err := goTest(root, m.Package(), overlay, m.Env, tests, timeout)
	if logDir != "" {
		_ = os.WriteFile(filepath.Join(logDir, m.Name+".log"), out, 0o644)
	}
	r.status, r.by, r.excerpt = classify(out, err)
	return r
}

// classify reads a go test run of a mutant.
func classify(out []byte, err error) (Status, string, string) {
	if err == nil {
		return Survived, "", ""
	}
	s := string(out)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Killed, "timeout (killed by the runner)", excerpt(out, 20)
	case strings.Contains(s, "[build failed]") || strings.Contains(s, "[setup failed]"):
		return Invalid, "", excerpt(out, 20)
	case strings.Contains(s, "panic: test timed out"):
		return Killed, "timeout: " + firstFail(s), excerpt(out, 20)
	}
	if t := firstFail(s); t != "" {
		return Killed, t, excerpt(out, 20)
	}
	if strings.Contains(s, "panic: ") {
		return Killed, "panic", excerpt(out, 20)
	}
	return Killed, "exit: " + err.Error(), excerpt(out, 20)
}

var failRe = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// firstFail names the innermost failing test of the first failure.
func firstFail(s string) string {
	ms := failRe.FindAllStringSubmatch(s, -1)
	best := ""
	for _, m := range ms {
		if best == "" || strings.HasPrefix(m[1], best+"/") {
			best = m[1]
		}
	}
	return best
}

// excerpt returns the lines of out from the first failure on, n at most.
func excerpt(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	start := 0
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "--- FAIL") || strings.HasPrefix(t, "panic:") || strings.Contains(l, "_test.go:") || strings.HasPrefix(t, "#") {
			start = i
			break
		}
	}
	lines = lines[start:]
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

// goTest runs the short tests of pkg (with overlay, when not empty).
func goTest(root, pkg, overlay string, env []string, tests string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	args := []string{"test", "-short", "-count=1", "-failfast", "-vet=off", "-timeout=" + timeout.String()}
	if overlay != "" {
		args = append(args, "-overlay="+overlay)
	}
	if tests != "" {
		args = append(args, "-run="+tests)
	}
	args = append(args, "./"+pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	killGroup(cmd)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if ctx.Err() != nil {
		err = context.DeadlineExceeded
	}
	return buf.Bytes(), err
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the reach module")
	}
	return filepath.Dir(mod), nil
}

func selectMutants(all []Mutant, pkgs []string, runRe string) ([]Mutant, error) {
	var re *regexp.Regexp
	if runRe != "" {
		var err error
		if re, err = regexp.Compile(runRe); err != nil {
			return nil, fmt.Errorf("-run: %w", err)
		}
	}
	want := map[string]bool{}
	for _, p := range pkgs {
		p = filepath.ToSlash(filepath.Clean(strings.TrimPrefix(p, "./")))
		want[p] = true
	}
	known := map[string]bool{}
	var out []Mutant
	for _, m := range all {
		known[m.Package()] = true
		if len(want) > 0 && !want[m.Package()] {
			continue
		}
		if re != nil && !re.MatchString(m.Name) {
			continue
		}
		out = append(out, m)
	}
	for p := range want {
		if !known[p] {
			return nil, fmt.Errorf("no mutants in package %s (the lists are in internal/mutate/mutants)", p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no mutant matches")
	}
	return out, nil
}

func packagesOf(ms []Mutant) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range ms {
		if !seen[m.Package()] {
			seen[m.Package()] = true
			out = append(out, m.Package())
		}
	}
	sort.Strings(out)
	return out
}
