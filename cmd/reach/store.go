package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/tuples"
)

// access says what a command does with the store it opens.
type access int

const (
	// readAccess: the command only reads. The store must exist: a read
	// command does not create an empty embedded store in a mistyped
	// --data-dir, where it would only find nothing and answer as if that
	// were the truth.
	readAccess access = iota
	// writeAccess: the command writes (schema write, tuple write, import,
	// delete); the embedded store is created if needed.
	writeAccess
)

// openLocalStore opens the local store of --datastore (by default the
// embedded one in --data-dir, created for writeAccess). Every command that
// reads or writes the store goes through it (or through openStore,
// remote.go, which picks the server of --endpoint instead) so that the
// store options live in one place.
func openLocalStore(ctx context.Context, a access) (datastore.Datastore, error) {
	return openDatastore(ctx, openParams{mustExist: a == readAccess})
}

// noDataDirError is the error of a read command whose embedded store
// (--data-dir) does not exist.
type noDataDirError struct{ dir string }

func (e noDataDirError) Error() string {
	return fmt.Sprintf("the data directory %s does not exist (nothing has been written there): "+
		"write a schema to create it, reach schema write FILE --data-dir %s, or give the --data-dir of an existing store", e.dir, e.dir)
}

// dataDirMustExist is the check openBadger makes for a read command.
func dataDirMustExist(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return noDataDirError{dir}
	case err != nil:
		return fmt.Errorf("data directory %s: %w", dir, err)
	case !info.IsDir():
		return fmt.Errorf("data directory %s: not a directory", dir)
	}
	return nil
}

// engineSource opens the engine a read command works on: with file set, a
// validation YAML file (schema and relationships) loaded into a fresh
// in-memory store, so that a model can be queried without any setup;
// otherwise the local store. closeFn releases it.
func engineSource(ctx context.Context, file string, opts engine.Options) (e *engine.Engine, s datastore.Datastore, closeFn func() error, err error) {
	if file == "" {
		s, err := openLocalStore(ctx, readAccess)
		if err != nil {
			return nil, nil, nil, err
		}
		e := engine.New(s, opts)
		// The engine first: its group index stops reading the store.
		return e, s, func() error { e.Close(); return s.Close() }, nil
	}
	f, err := validation.Read(file)
	if err != nil {
		return nil, nil, nil, err
	}
	env, err := validation.Load(ctx, f, opts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	return env.Engine, env.Store, env.Close, nil
}

// localQuery is the queryBackend of the local store (or a --file): the
// engine, with its errors for a missing schema or an unknown name worded
// as every command words them (names.go).
type localQuery struct {
	*engine.Engine
	store schemaGetter
}

func (l localQuery) Check(ctx context.Context, req engine.CheckRequest) (engine.CheckResult, error) {
	res, err := l.Engine.Check(ctx, req)
	return res, queryError(ctx, l.store, err,
		nameRef{typ: req.Resource.Type, member: req.Permission}, nameRef{typ: req.Subject.Type, member: req.Subject.Relation})
}

func (l localQuery) Expand(ctx context.Context, resource engine.Object, permission string, cons engine.Consistency) (*engine.ExpandNode, tuples.Revision, error) {
	n, rev, err := l.Engine.Expand(ctx, resource, permission, cons)
	return n, rev, queryError(ctx, l.store, err, nameRef{typ: resource.Type, member: permission})
}

func (l localQuery) LookupResources(ctx context.Context, req engine.LookupResourcesRequest, fn func(engine.LookupResult) bool) (string, error) {
	next, err := l.Engine.LookupResources(ctx, req, fn)
	return next, queryError(ctx, l.store, err,
		nameRef{typ: req.ResourceType, member: req.Permission}, nameRef{typ: req.Subject.Type, member: req.Subject.Relation})
}

func (l localQuery) LookupSubjects(ctx context.Context, req engine.LookupSubjectsRequest) ([]engine.FoundSubject, tuples.Revision, error) {
	found, rev, err := l.Engine.LookupSubjects(ctx, req)
	return found, rev, queryError(ctx, l.store, err,
		nameRef{typ: req.Resource.Type, member: req.Permission}, nameRef{typ: req.SubjectType, member: req.SubjectRelation})
}
