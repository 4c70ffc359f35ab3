package datastore_test

import (
	"github.com/reach-authz/reach/datastore"
	"github.com/reach-authz/reach/engine"
	"github.com/reach-authz/reach/tuples"
)

// The embedded Badger store is a Datastore, and every Datastore is a store
// the engine can read.
var (
	_ datastore.Datastore = (*tuples.Store)(nil)
	_ engine.Store        = datastore.Datastore(nil)
)
