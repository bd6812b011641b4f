// Package alarms owns Aodh's alarm model and semantics: the alarm store, the
// evaluator (event-driven and periodic), the rule kinds (Aodh's Gnocchi
// thresholds, composite, event, and vigil's expr-lang expressions), the
// notifier and its actions, and alarm history. It must not know about HTTP
// or the agents.
package alarms
