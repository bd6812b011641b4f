// Package plugin is the backend of vigil's Grafana data source: it answers
// Grafana's QueryData, CallResource and CheckHealth calls by asking vigil's
// Gnocchi v1 and Aodh v2 API over HTTP, and turns the answers into typed
// data frames.
//
// Query types (the "queryType" of a query, see Query):
//
//   - metric: the measures of one metric, by id.
//   - resources: one metric, by name, of every resource a search finds; one
//     series per resource, named from the resource's attributes.
//   - aggregates: an aggregates operation over a search, optionally grouped
//     by resource attributes; one series per group.
//   - annotations: alarm history as Grafana annotations.
//   - alarms: the alarms and their current states, as a table.
//
// The plugin never reads vigil's storage: everything it knows comes from
// the API, so it works the same against Gnocchi and Aodh themselves.
package plugin
