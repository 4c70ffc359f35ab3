package validation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// writeChunk is how many relationships go into one store write: below the
// store's default batch limit (1,000).
const writeChunk = 500

// memTableSize is the Badger memtable size of the in-memory stores.
const memTableSize = 8 << 20

// Env is a validation file loaded into a fresh store, with an engine over
// it. Close releases the store.
type Env struct {
	Store       datastore.Datastore
	Engine      *engine.Engine
	Program     *schema.Program
	Diagnostics []schema.Diagnostic // schema warnings, positions mapped to the file
	// Objects lists every object named in the relationships (as resource or
	// as subject, wildcards excluded), sorted by type then id.
	Objects []engine.Object
}

// Close releases the store.
func (e *Env) Close() error {
	if e.Engine != nil {
		e.Engine.Close() // first: its group index stops reading the store
	}
	return e.Store.Close()
}

// ErrLoad is wrapped by Load's errors about the file's content: a schema
// that does not compile, a relationship that does not parse or does not fit
// the schema.
var ErrLoad = errors.New("cannot load validation file")

// Load writes f's schema and relationships into a new in-memory store and
// returns an engine over it.
func Load(ctx context.Context, f *File, opts engine.Options) (*Env, error) {
	return LoadInto(ctx, f, opts, nil)
}

// LoadInto is Load into the fresh, empty store that open returns (an
// in-memory one when open is nil); Env.Close closes it.
func LoadInto(ctx context.Context, f *File, opts engine.Options, open func(context.Context) (datastore.Datastore, error)) (*Env, error) {
	if f.Schema == "" {
		return nil, fmt.Errorf("%s: %w: no schema (give schema or schemaFile)", f.Path, ErrLoad)
	}
	if open == nil {
		open = openInMemory
	}
	st, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening a store: %w", err)
	}
	env := &Env{Store: st}
	fail := func(err error) (*Env, error) {
		st.Close()
		return nil, err
	}
	_, diags, err := st.WriteSchema(ctx, f.SchemaName, []byte(f.Schema))
	diags = f.mapDiagnostics(diags)
	if err != nil {
		var errs []string
		for _, d := range diags {
			if d.Severity == schema.Error {
				errs = append(errs, d.String())
			}
		}
		if len(errs) == 0 {
			return fail(fmt.Errorf("%s: %w: schema: %v", f.Path, ErrLoad, err))
		}
		return fail(fmt.Errorf("%w: schema errors:\n%s", ErrLoad, strings.Join(errs, "\n")))
	}
	env.Diagnostics = diags
	prog, _, err := st.Schema(ctx)
	if err != nil {
		return fail(fmt.Errorf("reading back the schema: %w", err))
	}
	env.Program = prog

	objects := map[engine.Object]bool{}
	updates := make([]tuples.Update, 0, writeChunk)
	flush := func() error {
		if len(updates) == 0 {
			return nil
		}
		if _, err := st.Write(ctx, updates); err != nil {
			return err
		}
		updates = updates[:0]
		return nil
	}
	for _, l := range f.Relationships {
		r, err := tuples.Parse(l.Text)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w: %v", f.Path, l.Line, ErrLoad, err))
		}
		if err := tuples.ValidateAgainst(prog, r); err != nil {
			return fail(fmt.Errorf("%s:%d: %w: %v", f.Path, l.Line, ErrLoad, err))
		}
		objects[engine.Object{Type: r.ResourceType, ID: r.ResourceID}] = true
		if !r.IsWildcard() {
			objects[engine.Object{Type: r.SubjectType, ID: r.SubjectID}] = true
		}
		updates = append(updates, tuples.Update{Op: tuples.Touch, Relationship: r})
		if len(updates) == writeChunk {
			if err := flush(); err != nil {
				return fail(fmt.Errorf("%s:%d: writing relationships: %w", f.Path, l.Line, err))
			}
		}
	}
	if err := flush(); err != nil {
		return fail(fmt.Errorf("%s: writing relationships: %w", f.Path, err))
	}
	for o := range objects {
		env.Objects = append(env.Objects, o)
	}
	sort.Slice(env.Objects, func(i, j int) bool {
		a, b := env.Objects[i], env.Objects[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.ID < b.ID
	})
	env.Engine = engine.New(st, opts)
	return env, nil
}

// mapDiagnostics moves the positions of an inline schema's diagnostics to
// lines of the YAML file: a block scalar's text starts on the line after its
// key, so schema line n is YAML line SchemaLine+n.
func (f *File) mapDiagnostics(ds []schema.Diagnostic) []schema.Diagnostic {
	if f.SchemaLine == 0 {
		return ds
	}
	out := make([]schema.Diagnostic, len(ds))
	for i, d := range ds {
		d.Pos.Line += f.SchemaLine
		d.Pos.File = f.Path
		out[i] = d
	}
	return out
}

// openInMemory opens an in-memory Badger store with a small memtable:
// opening a store clears it, and most validation files hold a few
// relationships.
func openInMemory(context.Context) (datastore.Datastore, error) {
	return tuples.Open("", tuples.Options{InMemory: true, MemTableSize: memTableSize})
}
