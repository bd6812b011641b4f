// Package storage keeps the aggregated series of metrics behind the Storage
// interface: the splits of each (metric, granularity) and the raw window
// ingest aggregates from. Values are opaque, already encoded bytes; storage
// owns only their keys (FORMAT.md), their durability and their deletion.
//
// The one engine is Pebble, an embedded LSM key-value store (OpenPebble).
// A shared object store can implement the same interface at scale.
package storage
