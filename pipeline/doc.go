// Package pipeline owns the sample model that every part of vigil exchanges:
// Ceilometer's sample (name, type, unit, volume, resource, project, user,
// timestamp, metadata), the batch that carries samples on the bus, and the
// meter selection (MeterFilter) that polling.yaml, pipeline.yaml and
// event_definitions.yaml share. Its sub-packages hold the wire codec (wire),
// the NATS JetStream bus (bus) and pipeline.yaml's transformers and
// publishers (sink). Agents import pipeline, never the other way round.
package pipeline
