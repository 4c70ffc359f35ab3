package tuples

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The string form of a relationship, as SpiceDB and zed write it:
//
//	resource_type:resource_id#relation@subject_type:subject_id[#subject_relation][caveat][expiration]
//
// where caveat is `[name]` or `[name:{json object}]` and expiration is
// `[expiration:RFC3339 time]`; when both are present the caveat comes first.
// A subject relation of `...` means "no subject relation". Type and caveat
// names may carry prefixes (`org/document`). (Read from SpiceDB's
// pkg/tuple/parsing.go: namespaceNameExpr, resourceIDExpr, subjectIDExpr,
// relationExpr, caveatExpr, expirationExpr.)

// MaxIDLength is the longest object id accepted.
const MaxIDLength = 1024

// Ellipsis is the subject relation SpiceDB writes for "no subject relation".
const Ellipsis = "..."

// expirationFormat is how expirations are read and printed.
const expirationFormat = time.RFC3339Nano

// ParseError reports a malformed relationship string: which part is wrong
// and the 1-based column (in bytes) where the fault was found.
type ParseError struct {
	Input  string
	Column int
	Part   string // "resource type", "resource id", "relation", "subject type", ...
	Msg    string
	filter bool // the input is a filter (ParseFilter), not a relationship
}

func (e *ParseError) Error() string {
	what := "relationship"
	if e.filter {
		what = "filter"
	}
	return fmt.Sprintf("invalid %s %q: column %d: %s: %s", what, e.Input, e.Column, e.Part, e.Msg)
}

type relParser struct {
	s   string
	pos int
}

func (p *relParser) fail(col int, part, format string, args ...any) error {
	return &ParseError{Input: p.s, Column: col + 1, Part: part, Msg: fmt.Sprintf(format, args...)}
}

// until returns the text from the current position up to (not including) the
// first byte of stop, or to the end.
func (p *relParser) until(stop string) (string, int) {
	start := p.pos
	i := strings.IndexAny(p.s[start:], stop)
	if i < 0 {
		p.pos = len(p.s)
	} else {
		p.pos = start + i
	}
	return p.s[start:p.pos], start
}

func (p *relParser) expect(c byte, part string) error {
	if p.pos >= len(p.s) {
		return p.fail(p.pos, part, "expected %q, found end of input", c)
	}
	if p.s[p.pos] != c {
		return p.fail(p.pos, part, "expected %q, found %q", c, p.s[p.pos])
	}
	p.pos++
	return nil
}

// Parse reads a relationship in SpiceDB's string form, for example
// `document:q3#viewer@group:eng#member`, `document:q3#viewer@user:*`,
// `doc:1#viewer@user:ana[only_weekdays:{"tz":"UTC"}]` or
// `doc:1#viewer@user:ana[expiration:2027-01-01T00:00:00Z]`.
// Errors are *ParseError values naming the faulty part and its column.
func Parse(s string) (Relationship, error) {
	var r Relationship
	p := &relParser{s: s}
	var start int

	r.ResourceType, start = p.until(":#@[")
	if err := checkTypeName(r.ResourceType); err != "" {
		return Relationship{}, p.fail(start, "resource type", "%s", err)
	}
	if err := p.expect(':', "resource type"); err != nil {
		return Relationship{}, err
	}
	r.ResourceID, start = p.until("#@[")
	if col, err := checkID(r.ResourceID, false); err != "" {
		return Relationship{}, p.fail(start+col, "resource id", "%s", err)
	}
	if err := p.expect('#', "resource id"); err != nil {
		return Relationship{}, err
	}
	r.Relation, start = p.until("@#[")
	if err := checkRelationName(r.Relation); err != "" {
		return Relationship{}, p.fail(start, "relation", "%s", err)
	}
	if err := p.expect('@', "relation"); err != nil {
		return Relationship{}, err
	}
	r.SubjectType, start = p.until(":#@[")
	if err := checkTypeName(r.SubjectType); err != "" {
		return Relationship{}, p.fail(start, "subject type", "%s", err)
	}
	if err := p.expect(':', "subject type"); err != nil {
		return Relationship{}, err
	}
	r.SubjectID, start = p.until("#@[")
	if col, err := checkID(r.SubjectID, true); err != "" {
		return Relationship{}, p.fail(start+col, "subject id", "%s", err)
	}
	if p.pos < len(s) && s[p.pos] == '#' {
		p.pos++
		r.SubjectRelation, start = p.until("@#[")
		if r.SubjectRelation == Ellipsis {
			r.SubjectRelation = ""
		} else if err := checkRelationName(r.SubjectRelation); err != "" {
			return Relationship{}, p.fail(start, "subject relation", "%s", err)
		} else if r.IsWildcard() {
			return Relationship{}, p.fail(start, "subject relation", "a wildcard subject cannot have a subject relation")
		}
	}
	if err := p.parseSuffixes(&r); err != nil {
		return Relationship{}, err
	}
	if p.pos < len(s) {
		part := "subject"
		switch {
		case r.Expiration != nil:
			part = "expiration"
		case r.Caveat != nil:
			part = "caveat"
		}
		return Relationship{}, p.fail(p.pos, part, "unexpected %q after the end of the relationship", s[p.pos])
	}
	return r, nil
}

// parseSuffixes reads the optional `[caveat...]` and `[expiration:...]`.
func (p *relParser) parseSuffixes(r *Relationship) error {
	for p.pos < len(p.s) && p.s[p.pos] == '[' {
		open := p.pos
		p.pos++
		name, start := p.until(":]")
		isExp := name == "expiration" && p.pos+1 < len(p.s) && p.s[p.pos] == ':' && p.s[p.pos+1] != '{'
		if isExp {
			if r.Expiration != nil {
				return p.fail(open, "expiration", "the relationship already has an expiration")
			}
			p.pos++ // ':'
			text, tstart := p.until("]")
			t, err := time.Parse(expirationFormat, text)
			if err != nil {
				return p.fail(tstart, "expiration", "%q is not an RFC 3339 time (like 2027-01-01T00:00:00Z)", text)
			}
			if err := p.expect(']', "expiration"); err != nil {
				return err
			}
			t = t.UTC()
			r.Expiration = &t
			continue
		}
		if r.Caveat != nil {
			return p.fail(open, "caveat", "the relationship already has a caveat")
		}
		if r.Expiration != nil {
			return p.fail(open, "caveat", "the caveat must come before the expiration")
		}
		if err := checkTypeName(name); err != "" {
			return p.fail(start, "caveat name", "%s", err)
		}
		c := &Caveat{Name: name}
		if p.pos < len(p.s) && p.s[p.pos] == ':' {
			p.pos++
			ctx, err := p.parseContext()
			if err != nil {
				return err
			}
			c.Context = ctx
		}
		if err := p.expect(']', "caveat"); err != nil {
			return err
		}
		r.Caveat = c
	}
	return nil
}

// parseContext reads one JSON object at the current position.
func (p *relParser) parseContext() (map[string]any, error) {
	start := p.pos
	if start >= len(p.s) || p.s[start] != '{' {
		return nil, p.fail(start, "caveat context", "expected a JSON object starting with '{'")
	}
	dec := json.NewDecoder(strings.NewReader(p.s[start:]))
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		col := start
		if se, ok := err.(*json.SyntaxError); ok {
			col = start + int(se.Offset) - 1
		}
		return nil, p.fail(col, "caveat context", "invalid JSON: %v", err)
	}
	p.pos = start + int(dec.InputOffset())
	if len(m) == 0 {
		m = nil // `{}` is the same as no context, as SpiceDB prints it
	}
	return m, nil
}

// checkTypeName checks a type or caveat name:
// ([a-z][a-z0-9_]{1,61}[a-z0-9]/)*[a-z][a-z0-9_]{1,62}[a-z0-9].
func checkTypeName(s string) string {
	if s == "" {
		return "missing name"
	}
	for rest := s; ; {
		seg, after, more := strings.Cut(rest, "/")
		max := 64
		if more {
			max = 63
		}
		if msg := checkIdent(seg, max); msg != "" {
			return fmt.Sprintf("%q: %s", s, msg)
		}
		if !more {
			return ""
		}
		rest = after
	}
}

// checkRelationName checks [a-z][a-z0-9_]{1,62}[a-z0-9].
func checkRelationName(s string) string {
	if s == "" {
		return "missing name"
	}
	if msg := checkIdent(s, 64); msg != "" {
		return fmt.Sprintf("%q: %s", s, msg)
	}
	return ""
}

func checkIdent(s string, max int) string {
	if len(s) < 3 || len(s) > max {
		return fmt.Sprintf("a name must be 3 to %d characters long", max)
	}
	if s[0] < 'a' || s[0] > 'z' {
		return "a name must start with a lowercase letter"
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '_' && i < len(s)-1) {
			continue
		}
		if c == '_' {
			return "a name must not end with '_'"
		}
		return fmt.Sprintf("a name may hold only a-z, 0-9 and '_', found %q", c)
	}
	return ""
}

// idByte reports whether c may appear in an object id: [a-zA-Z0-9/_|\-=+].
func idByte(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '/' || c == '_' || c == '|' || c == '-' || c == '=' || c == '+'
}

// checkID checks an object id; it returns the offset of the fault in s.
func checkID(s string, subject bool) (int, string) {
	if s == "" {
		return 0, "missing id"
	}
	if s == "*" {
		if subject {
			return 0, ""
		}
		return 0, "'*' (a wildcard) may only be a subject id"
	}
	if len(s) > MaxIDLength {
		return 0, fmt.Sprintf("an id must be at most %d characters long, this one has %d", MaxIDLength, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return i, fmt.Sprintf("an id may hold only a-z, A-Z, 0-9 and /_|-=+, found %q", s[i])
		}
	}
	return 0, ""
}

// String prints r in the form Parse reads: the caveat context as compact JSON
// with sorted keys, the expiration in RFC 3339 (UTC).
func (r Relationship) String() string {
	var b strings.Builder
	b.Grow(len(r.ResourceType) + len(r.ResourceID) + len(r.Relation) + len(r.SubjectType) + len(r.SubjectID) + len(r.SubjectRelation) + 8)
	b.WriteString(r.ResourceType)
	b.WriteByte(':')
	b.WriteString(r.ResourceID)
	b.WriteByte('#')
	b.WriteString(r.Relation)
	b.WriteByte('@')
	b.WriteString(r.SubjectType)
	b.WriteByte(':')
	b.WriteString(r.SubjectID)
	if r.SubjectRelation != "" {
		b.WriteByte('#')
		b.WriteString(r.SubjectRelation)
	}
	if r.Caveat != nil {
		b.WriteByte('[')
		b.WriteString(r.Caveat.Name)
		if len(r.Caveat.Context) > 0 {
			b.WriteByte(':')
			b.Write(marshalContext(r.Caveat.Context))
		}
		b.WriteByte(']')
	}
	if r.Expiration != nil {
		b.WriteString("[expiration:")
		b.WriteString(r.Expiration.UTC().Format(expirationFormat))
		b.WriteByte(']')
	}
	return b.String()
}

// marshalContext writes a caveat context as compact JSON with sorted keys and
// no HTML escaping.
func marshalContext(m map[string]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		// Only values that did not come from JSON (channels, NaN) fail; print
		// them visibly rather than panic.
		return []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Validate checks the syntax of every field of r (names, ids, lengths), for
// relationships built in code rather than parsed.
func (r Relationship) Validate() error {
	for _, f := range []struct{ part, msg string }{
		{"resource type", checkTypeName(r.ResourceType)},
		{"relation", checkRelationName(r.Relation)},
		{"subject type", checkTypeName(r.SubjectType)},
	} {
		if f.msg != "" {
			return fmt.Errorf("relationship %s: %s: %s", r, f.part, f.msg)
		}
	}
	if _, msg := checkID(r.ResourceID, false); msg != "" {
		return fmt.Errorf("relationship %s: resource id: %s", r, msg)
	}
	if _, msg := checkID(r.SubjectID, true); msg != "" {
		return fmt.Errorf("relationship %s: subject id: %s", r, msg)
	}
	if r.SubjectRelation != "" {
		if msg := checkRelationName(r.SubjectRelation); msg != "" {
			return fmt.Errorf("relationship %s: subject relation: %s", r, msg)
		}
	}
	if r.IsWildcard() && r.SubjectRelation != "" {
		return fmt.Errorf("relationship %s: a wildcard subject cannot have a subject relation", r)
	}
	if r.Caveat != nil {
		if msg := checkTypeName(r.Caveat.Name); msg != "" {
			return fmt.Errorf("relationship %s: caveat name: %s", r, msg)
		}
	}
	return nil
}
