// Package sink runs Ceilometer's pipeline.yaml: sources select samples by
// meter name and hand them to sinks, a sink passes them through its
// transformers in order and then to each of its publishers.
//
// Every step is a Stage, one interface with one method; Sequence and Fanout
// combine stages, and a Pipeline routes samples from sources to sinks. The
// transformers are Ceilometer's (rate_of_change, unit_conversion, delta,
// accumulator, aggregator, arithmetic), which Ceilometer itself dropped in
// its 12.0 release; the publishers are gnocchi:// (the sample bus),
// file://, http(s)://, nats:// and prometheus://. The notification and
// polling agents share one Pipeline; WithBus lets the polling agent's
// gnocchi:// batches go through its spool. FORMATS.md beside this file
// describes what the publishers write and how each agent uses the pipeline.
package sink
