package poll

import (
	"context"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

// Pollster produces samples for one source of data (the local host,
// libvirt domains, containers, an SNMP or IPMI target).
//
// Poll reads the source once and calls emit for each sample, with now as
// the samples' timestamp (Ceilometer gives every sample of one cycle the
// same time). emit copies what it keeps, so a pollster may reuse one Sample
// for every call; the Metadata map is shared, not copied, and must not be
// changed after it was emitted. emit is safe for concurrent use by
// goroutines Poll starts, but none may call it after Poll returned: such
// samples are dropped and counted.
//
// Poll must return soon after ctx is done (the scheduler gives each poll
// the source's interval). Samples emitted before an error are kept, so a
// pollster reports what it could read and returns the error for the rest.
// Poll may be called concurrently when the pollster belongs to several
// sources.
type Pollster interface {
	Name() string
	Poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) error
}

// MeterLister is implemented by a pollster that knows every meter it can
// produce. The scheduler then does not run it in a source whose meters
// select none of them, as Ceilometer runs only the pollsters a source names.
type MeterLister interface {
	Meters() []string
}

// Publisher delivers a batch to the bus; *bus.Bus satisfies it. A nil error
// means the batch is durable. Publish must not keep b after it returns and
// must return soon after ctx is done.
type Publisher interface {
	Publish(ctx context.Context, b *wire.Batch) error
}
