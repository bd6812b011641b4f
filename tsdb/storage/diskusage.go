package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
)

// dirUsage returns the bytes allocated to the regular files under dir:
// what `du` counts, preallocated and sparse space included. A file removed
// while the walk runs (compactions delete tables) counts nothing.
func dirUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path != dir {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot measure the disk usage of %s: %w", dir, err)
	}
	return total, nil
}
