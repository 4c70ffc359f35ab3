package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Mutant is one named bug: in File (relative to the repository root) the
// text From, which must occur exactly once, becomes To (see Apply).
type Mutant struct {
	Name string
	File string
	Why  string
	// Equivalent, when set, says why no test can tell the mutant from the
	// code: a survivor so explained does not count against the package.
	Equivalent string
	// Env is set for the test run (KEY=VALUE words), for a mutant only a
	// setting can reveal (CI=true turns a missing corpus into a failure).
	Env      []string
	From, To string

	Source string // where the mutant is defined: list file and line
}

// Package is the directory of the package the mutant lives in (relative
// to the repository root, slash-separated).
func (m Mutant) Package() string { return filepath.ToSlash(filepath.Dir(m.File)) }

// ParseList reads a list of mutants. The format, one mutant after another:
//
//	# a comment (outside a mutant's text)
//	=== name-of-the-mutant
//	file: engine/check.go
//	why: one line: the bug a developer might write
//	equivalent: (optional) why no test can kill it
//	env: (optional) KEY=VALUE ... set for the mutant's test run
//	--- from
//	text that occurs exactly once in the file
//	--- to
//	its replacement (may be empty: the text is deleted)
//
// The text blocks run to the next "--- to", "=== ", a line starting with
// "#" (a comment between mutants) or the end of the list;
// their last newline is not part of them, and lines that are empty at the
// end of a block are dropped. Indentation does not matter (see Apply): a
// one-line from is trimmed, and so is its to.
func ParseList(name string, r io.Reader) ([]Mutant, error) {
	var (
		out   []Mutant
		cur   *Mutant
		block *[]string
		from  []string
		to    []string
	)
	finish := func() error {
		if cur == nil {
			return nil
		}
		cur.From = joinBlock(from)
		cur.To = joinBlock(to)
		if !strings.Contains(cur.From, "\n") {
			// A piece of one line: its indentation is the file's.
			cur.From, cur.To = strings.TrimSpace(cur.From), strings.TrimSpace(cur.To)
		}
		switch {
		case cur.File == "":
			return fmt.Errorf("%s: mutant %s: no file:", cur.Source, cur.Name)
		case cur.Why == "":
			return fmt.Errorf("%s: mutant %s: no why:", cur.Source, cur.Name)
		case cur.From == "":
			return fmt.Errorf("%s: mutant %s: no --- from text", cur.Source, cur.Name)
		case cur.From == cur.To:
			return fmt.Errorf("%s: mutant %s: from and to are the same", cur.Source, cur.Name)
		}
		out = append(out, *cur)
		cur, block, from, to = nil, nil, nil, nil
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "=== "):
			if err := finish(); err != nil {
				return nil, err
			}
			cur = &Mutant{Name: strings.TrimSpace(line[4:]), Source: fmt.Sprintf("%s:%d", name, n)}
			if cur.Name == "" || strings.ContainsAny(cur.Name, " \t/") {
				return nil, fmt.Errorf("%s:%d: a mutant's name is one word without slashes", name, n)
			}
		case cur == nil:
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				return nil, fmt.Errorf("%s:%d: text outside a mutant: %q", name, n, line)
			}
		case block != nil && strings.HasPrefix(line, "#"):
			// A comment at the start of a line ends the mutant (no Go
			// line starts with #): the comments between mutants.
			if block == &from {
				return nil, fmt.Errorf("%s:%d: a comment inside mutant %s's from text (a line starting with # ends a mutant)", name, n, cur.Name)
			}
			if err := finish(); err != nil {
				return nil, err
			}
		case block == nil && line == "--- from":
			block = &from
		case block == &from && line == "--- to":
			block = &to
		case block != nil:
			*block = append(*block, line)
		default:
			key, val, ok := strings.Cut(line, ":")
			val = strings.TrimSpace(val)
			switch {
			case strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#"):
			case !ok:
				return nil, fmt.Errorf("%s:%d: want key: value, --- from or --- to: %q", name, n, line)
			case key == "file":
				cur.File = filepath.ToSlash(filepath.Clean(val))
			case key == "why":
				cur.Why = val
			case key == "equivalent":
				cur.Equivalent = val
			case key == "env":
				for _, kv := range strings.Fields(val) {
					if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
						return nil, fmt.Errorf("%s:%d: env wants KEY=VALUE words, found %q", name, n, kv)
					}
					cur.Env = append(cur.Env, kv)
				}
			default:
				return nil, fmt.Errorf("%s:%d: unknown key %q", name, n, key)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func joinBlock(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

// LoadDir reads every *.mut list in dir, sorted by file name, and checks
// that the names are unique.
func LoadDir(dir string) ([]Mutant, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.mut"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.mut lists in %s", dir)
	}
	sort.Strings(files)
	var all []Mutant
	seen := map[string]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		ms, err := ParseList(filepath.Base(f), fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if prev, ok := seen[m.Name]; ok {
				return nil, fmt.Errorf("%s: mutant %s already defined at %s", m.Source, m.Name, prev)
			}
			seen[m.Name] = m.Source
		}
		all = append(all, ms...)
	}
	return all, nil
}

// Apply returns src with m planted, or an error when m's text does not
// occur exactly once (the code changed under the mutant: a stale mutant).
//
// A one-line From is a piece of text, replaced where it occurs. A From of
// several lines matches whole lines of the file, their indentation left
// out (so lists need not reproduce tabs, and survive re-indentation); To's
// lines are written with the indentation of the first line matched.
func (m Mutant) Apply(src string) (string, error) {
	if !strings.Contains(m.From, "\n") {
		switch n := strings.Count(src, m.From); n {
		case 1:
			return strings.Replace(src, m.From, m.To, 1), nil
		case 0:
			return "", m.notFound()
		default:
			return "", m.notUnique(n)
		}
	}
	lines := strings.SplitAfter(src, "\n")
	from := strings.Split(m.From, "\n")
	for i := range from {
		from[i] = strings.TrimSpace(from[i])
	}
	at, n := -1, 0
	for i := 0; i+len(from) <= len(lines); i++ {
		match := true
		for j, f := range from {
			if strings.TrimSpace(lines[i+j]) != f {
				match = false
				break
			}
		}
		if match {
			at = i
			n++
		}
	}
	switch {
	case n == 0:
		return "", m.notFound()
	case n > 1:
		return "", m.notUnique(n)
	}
	first := lines[at]
	indent := first[:len(first)-len(strings.TrimLeft(first, " \t"))]
	var b strings.Builder
	for _, l := range lines[:at] {
		b.WriteString(l)
	}
	if m.To != "" {
		for _, l := range strings.Split(m.To, "\n") {
			b.WriteString(indent + l + "\n")
		}
	}
	for _, l := range lines[at+len(from):] {
		b.WriteString(l)
	}
	return b.String(), nil
}

func (m Mutant) notFound() error {
	return fmt.Errorf("%s: mutant %s (%s): its text is not in %s", m.Source, m.Name, m.Why, m.File)
}

func (m Mutant) notUnique(n int) error {
	return fmt.Errorf("%s: mutant %s: its text occurs %d times in %s; make it unique", m.Source, m.Name, n, m.File)
}
