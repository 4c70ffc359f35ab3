package validation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is a parsed validation file. Its relationships and assertions are
// kept as text with their line numbers; Run parses them with the tuples
// package, so that a file with a bad relationship still reports every
// other problem.
type File struct {
	Path string // as given to Read or Parse

	// Schema is the schema text: the inline `schema` block or the content of
	// `schemaFile`. SchemaName is the file name to report schema positions
	// under: the YAML path for an inline schema, the schema file's path
	// otherwise. SchemaLine is the YAML line just before the inline schema's text
	// (0 for a schema file): schema line n is YAML line SchemaLine+n.
	Schema     string
	SchemaName string
	SchemaLine int

	Relationships []Line
	Assertions    []Assertion
	Validation    []ExpectedRelation
}

// Line is one relationship line of the `relationships` block.
type Line struct {
	Text string
	Line int // 1-based line in the YAML file (best effort for folded blocks)
}

// AssertionKind is the block an assertion comes from.
type AssertionKind uint8

const (
	// AssertTrue expects the check to be allowed.
	AssertTrue AssertionKind = iota + 1
	// AssertFalse expects the check to be denied.
	AssertFalse
	// AssertCaveated expects the check to be conditional: allowed only if a
	// caveat lacking some of its parameters evaluates true.
	AssertCaveated
)

func (k AssertionKind) String() string {
	switch k {
	case AssertTrue:
		return "assertTrue"
	case AssertFalse:
		return "assertFalse"
	case AssertCaveated:
		return "assertCaveated"
	}
	return "unknown"
}

// Assertion is one entry of the `assertions` block.
type Assertion struct {
	Kind         AssertionKind
	Text         string         // the entry as written
	Relationship string         // the part before ` with `: resource#permission@subject
	Context      map[string]any // the decoded JSON after ` with `, nil when none
	Line         int
}

// ExpectedRelation is one key of the `validation` block: a resource and
// permission (`document:first#view`) and the subjects expected to reach it.
type ExpectedRelation struct {
	Key      string
	Line     int
	Subjects []ExpectedSubject
}

// Read reads and parses the validation file at path, and the schema file it
// names, if any.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, func(name string) ([]byte, error) {
		return os.ReadFile(filepath.Join(filepath.Dir(path), name))
	})
}

// ErrSyntax is wrapped by every error Parse returns for a malformed file.
var ErrSyntax = errors.New("invalid validation file")

// Parse parses a validation file. readSchema reads a `schemaFile` given
// relative to the YAML file; it may be nil when the file has an inline schema.
func Parse(path string, data []byte, readSchema func(name string) ([]byte, error)) (*File, error) {
	f := &File{Path: path}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrSyntax, err)
	}
	if doc.Kind == 0 { // empty document
		return nil, fmt.Errorf("%s: %w: empty file", path, ErrSyntax)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, syntaxErr(path, root, "the file must be a mapping with schema, relationships, assertions and validation")
	}
	srcLines := strings.Split(string(data), "\n")
	var schemaFile string
	var schemaFileNode *yaml.Node
	hasSchema := false
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "schema":
			if err := scalar(path, "schema", v, &f.Schema); err != nil {
				return nil, err
			}
			hasSchema = true
			f.SchemaName = path
			f.SchemaLine = v.Line // a block scalar's text starts on the next line
			if v.Style&(yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
				f.SchemaLine = v.Line - 1
			}
		case "schemaFile":
			if err := scalar(path, "schemaFile", v, &schemaFile); err != nil {
				return nil, err
			}
			schemaFileNode = v
		case "relationships":
			var text string
			if err := scalar(path, "relationships", v, &text); err != nil {
				return nil, err
			}
			f.Relationships = relationshipLines(text, v, srcLines)
		case "assertions":
			as, err := parseAssertions(path, v)
			if err != nil {
				return nil, err
			}
			f.Assertions = as
		case "validation":
			vs, err := parseValidation(path, v)
			if err != nil {
				return nil, err
			}
			f.Validation = vs
		default:
			return nil, syntaxErr(path, k, "unknown key %q (want schema, schemaFile, relationships, assertions or validation)", k.Value)
		}
	}
	switch {
	case hasSchema && schemaFileNode != nil:
		return nil, syntaxErr(path, schemaFileNode, "both schema and schemaFile are given; use one")
	case schemaFileNode != nil:
		if schemaFile == "" || !filepath.IsLocal(filepath.FromSlash(schemaFile)) {
			return nil, syntaxErr(path, schemaFileNode, "schemaFile %q must be a relative path inside the YAML file's directory", schemaFile)
		}
		if readSchema == nil {
			return nil, syntaxErr(path, schemaFileNode, "schemaFile %q cannot be read here", schemaFile)
		}
		src, err := readSchema(filepath.FromSlash(schemaFile))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: schemaFile: %w", path, schemaFileNode.Line, err)
		}
		f.Schema = string(src)
		f.SchemaName = filepath.Join(filepath.Dir(path), filepath.FromSlash(schemaFile))
	}
	return f, nil
}

func syntaxErr(path string, n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %w: %s", path, n.Line, n.Column, ErrSyntax, fmt.Sprintf(format, args...))
}

// scalar decodes a string value; null is the empty string.
func scalar(path, key string, n *yaml.Node, out *string) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*out = ""
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return syntaxErr(path, n, "%s must be a string", key)
	}
	*out = n.Value
	return nil
}

// relationshipLines splits the relationships block into its non-blank,
// non-comment lines and finds each one's line in the source: the lines of a
// block scalar follow its indicator in order, so a forward search from the
// node's line finds them even in folded (`>`) blocks.
func relationshipLines(text string, n *yaml.Node, src []string) []Line {
	var out []Line
	next := n.Line // 1-based; src[next-1] is the node's own line
	for _, raw := range strings.Split(text, "\n") {
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		line := n.Line
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			for j := next; j < len(src); j++ { // src[j] is line j+1
				if strings.TrimSpace(src[j]) == t {
					line = j + 1
					next = j + 1
					break
				}
			}
		}
		out = append(out, Line{Text: t, Line: line})
	}
	return out
}

func parseAssertions(path string, n *yaml.Node) ([]Assertion, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, syntaxErr(path, n, "assertions must be a mapping of assertTrue, assertFalse and assertCaveated")
	}
	var out []Assertion
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var kind AssertionKind
		switch k.Value {
		case "assertTrue":
			kind = AssertTrue
		case "assertFalse":
			kind = AssertFalse
		case "assertCaveated":
			kind = AssertCaveated
		default:
			return nil, syntaxErr(path, k, "unknown assertion block %q (want assertTrue, assertFalse or assertCaveated)", k.Value)
		}
		if v.Tag == "!!null" {
			continue
		}
		if v.Kind != yaml.SequenceNode {
			return nil, syntaxErr(path, v, "%s must be a list of strings", k.Value)
		}
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, syntaxErr(path, e, "%s entries must be strings", k.Value)
			}
			a, err := parseAssertion(kind, e.Value)
			if err != nil {
				return nil, syntaxErr(path, e, "%v", err)
			}
			a.Line = e.Line
			out = append(out, a)
		}
	}
	return out, nil
}

// parseAssertion splits `rel with {json}` into its parts.
func parseAssertion(kind AssertionKind, text string) (Assertion, error) {
	a := Assertion{Kind: kind, Text: text}
	rel, ctx, found := strings.Cut(strings.TrimSpace(text), " with ")
	a.Relationship = strings.TrimSpace(rel)
	if a.Relationship == "" {
		return a, fmt.Errorf("empty assertion")
	}
	if found {
		dec := json.NewDecoder(bytes.NewReader([]byte(ctx)))
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return a, fmt.Errorf("assertion %q: caveat context: %v", text, err)
		}
		if dec.More() {
			return a, fmt.Errorf("assertion %q: caveat context: text after the JSON object", text)
		}
		if m == nil {
			m = map[string]any{}
		}
		a.Context = m
	}
	return a, nil
}

func parseValidation(path string, n *yaml.Node) ([]ExpectedRelation, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, syntaxErr(path, n, "validation must be a mapping from resource#permission to lists of expected subjects")
	}
	var out []ExpectedRelation
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		er := ExpectedRelation{Key: k.Value, Line: k.Line}
		if v.Tag != "!!null" {
			if v.Kind != yaml.SequenceNode {
				return nil, syntaxErr(path, v, "validation %q must be a list of strings", k.Value)
			}
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, syntaxErr(path, e, "validation entries must be strings")
				}
				s, err := ParseExpectedSubject(e.Value)
				if err != nil {
					return nil, syntaxErr(path, e, "%v", err)
				}
				s.Line = e.Line
				er.Subjects = append(er.Subjects, s)
			}
		}
		out = append(out, er)
	}
	return out, nil
}
