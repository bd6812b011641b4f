// Package index is vigil's SQL index of Gnocchi's model: archive policies
// and the rules that give metrics their policy, resource types with typed
// attributes, resources with the history of their revisions, and metrics.
// It stores no measures.
//
// One schema serves two dialects through database/sql: SQLite (the
// embedded default, pure Go) and PostgreSQL. INDEX.md describes the tables,
// how attributes are stored and indexed, and how history is kept; the
// schema is versioned and migrated at Open. Searches take filters parsed by
// package search and compile them to parameterised SQL of the dialect.
//
// Errors that callers branch on wrap ErrNotFound, ErrExists, ErrConflict,
// ErrInUse or ErrInvalid.
package index
