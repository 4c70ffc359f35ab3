package main

import (
	"context"
	"fmt"
	"os"

	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/engine/validation"
	"github.com/reach-authz/reach/tuples"
)

// openLocalStore opens the embedded store in --data-dir, creating the
// directory if needed. Every command that reads or writes the store goes
// through it (or through openStore, remote.go, which picks the server of
// --endpoint instead) so that the store options live in one place.
func openLocalStore() (*tuples.Store, error) {
	if err := os.MkdirAll(global.dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", global.dataDir, err)
	}
	s, err := tuples.Open(global.dataDir, tuples.Options{})
	if err != nil {
		return nil, fmt.Errorf("opening the store in %s: %w", global.dataDir, err)
	}
	return s, nil
}

// engineSource opens the engine a read command works on: with file set, a
// validation YAML file (schema and relationships) loaded into a fresh
// in-memory store, so that a model can be queried without any setup;
// otherwise the embedded store in --data-dir. closeFn releases it.
func engineSource(ctx context.Context, file string, opts engine.Options) (e *engine.Engine, s *tuples.Store, closeFn func() error, err error) {
	if file == "" {
		s, err := openLocalStore()
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
