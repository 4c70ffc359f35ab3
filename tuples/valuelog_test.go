package tuples

import (
	"testing"

	"github.com/reach-authz/reach/schema"
)

// TestValueLogFileSize checks that an on-disk store uses value-log files of
// valueLogFileSize and that the largest value the store writes fits in one
// (Badger refuses a value larger than a file).
func TestValueLogFileSize(t *testing.T) {
	bo := badgerOptions(t.TempDir(), Options{}.withDefaults())
	if bo.ValueLogFileSize != valueLogFileSize {
		t.Errorf("value-log files of %d bytes, want %d", bo.ValueLogFileSize, valueLogFileSize)
	}
	for what, n := range map[string]int64{"a schema": schema.MaxSourceBytes, "a change record part": changePartSize} {
		if 2*n > bo.ValueLogFileSize {
			t.Errorf("%s of %d bytes would fill half a value-log file of %d", what, n, bo.ValueLogFileSize)
		}
	}
}
