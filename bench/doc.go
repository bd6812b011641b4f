// Package bench holds vigil's whole-system load generators and the benchmark
// suite that `make bench` runs: ingest, query, publishing and memory figures
// on realistic workloads, printed as measures/s, bytes per point, latency
// percentiles and RSS.
package bench
