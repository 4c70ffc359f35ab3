package bench

import (
	"io/fs"
	"path/filepath"
)

// diskUsage is the space the files under dir take on disk: blocks
// allocated where the system says (Badger preallocates its value log, so
// apparent sizes overstate it), apparent sizes elsewhere.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += allocated(info)
		return nil
	})
	return total, err
}
