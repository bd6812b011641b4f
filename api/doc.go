// Package api is vigil's HTTP front: Gnocchi's v1 metering API under /v1
// and, mounted through Deps.Routes, Aodh's v2 alarming API under /v2, on
// one port, with the same paths, JSON shapes, status codes and error bodies
// as those services so that their clients (gnocchiclient, `openstack
// metric`, Grafana, CloudKitty, Heat) work unchanged; plus /metrics,
// /healthz and oslo's /healthcheck.
//
// The v1 API covers Gnocchi 4.4: archive policies and their rules,
// resource types (JSON-patch updates), resources with history, ETags and
// batch delete, metrics, measures (single and batched, with
// create_metrics), searches of resources and of measures by value,
// /v1/aggregates and the older /v1/aggregation forms, /v1/status and
// /v1/capabilities. Request bodies are validated as Gnocchi validates them,
// and refused with its messages; see errors.go for how the errors of the
// lower layers map to status codes, in one place.
//
// Authorisation is Gnocchi's default policy in every auth mode: admins see
// and change everything; others read what their project created or owns
// (project_id) and change what their project created; a refused request on
// one object is a 403, and listings leave out what the caller may not
// read. Keystone is another Authenticator.
//
// Measures are published on the bus (Deps.Publisher) and a 202 means they
// are durable in JetStream; a request is validated whole before anything
// is published. Where vigil departs from Gnocchi it is on purpose and
// listed here:
//   - NaN and infinite values are refused (the bus carries finite values);
//     a measure list may mix timestamp forms.
//   - resample to Gnocchi's calendar groupings (Y, H, Q, M, W) is refused;
//     resampling to a timespan works.
//   - POST /v1/search/metric without metric_id reads its body (or filter=)
//     as a filter over the metrics' fields and lists the metrics it
//     selects.
//   - /v1/status also reports storage.dropped_late_measures, and metricd
//     processors as null.
//   - in basic mode the user name is both the user and its project, so
//     the creator is "user:user" and project scoping applies.
package api
