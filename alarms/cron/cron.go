// Package cron parses the cron expressions of Aodh's alarm time
// constraints and finds, for an instant, the latest point of a schedule in a
// time zone. It accepts what croniter accepts for these schedules: five
// fields (minute hour day-of-month month day-of-week) or six (a trailing
// seconds field), each a '*', a number, a range a-b, a step */n or a-b/n, or
// a comma-separated list of those; month and weekday names (jan, mon) in any
// case; 7 as Sunday; '?' as '*' in the day fields.
package cron

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed cron expression. It is immutable and safe for
// concurrent use.
type Schedule struct {
	second uint64 // bit i set: second i matches
	minute uint64
	hour   uint64
	dom    uint64 // bits 1..31
	month  uint64 // bits 1..12
	dow    uint64 // bits 0..6, Sunday = 0
	// domStar and dowStar record an unrestricted day field: cron matches a
	// day when both fields match if either is '*', and when either matches
	// if both are restricted.
	domStar, dowStar bool
	src              string
}

// MaxLen bounds the length of an expression Parse accepts.
const MaxLen = 256

type field struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var (
	fSecond = field{name: "second", min: 0, max: 59}
	fMinute = field{name: "minute", min: 0, max: 59}
	fHour   = field{name: "hour", min: 0, max: 23}
	fDom    = field{name: "day of month", min: 1, max: 31}
	fMonth  = field{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}}
	// Day of week accepts 0..7 (7 is Sunday too); names map to 0..6.
	fDow = field{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}}
)

// Parse parses a five- or six-field cron expression.
func Parse(expr string) (*Schedule, error) {
	if len(expr) > MaxLen {
		return nil, fmt.Errorf("cron expression is %d bytes long: at most %d", len(expr), MaxLen)
	}
	fs := strings.Fields(expr)
	if len(fs) != 5 && len(fs) != 6 {
		return nil, fmt.Errorf("cron expression %q has %d fields: want 5 (minute hour day-of-month month day-of-week) or 6 (with seconds last)", expr, len(fs))
	}
	s := &Schedule{src: expr, second: 1}
	var err error
	if s.minute, _, err = parseField(fs[0], fMinute); err != nil {
		return nil, err
	}
	if s.hour, _, err = parseField(fs[1], fHour); err != nil {
		return nil, err
	}
	if s.dom, s.domStar, err = parseField(fs[2], fDom); err != nil {
		return nil, err
	}
	if s.month, _, err = parseField(fs[3], fMonth); err != nil {
		return nil, err
	}
	if s.dow, s.dowStar, err = parseField(fs[4], fDow); err != nil {
		return nil, err
	}
	if s.dow&(1<<7) != 0 {
		s.dow = s.dow&^(1<<7) | 1
	}
	if len(fs) == 6 {
		if s.second, _, err = parseField(fs[5], fSecond); err != nil {
			return nil, err
		}
	}
	if !s.possible() {
		return nil, fmt.Errorf("cron expression %q never matches: no month has the days it names", expr)
	}
	return s, nil
}

// possible reports whether some date matches: a day-of-month restriction
// alone (weekday '*') must name a day that exists in one of the months.
func (s *Schedule) possible() bool {
	if !s.dowStar && !s.domStar {
		return true // either field matching suffices, and weekdays always occur
	}
	if s.domStar {
		return true
	}
	maxDays := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		if s.month&(1<<m) == 0 {
			continue
		}
		if s.dom&((1<<(maxDays[m]+1))-2) != 0 {
			return true
		}
	}
	return false
}

// String returns the expression as given.
func (s *Schedule) String() string { return s.src }

func parseField(f string, fd field) (bits uint64, star bool, err error) {
	if f == "*" || f == "?" && (fd.name == fDom.name || fd.name == fDow.name) {
		return span(fd.min, fd.max, 1), true, nil
	}
	for part := range strings.SplitSeq(f, ",") {
		b, err := parsePart(part, fd)
		if err != nil {
			return 0, false, fmt.Errorf("cron %s field %q: %w", fd.name, f, err)
		}
		bits |= b
	}
	return bits, false, nil
}

func parsePart(p string, fd field) (uint64, error) {
	if p == "" {
		return 0, fmt.Errorf("empty list item")
	}
	rng, stepStr, hasStep := strings.Cut(p, "/")
	step := 1
	if hasStep {
		n, err := strconv.Atoi(stepStr)
		if err != nil || n < 1 || n > fd.max+1 {
			return 0, fmt.Errorf("step %q is not a number in [1, %d]", stepStr, fd.max+1)
		}
		step = n
	}
	lo, hi := fd.min, fd.max
	if fd.name == fDow.name {
		hi = 6 // '*' spans Sunday once
	}
	if rng != "*" {
		a, b, isRange := strings.Cut(rng, "-")
		var err error
		if lo, err = value(a, fd); err != nil {
			return 0, err
		}
		hi = lo
		if isRange {
			if hi, err = value(b, fd); err != nil {
				return 0, err
			}
			if hi < lo {
				return 0, fmt.Errorf("range %q runs backwards", rng)
			}
		} else if hasStep {
			hi = fd.max // "a/n" runs from a to the end, as in croniter
		}
	}
	return span(lo, hi, step), nil
}

func value(s string, fd field) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing value")
	}
	for i, n := range fd.names {
		if strings.EqualFold(s, n) {
			return fd.min + i, nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < fd.min || n > fd.max {
		return 0, fmt.Errorf("value %q is not a number in [%d, %d]", s, fd.min, fd.max)
	}
	return n, nil
}

func span(lo, hi, step int) uint64 {
	var b uint64
	for i := lo; i <= hi; i += step {
		b |= 1 << i
	}
	return b
}

// dayMatches applies cron's day rule to a date.
func (s *Schedule) dayMatches(y int, m time.Month, d int) bool {
	if s.month&(1<<int(m)) == 0 {
		return false
	}
	domOK := s.dom&(1<<d) != 0
	dowOK := s.dow&(1<<int(time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday())) != 0
	switch {
	case s.domStar && s.dowStar:
		return true
	case s.domStar:
		return dowOK
	case s.dowStar:
		return domOK
	}
	return domOK || dowOK
}

// highestAtMost returns the highest set bit of b that is <= limit, or -1.
func highestAtMost(b uint64, limit int) int {
	if limit < 0 {
		return -1
	}
	if limit < 63 {
		b &= (1 << (limit + 1)) - 1
	}
	if b == 0 {
		return -1
	}
	return 63 - bits.LeadingZeros64(b)
}

// searchDays bounds how far back Prev looks: enough for a schedule that
// only matches on 29 February (eight years between leap days around 2100).
const searchDays = 366*8 + 2

// Prev returns the latest point of the schedule at or before t, as wall
// clock time in loc, and true; or false when there is none within eight
// years. A wall time that does not exist in loc (skipped by a daylight
// saving change) stands for the instant time.Date normalises it to; one
// that occurs twice stands for its first occurrence.
func (s *Schedule) Prev(t time.Time, loc *time.Location) (time.Time, bool) {
	t = t.In(loc)
	y, mo, d := t.Date()
	h, mi, se := t.Clock()
	for day := 0; day < searchDays; day++ {
		if day > 0 {
			// Step back one calendar day at noon, away from any DST edge.
			prev := time.Date(y, mo, d, 12, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
			y, mo, d = prev.Date()
			h, mi, se = 23, 59, 59
		}
		if !s.dayMatches(y, mo, d) {
			continue
		}
		for hh := highestAtMost(s.hour, h); hh >= 0; hh = highestAtMost(s.hour, hh-1) {
			mlimit, slimit := 59, 59
			if hh == h {
				mlimit = mi
			}
			for mm := highestAtMost(s.minute, mlimit); mm >= 0; mm = highestAtMost(s.minute, mm-1) {
				if hh == h && mm == mi {
					slimit = se
				} else {
					slimit = 59
				}
				ss := highestAtMost(s.second, slimit)
				for ; ss >= 0; ss = highestAtMost(s.second, ss-1) {
					at := firstOccurrence(time.Date(y, mo, d, hh, mm, ss, 0, loc), loc)
					if !at.After(t) {
						return at, true
					}
					// A wall time in a DST gap normalised past t: try earlier.
				}
			}
		}
	}
	return time.Time{}, false
}

// firstOccurrence moves a wall time that a fall-back transition repeats to
// its first occurrence (time.Date may return either).
func firstOccurrence(at time.Time, loc *time.Location) time.Time {
	_, off := at.Zone()
	_, before := at.Add(-3 * time.Hour).Zone()
	if before <= off {
		return at
	}
	alt := at.Add(-time.Duration(before-off) * time.Second)
	if alt.In(loc).Format("2006-01-02 15:04:05") == at.In(loc).Format("2006-01-02 15:04:05") {
		return alt
	}
	return at
}
