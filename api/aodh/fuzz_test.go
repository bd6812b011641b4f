package aodh

import (
	"net/url"
	"testing"

	"github.com/vigil-telemetry/vigil/alarms"
)

func FuzzParseQuery(f *testing.F) {
	f.Add("q.field=name&q.op=eq&q.value=a&q.field=enabled&q.value=true&sort=name:desc&limit=3")
	f.Add("q.field=timestamp&q.op=gt&q.value=2026-01-01&q.field=timestamp&q.op=lt&q.value=x&q.type=integer")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		_, _ = parseQuery(v)
		_, _, _, _ = paging(v, alarmSortKeys)
	})
}

func FuzzComplexBody(f *testing.F) {
	f.Add([]byte(`{"filter": "{\"and\": [{\"=\": {\"name\": \"a\"}}, {\"in\": {\"state\": [\"ok\"]}}]}", "orderby": "[{\"name\": \"asc\"}]", "limit": 3}`))
	f.Add([]byte(`{"filter": "{\"not\": {\"=~\": {\"rule\": \"cpu\"}}}"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		q, err := complexBody(raw, alarms.AlarmQueryFields)
		if err != nil {
			return
		}
		_ = q.Restrict("project_id", "p")
	})
}

func FuzzDecodeAlarm(f *testing.F) {
	f.Add([]byte(`{"name": "a", "type": "gnocchi_resources_threshold", "gnocchi_resources_threshold_rule": {"metric": "cpu", "resource_id": "r", "resource_type": "i", "threshold": 1, "aggregation_method": "mean"}, "time_constraints": [{"name": "n", "start": "0 23 * * *", "duration": 60}]}`))
	f.Add([]byte(`{"name": "e", "type": "expression", "expression_rule": {"expression": "a.last > 1", "queries": {"a": {"metrics": ["m"], "aggregation_method": "mean"}}}}`))
	h := &handler{}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := h.decodeAlarm(raw)
		if err != nil {
			return
		}
		_ = h.checkActions(b.a, Identity{})
		_ = renderAlarm(b.a, false)
	})
}
