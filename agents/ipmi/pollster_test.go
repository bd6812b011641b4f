package ipmi

import "github.com/vigil-telemetry/vigil/agents/poll"

// The scheduler runs the IPMI pollster and skips it in sources that select
// none of its meters.
var (
	_ poll.Pollster    = (*Pollster)(nil)
	_ poll.MeterLister = (*Pollster)(nil)
)
