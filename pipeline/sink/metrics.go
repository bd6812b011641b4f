package sink

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// buildEnv is what building a sink's stages needs.
type buildEnv struct {
	sink string
	opts *Options
	set  *metrics.Set
	log  *slog.Logger
	now  func() time.Time
}

// dropCounters count the samples a transformer drops, by reason.
type dropCounters struct {
	noPredecessor *metrics.Counter
	outOfOrder    *metrics.Counter
	duplicate     *metrics.Counter
	negative      *metrics.Counter
	evalErrors    *metrics.Counter
	incomplete    *metrics.Counter
	log           *slog.Logger
	lastLog       *atomic.Int64 // unix ns of the last logged evaluation error
}

func (e *buildEnv) dropCounters(transformer string) dropCounters {
	c := func(reason string) *metrics.Counter {
		return e.set.GetOrCreateCounter(fmt.Sprintf(`vigil_pipeline_transformer_dropped_total{sink=%q,transformer=%q,reason=%q}`, e.sink, transformer, reason))
	}
	return dropCounters{
		noPredecessor: c("no_predecessor"),
		outOfOrder:    c("out_of_order"),
		duplicate:     c("duplicate_timestamp"),
		negative:      c("negative_delta"),
		evalErrors:    c("evaluation_error"),
		incomplete:    c("expired_incomplete"),
		log:           e.log.With("sink", e.sink, "transformer", transformer),
		lastLog:       new(atomic.Int64),
	}
}

// evalError counts a sample an expression could not convert, and logs at
// most one such error a minute: a bad expression fails for every sample.
func (d dropCounters) evalError(err error) {
	d.evalErrors.Inc()
	now := time.Now().UnixNano()
	last := d.lastLog.Load()
	if now-last >= int64(time.Minute) && d.lastLog.CompareAndSwap(last, now) {
		d.log.Warn("dropping samples an expression cannot convert", "err", err)
	}
}

// publishCounters count one publisher's work.
type publishCounters struct {
	samples *metrics.Counter
	errors  *metrics.Counter
	dropped *metrics.Counter
}

func (e *buildEnv) publishCounters(scheme string) publishCounters {
	l := fmt.Sprintf(`{sink=%q,publisher=%q}`, e.sink, scheme)
	return publishCounters{
		samples: e.set.GetOrCreateCounter(`vigil_pipeline_published_samples_total` + l),
		errors:  e.set.GetOrCreateCounter(`vigil_pipeline_publish_errors_total` + l),
		dropped: e.set.GetOrCreateCounter(`vigil_pipeline_publisher_dropped_total` + l),
	}
}
