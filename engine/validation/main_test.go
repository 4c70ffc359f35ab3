package validation

import (
	"testing"

	"github.com/reach-authz/reach/internal/testdatastore"
)

// TestMain stops the PostgreSQL cluster the tests start when
// REACH_TEST_DATASTORE=postgres.
func TestMain(m *testing.M) { testdatastore.Main(m) }
