//go:build !linux

package host

import "errors"

func fsUsage(string) (totalKB, usedKB uint64, err error) {
	return 0, 0, errors.New("statfs of mounts is implemented only on Linux")
}
