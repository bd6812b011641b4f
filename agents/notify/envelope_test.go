package notify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseNotificationForms(t *testing.T) {
	bare := fixture(t, "instance_create_end")
	for name, data := range map[string][]byte{"2.0 envelope": envelope(t, bare), "1.0 bare": bare} {
		t.Run(name, func(t *testing.T) {
			n := parse(t, data)
			if n.EventType != "compute.instance.create.end" || n.PublisherID != "compute.vagrant-precise" || n.Priority != "info" ||
				n.MessageID != "dae6f69c-00e0-41c0-b371-41ec3b7f4451" || !n.Timestamp.Equal(time.Date(2012, 5, 8, 20, 23, 48, 28195000, time.UTC)) {
				t.Errorf("%+v", n)
			}
			if n.Context["user_id"] != "1e3ce043029547f1a61c1996d1a531a2" || n.Context["request_id"] != "req-d68b36e0-9233-467f-9afb-d81435d64d66" {
				t.Errorf("context %v", n.Context)
			}
			md := n.Message["metadata"].(map[string]any)
			if md["message_id"] != n.MessageID || md["timestamp"] != "2012-05-08 20:23:48.028195" || n.Message["ctxt"] == nil {
				t.Errorf("message %v", n.Message)
			}
		})
	}
}

func TestParseNotificationDefaults(t *testing.T) {
	a := parse(t, []byte(`{"event_type": "x.y", "timestamp": "2026-11-22T02:30:00Z", "payload": {}, "ctxt": {"user_id": "u"}}`))
	b := parse(t, []byte(`{"event_type": "x.y", "timestamp": "2026-11-22T02:30:00Z", "payload": {}, "ctxt": {"user_id": "u"}}`))
	if a.Priority != "info" || a.MessageID == "" || a.MessageID != b.MessageID || a.Context["user_id"] != "u" {
		t.Errorf("%+v / %+v", a, b)
	}
	c := parse(t, []byte(`{"event_type": "x.y", "timestamp": "2026-11-22T02:30:00Z", "_unique_id": "abc", "priority": "WARN"}`))
	if c.MessageID != "abc" || c.Priority != "warn" {
		t.Errorf("%+v", c)
	}
}

func TestParseNotificationMalformed(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", ``, "empty message"},
		{"not JSON", `{"oslo.version": `, "invalid JSON"},
		{"not an object", `[1]`, "want a JSON object"},
		{"trailing data", `{"event_type": "a", "timestamp": "2026-01-01"} {}`, "data after"},
		{"message not a string", `{"oslo.version": "2.0", "oslo.message": {"event_type": "a"}}`, "oslo.message is an object"},
		{"message not JSON", `{"oslo.version": "2.0", "oslo.message": "{nope"}`, "oslo.message: invalid JSON"},
		{"version 1 in an envelope", `{"oslo.version": "1.0", "oslo.message": "{}"}`, `unsupported oslo.version "1.0"`},
		{"version not a string", `{"oslo.version": 2, "oslo.message": "{}"}`, "oslo.version is a number"},
		{"no event type", `{"timestamp": "2026-01-01"}`, "event_type is missing"},
		{"event type not a string", `{"event_type": 5, "timestamp": "2026-01-01"}`, "event_type is a number"},
		{"long event type", `{"event_type": "` + strings.Repeat("a", 300) + `", "timestamp": "2026-01-01"}`, "limit is 255"},
		{"no timestamp", `{"event_type": "a"}`, "timestamp is missing"},
		{"bad timestamp", `{"event_type": "a", "timestamp": "yesterday"}`, "bad timestamp"},
		{"bad message id", `{"event_type": "a", "timestamp": "2026-01-01", "message_id": 12}`, "message_id is a number"},
		{"bad priority", `{"event_type": "a", "timestamp": "2026-01-01", "priority": []}`, "priority is a list"},
		{"bad publisher", `{"event_type": "a", "timestamp": "2026-01-01", "publisher_id": {}}`, "publisher_id is an object"},
		{"too deep", `{"event_type": "a", "timestamp": "2026-01-01", "payload": ` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseNotification([]byte(tc.data))
			if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrMalformed containing %q", err, tc.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	utc := func(y, mo, d, h, mi, s, ns int) time.Time {
		return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC)
	}
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-22 02:36:28.810215", utc(2026, 11, 22, 2, 36, 28, 810215000)},
		{"2026-11-22T02:36:28Z", utc(2026, 11, 22, 2, 36, 28, 0)},
		{"2026-11-22T02:36:28.1+01:00", utc(2026, 11, 22, 1, 36, 28, 100000000)},
		{"2026-11-22T02:36:28-0130", utc(2026, 11, 22, 4, 6, 28, 0)},
		{"2026-11-22T02:36", utc(2026, 11, 22, 2, 36, 0, 0)},
		{"2026-11-22", utc(2026, 11, 22, 0, 0, 0, 0)},
		{"2012-09-18T10:13:44.571370", utc(2012, 9, 18, 10, 13, 44, 571370000)},
		{"2026-11-22T02:36:28.1234567891", utc(2026, 11, 22, 2, 36, 28, 123456789)},
	} {
		got, err := parseTimestamp(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "2026", "2026-13-01", "2026-02-30", "2026-11-22X", "2026-11-22T25:00", "2026-11-22T02:36:28.", "2026-11-22T02:36:28+25:00", "2026-11-22T02:36:28 UTC", "２０２６-11-22"} {
		if _, err := parseTimestamp(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseNotification(f *testing.F) {
	f.Add(envelope(f, fixture(f, "instance_create_end")))
	f.Add(fixture(f, "image_upload"))
	f.Add([]byte(`{"oslo.version": "2.0", "oslo.message": "{\"event_type\": \"a\", \"timestamp\": \"2026-01-01 00:00:00.1\", \"payload\": [1, {\"x\": null}]}"}`))
	f.Add([]byte(`{"event_type": "a", "timestamp": "2026-11-22T02:36:28-0130", "_context_x": 1, "ctxt": {"y": 2}}`))
	m, err := LoadMeters("")
	if err != nil {
		f.Fatal(err)
	}
	ev, err := LoadEvents("", EventOptions{StoreRaw: []string{"info"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := ParseNotification(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		if n.EventType == "" || n.MessageID == "" || n.Timestamp.IsZero() {
			t.Fatalf("accepted %+v", n)
		}
		m.Samples(nil, n, "openstack", nil)
		if e, ok := ev.Event(n, nil); ok {
			if _, err := e.AppendJSON(nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
