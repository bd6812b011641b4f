// Package search parses Gnocchi's resource and metric search filters, in their
// JSON body form and their `filter=` query-string form, into one AST, and
// compiles that AST to parameterised SQL for SQLite and PostgreSQL.
package search
