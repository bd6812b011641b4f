//go:build !libvirt

package libvirt

import (
	"context"
	"log/slog"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Pollster is the libvirt pollster's place holder in a binary built
// without libvirt; New never returns one.
type Pollster struct{}

// New checks cfg and returns ErrNotBuilt.
func New(cfg Config, _ *slog.Logger) (*Pollster, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	return nil, ErrNotBuilt
}

// Name returns "libvirt".
func (*Pollster) Name() string { return "libvirt" }

// Meters lists the meters a libvirt build produces.
func (*Pollster) Meters() []string { return meterNames() }

// Poll returns ErrNotBuilt.
func (*Pollster) Poll(context.Context, time.Time, func(*pipeline.Sample)) error { return ErrNotBuilt }

// Close does nothing.
func (*Pollster) Close() error { return nil }
