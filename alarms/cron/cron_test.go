package cron

import (
	"math/rand/v2"
	"testing"
	"time"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v (is tzdata installed?)", name, err)
	}
	return loc
}

func TestParseErrors(t *testing.T) {
	for _, expr := range []string{
		"", "* * * *", "* * * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * 32 * *",
		"* * * 13 *", "* * * * 8", "5-3 * * * *", "*/0 * * * *", "a * * * *", "1,,2 * * * *",
		"* * 30 2 *", "* * * * * 60", "1- * * * *",
	} {
		if _, err := Parse(expr); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", expr)
		}
	}
	for _, expr := range []string{
		"0 23 * * *", "*/15 9-17 * * mon-fri", "0 0 1 jan *", "0 0 * * 7", "30 2 * * ?",
		"0 0 29 2 *", "0 12 * * * 30", "1,2,3-5/2 * * * *", "0 0 1-31/2 * *",
	} {
		if _, err := Parse(expr); err != nil {
			t.Errorf("Parse(%q): %v", expr, err)
		}
	}
}

// naivePrev walks back one second at a time in loc's wall clock, the
// reference Prev is checked against.
func naivePrev(s *Schedule, loc *time.Location, t time.Time, limit time.Duration) (time.Time, bool) {
	start := t.Truncate(time.Second)
	for at := start; t.Sub(at) <= limit; at = at.Add(-time.Second) {
		w := at.In(loc)
		y, mo, d := w.Date()
		h, mi, se := w.Clock()
		if s.dayMatches(y, mo, d) && s.hour&(1<<h) != 0 && s.minute&(1<<mi) != 0 && s.second&(1<<se) != 0 && !repeated(at, loc) {
			return at, true
		}
	}
	return time.Time{}, false
}

// repeated reports whether the wall time of at already occurred earlier
// (the second pass of a fall-back hour).
func repeated(at time.Time, loc *time.Location) bool {
	w := at.In(loc).Format("2006-01-02 15:04:05")
	for _, d := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		if at.Add(-d).In(loc).Format("2006-01-02 15:04:05") == w {
			return true
		}
	}
	return false
}

func TestPrevMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	exprs := []string{"0 23 * * *", "*/7 * * * *", "30 2 * * *", "0 0 * * mon", "15 1,13 * * * 10", "0 */6 1,15 * *", "59 23 31 12 *", "0 3 * * sun"}
	zones := []string{"UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"}
	for i := 0; i < 200; i++ {
		expr := exprs[rng.IntN(len(exprs))]
		s, err := Parse(expr)
		if err != nil {
			t.Fatal(err)
		}
		loc := mustLoad(t, zones[rng.IntN(len(zones))])
		// Around the 2026 DST changes and elsewhere.
		base := []time.Time{
			time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC), time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC),
			time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC),
			time.Date(2026, 4, 5, 15, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC),
		}[rng.IntN(6)]
		now := base.Add(time.Duration(rng.Int64N(int64(48 * time.Hour))))
		got, ok := s.Prev(now, loc)
		want, wok := naivePrev(s, loc, now, 8*24*time.Hour)
		if !wok {
			continue // weekly and yearly schedules beyond the naive search
		}
		if !ok || !got.Equal(want) {
			t.Errorf("%q in %s at %s: Prev = %s (%v), naive %s", expr, loc, now.In(loc), got.In(loc), ok, want.In(loc))
		}
	}
}

func TestPrevDST(t *testing.T) {
	paris := mustLoad(t, "Europe/Paris")
	s, _ := Parse("30 2 * * *")
	// 2026-03-29 02:00 Paris jumps to 03:00: 02:30 does not exist that day;
	// time.Date puts it at 03:30 CEST.
	now := time.Date(2026, 3, 29, 4, 0, 0, 0, paris)
	got, ok := s.Prev(now, paris)
	if want := time.Date(2026, 3, 29, 3, 30, 0, 0, paris); !ok || !got.Equal(want) {
		t.Errorf("spring forward: Prev = %s, want %s", got, want)
	}
	// Before 03:30 that day the previous point is the day before.
	now = time.Date(2026, 3, 29, 3, 10, 0, 0, paris)
	got, _ = s.Prev(now, paris)
	if want := time.Date(2026, 3, 28, 2, 30, 0, 0, paris); !got.Equal(want) {
		t.Errorf("spring forward before 03:30: Prev = %s, want %s", got, want)
	}
	// 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 happens twice;
	// the first occurrence (CEST) counts.
	now = time.Date(2026, 10, 25, 5, 0, 0, 0, paris)
	got, _ = s.Prev(now, paris)
	if want := time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("fall back: Prev = %s (%s), want %s", got, got.UTC(), want)
	}
}
