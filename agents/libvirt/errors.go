package libvirt

import "errors"

// Errors callers branch on, in builds with and without libvirt.
var (
	// ErrUnavailable wraps the error of a poll that found libvirt
	// unreachable: the connection could not be opened, or it broke and is
	// being retried with backoff.
	ErrUnavailable = errors.New("libvirt unavailable")

	// ErrNotBuilt is what New returns in a binary built without libvirt
	// support: the cgo binding needs libvirt's headers (Debian's
	// libvirt-dev) and the build tag libvirt, which the Makefile sets when
	// pkg-config finds libvirt.
	ErrNotBuilt = errors.New("libvirt pollster: built without libvirt support (install libvirt-dev and build with -tags libvirt)")
)
