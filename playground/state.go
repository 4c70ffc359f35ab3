package playground

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// State is what the page edits: a validation file's schema, relationships
// block and assertions block (YAML), as text.
type State struct {
	Schema        string `json:"schema"`
	Relationships string `json:"relationships"`
	Assertions    string `json:"assertions,omitempty"`
	// Validation is the `validation` block of an opened file, kept as
	// written so that saving gives it back (the page does not edit it).
	Validation string `json:"validation,omitempty"`
}

// Diagnostic is a fault at a line and column of one of the editors
// (1-based).
type Diagnostic struct {
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"` // "error" or "warning"
	Message  string `json:"message"`
}

// schemaFileName is the name schema positions are reported under.
const schemaFileName = "schema.zed"

// compileSchema compiles the state's schema; diags are its faults.
func compileSchema(src string) (*schema.Program, []Diagnostic) {
	prog, ds, _ := schema.Compile(schemaFileName, []byte(src))
	out := make([]Diagnostic, 0, len(ds))
	for _, d := range ds {
		out = append(out, Diagnostic{Line: d.Pos.Line, Column: d.Pos.Column, Severity: d.Severity.String(), Message: d.Msg})
	}
	return prog, out
}

// relLine is one relationship of the relationships editor.
type relLine struct {
	text string
	line int
}

// parseRelationships reads the relationships editor: one relationship a
// line, blank lines and // comments skipped. Each relationship that does
// not parse or that prog (if not nil) does not allow is a diagnostic; the
// others are returned.
func parseRelationships(text string, prog *schema.Program, limit int) ([]relLine, []Diagnostic, error) {
	var good []relLine
	var diags []Diagnostic
	for i, raw := range strings.Split(text, "\n") {
		t := strings.TrimSpace(raw)
		if t == "" || strings.HasPrefix(t, "//") {
			continue
		}
		col := strings.Index(raw, t) + 1
		r, err := tuples.Parse(t)
		if err == nil && prog != nil {
			err = tuples.ValidateAgainst(prog, r)
		}
		if err != nil {
			diags = append(diags, Diagnostic{Line: i + 1, Column: col, Severity: "error", Message: err.Error()})
			continue
		}
		good = append(good, relLine{t, i + 1})
		if len(good) > limit {
			return nil, nil, &apiError{413, fmt.Sprintf("more than %d relationships: the playground is for models and examples; use reach tuple import and reach serve for data", limit)}
		}
	}
	return good, diags, nil
}

// loaded is a state loaded into an in-memory store: the compiled schema,
// the faults of its editors, and (when the schema compiles) an engine.
type loaded struct {
	prog        *schema.Program
	schemaDiags []Diagnostic
	relDiags    []Diagnostic
	env         *validation.Env // nil when the schema does not compile
	release     func()
}

// load compiles and loads a state, or takes it from the cache. The caller
// must call release when done with it.
func (s *Server) load(ctx context.Context, st State) (*loaded, error) {
	prog, sdiags := compileSchema(st.Schema)
	rels, rdiags, err := parseRelationships(st.Relationships, prog, s.opts.MaxRelationships)
	if err != nil {
		return nil, err
	}
	l := &loaded{prog: prog, schemaDiags: sdiags, relDiags: rdiags, release: func() {}}
	if prog == nil {
		return l, nil
	}
	h := sha256.New()
	io.WriteString(h, st.Schema)
	for _, r := range rels {
		h.Write([]byte{0})
		io.WriteString(h, r.text)
	}
	key := string(h.Sum(nil))
	env, release, err := s.cache.get(key, func() (*validation.Env, error) {
		f := &validation.File{Path: "playground", Schema: st.Schema, SchemaName: schemaFileName}
		for _, r := range rels {
			f.Relationships = append(f.Relationships, validation.Line{Text: r.text, Line: r.line})
		}
		// The store outlives this request: load with a context of its own,
		// bounded by the request's deadline.
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		return validation.Load(lctx, f, engine.Options{CacheSize: 1 << 14})
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, validation.ErrLoad) {
			return nil, unprocessable("%v", err)
		}
		return nil, err
	}
	l.env, l.release = env, release
	return l, nil
}

// loadEngine is load for the query endpoints: a state whose schema does
// not compile is an error.
func (s *Server) loadEngine(ctx context.Context, st State) (*loaded, error) {
	l, err := s.load(ctx, st)
	if err != nil {
		return nil, err
	}
	if l.env == nil {
		n := 0
		for _, d := range l.schemaDiags {
			if d.Severity == "error" {
				n++
			}
		}
		return nil, unprocessable("the schema does not compile (%d errors); fix it first", n)
	}
	return l, nil
}

// envCache keeps the most recently used loaded states. An entry in use is
// closed only when its last user releases it.
type envCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*cacheEntry
	tick    uint64
}

type cacheEntry struct {
	env     *validation.Env
	users   int
	evicted bool
	used    uint64
	ready   chan struct{} // closed when env (or err) is set
	err     error
}

func newEnvCache(max int) *envCache { return &envCache{max: max, entries: map[string]*cacheEntry{}} }

// get returns the env of key, loading it with load if absent, and a
// release function.
func (c *envCache) get(key string, load func() (*validation.Env, error)) (*validation.Env, func(), error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.tick++
	if ok {
		e.users++
		e.used = c.tick
		c.mu.Unlock()
		<-e.ready
		if e.err != nil {
			c.release(e)
			return nil, nil, e.err
		}
		return e.env, func() { c.release(e) }, nil
	}
	e = &cacheEntry{users: 1, used: c.tick, ready: make(chan struct{})}
	c.entries[key] = e
	c.evictLocked()
	c.mu.Unlock()

	e.env, e.err = load()
	close(e.ready)
	if e.err != nil {
		c.mu.Lock()
		if c.entries[key] == e {
			delete(c.entries, key)
		}
		c.mu.Unlock()
		c.release(e)
		return nil, nil, e.err
	}
	return e.env, func() { c.release(e) }, nil
}

// evictLocked drops the least recently used entries beyond max.
func (c *envCache) evictLocked() {
	for len(c.entries) > c.max {
		var oldKey string
		var old *cacheEntry
		for k, e := range c.entries {
			if old == nil || e.used < old.used {
				oldKey, old = k, e
			}
		}
		delete(c.entries, oldKey)
		old.evicted = true
		if old.users == 0 && old.env != nil {
			old.env.Close()
		}
	}
}

func (c *envCache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.users--
	if e.users == 0 && (e.evicted || e.err != nil) && e.env != nil {
		e.env.Close()
		e.env = nil
	}
}

func (c *envCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		delete(c.entries, k)
		e.evicted = true
		if e.users == 0 && e.env != nil {
			e.env.Close()
			e.env = nil
		}
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
