// Package alarms owns Aodh's alarm model and semantics: the alarm, its
// rules (Aodh's Gnocchi thresholds, composite, event, and vigil's
// expr-lang expressions), time constraints, history entries, the complex
// query language, the narrow Fetcher interface through which alarms read
// the metering store, and the messages the alarm service exchanges on NATS
// (SUBJECTS.md). The SQL store is in store, the evaluator in evaluator, the
// actions in notifier, and the cron schedules of time constraints in cron.
// It must not know about HTTP or the agents.
package alarms
