// Package billing rates metered usage and exports it: it reads resource
// lifetimes, revisions and aggregated measures from the store (through a
// Source), prices them with a rating configuration in exact decimal
// arithmetic, and writes per-project line items as CSV, JSON or FinOps
// FOCUS 1.0 columns. FORMAT.md describes the configuration file and the
// export formats.
//
// Rating follows CloudKitty's hashmap model: each service measures one
// kind of usage (instance hours, vCPU-hours, GB-hours of a gauge, the
// increase of a counter), and price lists, effective from a date, map
// resource attribute values (flavor, volume type, zone) to a price per
// unit or to tiered prices. A resource's attribute history splits its
// usage, so that a resize bills each flavor for its own hours, and a
// price list taking effect mid-period splits the line.
//
// The entry points are Rate (a Report of priced lines), Export (the
// command line's), Register (the HTTP routes) and Scheduler (closed
// periods written to a directory).
package billing
