// Package tsdb is vigil's time-series store with Gnocchi's model: archive
// policies and rules, resource types, resources with history, metrics, and
// their aggregated series. Its sub-packages hold the archive policy model
// (archive), the series encoding (split), the storage engines (storage), the
// SQL index (index), the aggregation maths (aggregate), the processor that
// consumes the sample stream (ingest) and the query engine (query).
package tsdb
