// Package poll runs pollsters on the intervals of Ceilometer's polling.yaml
// sources, keeps the meters each source selects, and publishes them in
// bounded wire batches, buffering and retrying while the bus is away. With
// a pipeline.yaml pipeline (Config.Pipeline) the samples go through its
// sources, transformers and publishers first, its gnocchi:// publishers
// writing through the same buffering and spooling: polling.yaml says what
// is polled, pipeline.yaml what becomes of it, as in Ceilometer.
package poll
