//go:build unix

package tuples

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// lockDir takes the lock Badger takes on a store directory (flock on the
// directory: exclusive, or shared for a read-only open) while the directory
// is checked. A missing directory is not locked (Badger creates it).
func lockDir(dir string, shared bool) (unlock func(), err error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s: another process is using the store (%w)", dir, err)
	}
	return func() { f.Close() }, nil
}
