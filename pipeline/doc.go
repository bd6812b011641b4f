// Package pipeline owns the sample model that every part of vigil exchanges:
// Ceilometer's sample (name, type, unit, volume, resource, project, user,
// timestamp, metadata) and the batch that carries samples on the bus. Its
// sub-packages hold the wire codec (wire) and the NATS JetStream bus (bus).
package pipeline
