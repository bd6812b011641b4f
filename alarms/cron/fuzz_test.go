package cron

import (
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0 23 * * *", "*/15 9-17 * * mon-fri", "0 0 29 2 *", "1-5/2,7 */3 ? jan-mar 0-7 59", "* * 31 4,6 *"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			return
		}
		for _, loc := range []*time.Location{time.UTC, paris} {
			if p, ok := s.Prev(now, loc); ok && p.After(now) {
				t.Fatalf("%q: Prev(%s) = %s is after it", expr, now, p)
			}
		}
	})
}
