package api

import (
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "2024-01-02T03:04:05Z", want: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2024-01-02T03:04:05+02:00", want: time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC)},
		{in: "2024-01-02T03:04:05.123456", want: time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)},
		{in: "2024-01-02 03:04:05", want: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2024-01-02", want: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		{in: "1704164645", want: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "1704164645.5", want: time.Date(2024, 1, 2, 3, 4, 5, 500000000, time.UTC)},
		{in: "now", want: now},
		{in: "-5 minutes", want: now.Add(-5 * time.Minute)},
		{in: "+1 hour", want: now.Add(time.Hour)},
		{in: "-2d", want: now.Add(-48 * time.Hour)},
		{in: "", err: true},
		{in: "yesterday", err: true},
		{in: "-5 fortnights", err: true},
		{in: "2024-13-45", err: true},
		{in: "1e300", err: true},
		{in: "NaN", err: true},
	} {
		got, err := parseTimestamp(tc.in, now)
		if tc.err {
			if err == nil {
				t.Errorf("parseTimestamp(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseTimestamp(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatTimedelta(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                    "0:00:01",
		5 * time.Minute:                "0:05:00",
		time.Hour:                      "1:00:00",
		24 * time.Hour:                 "1 day, 0:00:00",
		30 * 24 * time.Hour:            "30 days, 0:00:00",
		1500 * time.Millisecond:        "0:00:01.500000",
		365*24*time.Hour + 3*time.Hour: "365 days, 3:00:00",
	} {
		if got := formatTimedelta(d); got != want {
			t.Errorf("formatTimedelta(%v) = %q, want %q", d, got, want)
		}
	}
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2024-01-02T03:04:05Z", "-5 minutes", "1704164645.5", "now", "+1e9 days"} {
		f.Add(s)
	}
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseTimestamp(s, now)
		_, _ = parseDuration(s)
	})
}
