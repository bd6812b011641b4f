package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func defaultEvents(t testing.TB, opts EventOptions) *EventDefinitions {
	t.Helper()
	e, err := LoadEvents("", opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func traitMap(e *Event) map[string]any {
	out := map[string]any{}
	for _, t := range e.Traits {
		out[t.Name] = t.Value
	}
	return out
}

func TestDefaultEventsInstance(t *testing.T) {
	defs := defaultEvents(t, EventOptions{})
	n := parse(t, envelope(t, fixture(t, "instance_create_end")))
	ev, ok := defs.Event(n, nil)
	if !ok {
		t.Fatal("no event")
	}
	if ev.MessageID != "dae6f69c-00e0-41c0-b371-41ec3b7f4451" || ev.EventType != "compute.instance.create.end" ||
		!ev.Generated.Equal(time.Date(2012, 5, 8, 20, 23, 48, 28195000, time.UTC)) {
		t.Errorf("event %+v", ev)
	}
	tr := traitMap(ev)
	want := map[string]any{
		"service": "compute", "host": "vagrant-precise", "memory_mb": int64(512), "vcpus": int64(1),
		"instance_id": "9f9d01b9-4a58-4271-9e27-398b21ab20d1", "availability_zone": "nova",
		"launched_at": time.Date(2012, 5, 8, 20, 23, 47, 985999000, time.UTC), "request_id": "req-d68b36e0-9233-467f-9afb-d81435d64d66",
		"project_id": "7c150a59fe714e6f9263774af9688f0e", "user_id": "1e3ce043029547f1a61c1996d1a531a2", "state": "active",
	}
	for k, v := range want {
		if fmt.Sprint(tr[k]) != fmt.Sprint(v) {
			t.Errorf("trait %s = %v (%T), want %v", k, tr[k], tr[k], v)
		}
	}
	if _, ok := tr["deleted_at"]; ok {
		t.Error("an empty datetime trait is kept")
	}
	for i := 1; i < len(ev.Traits); i++ {
		if ev.Traits[i-1].Name >= ev.Traits[i].Name {
			t.Fatalf("traits not sorted: %v", ev.Traits)
		}
	}
	b, err := ev.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		MessageID string  `json:"message_id"`
		Generated string  `json:"generated"`
		Traits    [][]any `json:"traits"`
		Raw       map[string]any
	}
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if decoded.Generated != "2012-05-08T20:23:48.028195" || len(decoded.Traits) != len(ev.Traits) || decoded.Raw == nil {
		t.Errorf("JSON %s", b)
	}
	if !strings.Contains(string(b), `["launched_at",4,"2012-05-08T20:23:47.985999"]`) || !strings.Contains(string(b), `["memory_mb",2,512]`) {
		t.Errorf("JSON traits %s", b)
	}
}

func TestDefaultEventsOthers(t *testing.T) {
	defs := defaultEvents(t, EventOptions{StoreRaw: []string{"info"}})
	for _, tc := range []struct {
		fixture string
		want    map[string]any
	}{
		{"volume_create_end", map[string]any{"resource_id": "cccccccc-cccc-cccc-cccc-cccccccccccc", "size": int64(1), "image_id": "dddddddd-dddd-dddd-dddd-dddddddddddd", "service": "volume.cinder-host"}},
		{"image_upload", map[string]any{"resource_id": "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee", "project_id": "fake", "size": int64(19), "name": "fake image #3"}},
		{"port_create_end", map[string]any{"resource_id": "ffffffff-0000-1111-2222-333333333333", "project_id": "p-net", "user_id": "u-net", "device_owner": "compute:nova"}},
		{"instance_exists", map[string]any{"audit_period_beginning": time.Date(2012, 5, 8, 15, 0, 0, 0, time.UTC)}},
	} {
		ev, ok := defs.Event(parse(t, envelope(t, fixture(t, tc.fixture))), nil)
		if !ok {
			t.Fatalf("%s: no event", tc.fixture)
		}
		tr := traitMap(ev)
		for k, v := range tc.want {
			if fmt.Sprint(tr[k]) != fmt.Sprint(v) {
				t.Errorf("%s: trait %s = %v, want %v", tc.fixture, k, tr[k], v)
			}
		}
		if ev.Raw == nil || ev.Raw["event_type"] != ev.EventType {
			t.Errorf("%s: raw not stored for an info notification", tc.fixture)
		}
	}
}

func TestEventsCatchAllAndUnmatched(t *testing.T) {
	n := notif(t, "unknown.thing.happened", `{"tenant_id": "p"}`)
	ev, ok := defaultEvents(t, EventOptions{}).Event(n, nil)
	if !ok || traitMap(ev)["project_id"] != "p" || traitMap(ev)["service"] != "compute.host1" {
		t.Fatalf("catch-all: %v %+v", ok, ev)
	}
	if _, ok := defaultEvents(t, EventOptions{DropUnmatched: true}).Event(n, nil); ok {
		t.Error("an unmatched notification made an event with DropUnmatched")
	}
}

func TestEventDefinitionsSemantics(t *testing.T) {
	const file = `
- event_type: "*"
  traits: {everything: {fields: payload.a}}
- event_type: ["a.*", "!a.secret"]
  traits:
    a_trait: {fields: payload.a, type: int}
    both: {fields: [payload.missing, payload.b]}
    half: {fields: payload.s, plugin: {name: split, parameters: {separator: "-", segment: -1}}}
    flags:
      fields: payload
      plugin:
        name: bitfield
        parameters:
          initial_bitfield: 1
          flags:
            - {path: payload.a, bit: 1, value: 7}
            - {path: payload.b, bit: 2}
            - {path: payload.zzz, bit: 3}
    took: {fields: [payload.t0, payload.t1], plugin: timedelta, type: float}
    bad_int: {fields: payload.b, type: int}
    service: {fields: payload.b}
`
	defs, err := ParseEvents([]byte(file), EventOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	ev, ok := defs.Event(notif(t, "a.b", `{"a": 7, "b": "x", "s": "p-q-r", "t0": "2026-01-01T00:00:00", "t1": "2026-01-01T00:01:30.5"}`),
		func(tr string, err error) { errs = append(errs, tr) })
	if !ok {
		t.Fatal("no event")
	}
	got := fmt.Sprint(traitMap(ev))
	want := fmt.Sprint(map[string]any{"a_trait": int64(7), "both": "x", "half": "r", "flags": int64(1 | 2 | 4), "took": 90.5, "service": "x"})
	if got != want {
		t.Errorf("traits %s\nwant   %s", got, want)
	}
	if fmt.Sprint(errs) != "[bad_int]" {
		t.Errorf("trait errors %v", errs)
	}
	// The exclusion falls back to the catch-all, which wins nowhere else.
	ev, _ = defs.Event(notif(t, "a.secret", `{"a": 1}`), nil)
	if _, ok := ev.Trait("everything"); !ok {
		t.Errorf("a.secret: %+v", ev.Traits)
	}
}

func TestParseEventsErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"not a list", "a: b", "want a list"},
		{"no event type", "- traits: {}", "event_type: required"},
		{"unknown key", "- event_type: a\n  trait: {}", `unknown key "trait"`},
		{"bad type", "- event_type: a\n  traits:\n    x: {fields: payload.x, type: long}", `line 3: events[0] (a).traits.x.type: invalid trait type "long"`},
		{"no fields", "- event_type: a\n  traits:\n    x: {type: int}", `line 3: events[0] (a).traits.x.fields: required`},
		{"bad field", "- event_type: a\n  traits:\n    x: {fields: 'payload.[?'}", "cannot parse field expression"},
		{"bad plugin", "- event_type: a\n  traits:\n    x: {fields: payload.x, plugin: {name: split, parameters: {sep: x}}}", `unknown parameter "sep"`},
		{"flag without bit", "- event_type: a\n  traits:\n    x: {fields: payload.x, plugin: {name: bitfield, parameters: {flags: [{path: payload.x}]}}}", "needs path and bit"},
		{"plugin without name", "- event_type: a\n  traits:\n    x: {fields: payload.x, plugin: {parameters: {}}}", "no plugin name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEvents([]byte(tc.yaml), EventOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant an error containing %q", err, tc.want)
			}
		})
	}
}

func TestEventJSONInvalidUTF8(t *testing.T) {
	ev := &Event{MessageID: "m", EventType: "x\xff", Generated: time.Unix(0, 0), Traits: []Trait{{Name: "t\n", Type: TraitText, Value: "\x00"}}}
	b, err := ev.AppendJSON(nil)
	if err != nil || !json.Valid(b) {
		t.Fatalf("%s: %v", b, err)
	}
	ev.Traits[0].Value = struct{}{}
	if _, err := ev.AppendJSON(nil); err == nil || !strings.HasPrefix(err.Error(), "BUG") {
		t.Errorf("got %v", err)
	}
}

func FuzzParseEvents(f *testing.F) {
	f.Add(DefaultEventDefinitionsYAML)
	f.Add([]byte("- event_type: [a, '!b']\n  traits: &t\n    x: {fields: [payload.a, ctxt.b], type: datetime, plugin: timedelta}\n- {event_type: c, traits: {<<: *t}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defs, err := ParseEvents(data, EventOptions{StoreRaw: []string{"info"}})
		if err != nil {
			return
		}
		if ev, ok := defs.Event(notif(t, "compute.instance.create.end", `{"a": "2026-01-01", "b": 1}`), nil); ok {
			if _, err := ev.AppendJSON(nil); err != nil {
				t.Fatal(err)
			}
		}
	})
}
