// Package split owns the on-disk encoding of the store's series: a split
// (the aggregated columns of one metric and granularity over a run of grid
// slots) and a metric's raw window of unaggregated points. FORMAT.md is the
// byte layout; every value round-trips bit for bit, except NaN payloads.
package split
