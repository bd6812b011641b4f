// Package ops is Gnocchi's aggregates operations language, the "operations"
// of POST /v1/aggregates: a parser for its string and JSON forms and an
// evaluator over series the caller has already fetched, with no I/O.
package ops
