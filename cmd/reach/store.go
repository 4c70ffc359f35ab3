package main

import (
	"context"
	"fmt"

	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
)

// openLocalStore opens the local store of --datastore (by default the
// embedded one in --data-dir, created if needed). Every command that reads or
// writes the store goes through it (or through openStore, remote.go, which
// picks the server of --endpoint instead) so that the store options live in
// one place.
func openLocalStore(ctx context.Context) (datastore.Datastore, error) {
	return openDatastore(ctx, openParams{})
}

// engineSource opens the engine a read command works on: with file set, a
// validation YAML file (schema and relationships) loaded into a fresh
// in-memory store, so that a model can be queried without any setup;
// otherwise the local store. closeFn releases it.
func engineSource(ctx context.Context, file string, opts engine.Options) (e *engine.Engine, s datastore.Datastore, closeFn func() error, err error) {
	if file == "" {
		s, err := openLocalStore(ctx)
		if err != nil {
			return nil, nil, nil, err
		}
		return engine.New(s, opts), s, s.Close, nil
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
