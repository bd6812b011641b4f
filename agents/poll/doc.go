// Package poll runs pollsters on the intervals of Ceilometer's polling.yaml
// sources, keeps the meters each source selects, and publishes them in
// bounded wire batches, buffering and retrying while the bus is away.
package poll
