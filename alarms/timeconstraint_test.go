package alarms

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func tcs(t *testing.T, raw string) []TimeConstraint {
	t.Helper()
	out, err := ParseTimeConstraints(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("ParseTimeConstraints(%s): %v", raw, err)
	}
	return out
}

func at(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTimeConstraints(t *testing.T) {
	night := `[{"name": "night", "start": "0 23 * * *", "duration": 10800, "timezone": "Europe/Ljubljana"}]`
	cases := []struct {
		name, constraints, zone, now string
		want                         bool
	}{
		{"none", `[]`, "UTC", "2026-06-01 12:00:00", true},
		{"before start", night, "Europe/Ljubljana", "2026-06-01 22:58:00", false},
		{"within a minute before the start (Aodh's exact match)", night, "Europe/Ljubljana", "2026-06-01 22:59:30", true},
		{"at start", night, "Europe/Ljubljana", "2026-06-01 23:00:00", true},
		{"across midnight", night, "Europe/Ljubljana", "2026-06-02 00:30:00", true},
		{"at the end", night, "Europe/Ljubljana", "2026-06-02 02:00:00", true},
		{"after the end", night, "Europe/Ljubljana", "2026-06-02 02:00:01", false},
		{"next afternoon", night, "Europe/Ljubljana", "2026-06-02 14:00:00", false},
		{"in UTC terms", night, "UTC", "2026-06-01 21:30:00", true},
		{"UTC default zone", `[{"name": "n", "start": "0 23 * * *", "duration": 3600}]`, "UTC", "2026-06-01 23:30:00", true},
		{"UTC default zone, not Paris", `[{"name": "n", "start": "0 23 * * *", "duration": 3600}]`, "Europe/Paris", "2026-06-01 23:30:00", false},
		// Spring forward in Paris on 2026-03-29: 02:00 → 03:00. A window
		// 01:00 + 3 h is 3 real hours: it ends at 05:00 local.
		{"DST spring, inside", `[{"name": "n", "start": "0 1 * * *", "duration": 10800, "timezone": "Europe/Paris"}]`, "Europe/Paris", "2026-03-29 04:30:00", true},
		{"DST spring, after", `[{"name": "n", "start": "0 1 * * *", "duration": 10800, "timezone": "Europe/Paris"}]`, "Europe/Paris", "2026-03-29 05:00:01", false},
		// Fall back on 2026-10-25: 03:00 → 02:00. 01:00 + 3 h ends at 03:00 local.
		{"DST fall, inside", `[{"name": "n", "start": "0 1 * * *", "duration": 10800, "timezone": "Europe/Paris"}]`, "Europe/Paris", "2026-10-25 02:59:00", true},
		{"DST fall, after", `[{"name": "n", "start": "0 1 * * *", "duration": 10800, "timezone": "Europe/Paris"}]`, "Europe/Paris", "2026-10-25 03:00:01", false},
		// A start in the skipped hour opens when the clock reaches 03:30.
		{"start in the DST gap", `[{"name": "n", "start": "30 2 * * *", "duration": 600, "timezone": "Europe/Paris"}]`, "Europe/Paris", "2026-03-29 03:35:00", true},
		{"weekdays only, Saturday", `[{"name": "n", "start": "0 9 * * mon-fri", "duration": 28800, "timezone": "America/New_York"}]`, "America/New_York", "2026-06-06 10:00:00", false},
		{"weekdays only, Friday", `[{"name": "n", "start": "0 9 * * mon-fri", "duration": 28800, "timezone": "America/New_York"}]`, "America/New_York", "2026-06-05 16:59:00", true},
		{"two windows, second", `[{"name": "a", "start": "0 8 * * *", "duration": 60}, {"name": "b", "start": "0 20 * * *", "duration": 3600}]`, "UTC", "2026-06-05 20:30:00", true},
	}
	for _, c := range cases {
		if got := WithinTimeConstraints(tcs(t, c.constraints), at(t, c.zone, c.now)); got != c.want {
			t.Errorf("%s: Within at %s %s = %v, want %v", c.name, c.now, c.zone, got, c.want)
		}
	}
}

func TestTimeConstraintErrors(t *testing.T) {
	cases := []struct{ raw, want string }{
		{`[{"name": "a", "start": "0 23 * * *", "duration": 1}, {"name": "a", "start": "0 1 * * *", "duration": 1}]`, "Time constraint names must be unique for a given alarm."},
		{`[{"name": "a", "start": "0 23 * * *", "duration": 1, "timezone": "Mars/Olympus"}]`, "Timezone Mars/Olympus is not valid"},
		{`[{"name": "a", "start": "0 25 * * *", "duration": 1}]`, "Invalid input for field/attribute start. Value: '0 25 * * *'."},
		{`[{"name": "a", "start": "0 2 * * *", "duration": -1}]`, "Value should be greater or equal to 0"},
		{`[{"start": "0 2 * * *", "duration": 1}]`, "Invalid input for field/attribute name. Value: 'None'. Mandatory field missing."},
		{`[{"name": "a", "start": "0 2 * * *"}]`, "Invalid input for field/attribute duration. Value: 'None'. Mandatory field missing."},
	}
	for _, c := range cases {
		_, err := ParseTimeConstraints(json.RawMessage(c.raw))
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(ie.Msg, c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.raw, err, c.want)
		}
	}
	got := tcs(t, `[{"name": "a", "start": "0 2 * * *", "duration": 5}]`)
	if got[0].Description != "Time constraint at 0 2 * * * lasting for 5 seconds" {
		t.Errorf("default description %q", got[0].Description)
	}
}
