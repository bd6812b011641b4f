//go:build linux

package host

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// fsUsage returns the size and used space of the filesystem mounted at
// path, in KB, as df counts them (used = size - free, root's reserve
// counted as used).
func fsUsage(path string) (totalKB, usedKB uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("cannot statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	if st.Frsize > 0 {
		bs = uint64(st.Frsize)
	}
	return st.Blocks * bs / 1024, (st.Blocks - min(st.Bfree, st.Blocks)) * bs / 1024, nil
}
