package validation

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// ExpectedSubject is one entry of a `validation` list, such as
//
//	[user:tom] is <document:first#reader>/<group:eng#member>
//	[user:* - {user:banned}] is <document:first#viewer>
//	[group:eng#member] is <document:first#reader>
//	[user:sarah[...]] is <document:first#viewer>
//
// Subject is the subject between the outer brackets, normalised (a
// trailing `#...` removed); Caveated marks a `[...]` suffix; Exceptions lists
// the subjects excluded from a wildcard; Resources are the `<resource#rel>`
// places through which the subject is found, sorted.
type ExpectedSubject struct {
	Text       string
	Subject    string
	Caveated   bool
	Exceptions []string // sorted; a caveated exception keeps its `[...]`
	Resources  []string
	Line       int
}

var (
	// The subject is between the first `[` and the last `]` before ` is `.
	expectedSubjectRe = regexp.MustCompile(`^\s*\[(.*)\]\s*(?:is\s+(.*))?$`)
	subjectPartsRe    = regexp.MustCompile(`^([^\s\[\]{}]+)(\[\.\.\.\])?(?:\s+-\s+\{([^}]*)\})?$`)
	resourceRefRe     = regexp.MustCompile(`<([^>]+)>`)
)

// ParseExpectedSubject parses one validation string.
func ParseExpectedSubject(s string) (ExpectedSubject, error) {
	es := ExpectedSubject{Text: s}
	m := expectedSubjectRe.FindStringSubmatch(s)
	if m == nil {
		return es, fmt.Errorf("validation string %q: want `[subject] is <resource#relation>`", s)
	}
	parts := subjectPartsRe.FindStringSubmatch(strings.TrimSpace(m[1]))
	if parts == nil {
		return es, fmt.Errorf("validation string %q: invalid subject %q", s, m[1])
	}
	subj, err := normaliseSubject(parts[1])
	if err != nil {
		return es, fmt.Errorf("validation string %q: %v", s, err)
	}
	es.Subject = subj
	es.Caveated = parts[2] != ""
	if strings.TrimSpace(parts[3]) != "" {
		if !strings.HasSuffix(subj, ":*") {
			return es, fmt.Errorf("validation string %q: only a wildcard subject may have exceptions", s)
		}
		for _, e := range strings.Split(parts[3], ",") {
			e = strings.TrimSpace(e)
			cav := strings.HasSuffix(e, "[...]")
			e = strings.TrimSuffix(e, "[...]")
			n, err := normaliseSubject(e)
			if err != nil {
				return es, fmt.Errorf("validation string %q: exception: %v", s, err)
			}
			if cav {
				n += "[...]"
			}
			es.Exceptions = append(es.Exceptions, n)
		}
		sort.Strings(es.Exceptions)
	}
	for _, r := range resourceRefRe.FindAllStringSubmatch(m[2], -1) {
		ref := strings.TrimSpace(r[1])
		if err := checkObjectRelation(ref); err != nil {
			return es, fmt.Errorf("validation string %q: %v", s, err)
		}
		es.Resources = append(es.Resources, ref)
	}
	sort.Strings(es.Resources)
	return es, nil
}

// normaliseSubject checks `type:id`, `type:id#rel` or `type:*` and drops a
// `#...` (the "no relation" marker).
func normaliseSubject(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "#...")
	typ, rest, ok := strings.Cut(s, ":")
	if !ok || typ == "" || rest == "" || strings.HasPrefix(rest, "#") || strings.HasSuffix(rest, "#") {
		return "", fmt.Errorf("invalid subject %q: want type:id or type:id#relation", s)
	}
	return s, nil
}

// checkObjectRelation checks `type:id#relation`.
func checkObjectRelation(s string) error {
	obj, rel, ok := strings.Cut(s, "#")
	typ, id, ok2 := strings.Cut(obj, ":")
	if !ok || !ok2 || rel == "" || typ == "" || id == "" {
		return fmt.Errorf("invalid resource and relation %q: want type:id#relation", s)
	}
	return nil
}

// String prints the subject part as SpiceDB's GenerateValidation does.
func (es ExpectedSubject) subjectString() string {
	s := es.Subject
	if es.Caveated {
		s += "[...]"
	}
	if len(es.Exceptions) > 0 {
		s += " - {" + strings.Join(es.Exceptions, ", ") + "}"
	}
	return s
}
