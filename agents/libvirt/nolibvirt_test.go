//go:build !libvirt

package libvirt

import (
	"errors"
	"testing"

	"github.com/vigil-telemetry/vigil/agents/poll"
)

// The place holder satisfies what the scheduler wants of a pollster, so
// that wiring compiles either way.
var (
	_ poll.Pollster    = (*Pollster)(nil)
	_ poll.MeterLister = (*Pollster)(nil)
)

// Without the libvirt build tag, New says so instead of failing later.
func TestNewWithoutLibvirt(t *testing.T) {
	if _, err := New(Config{}, nil); !errors.Is(err, ErrNotBuilt) {
		t.Errorf("New: %v, want ErrNotBuilt", err)
	}
	if _, err := New(Config{URI: "no scheme"}, nil); err == nil || errors.Is(err, ErrNotBuilt) {
		t.Errorf("New with a bad URI: %v, want a config error", err)
	}
}
