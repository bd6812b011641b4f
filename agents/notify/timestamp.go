package notify

import (
	"fmt"
	"time"
)

// parseTimestamp reads the ISO 8601 forms OpenStack writes, as oslo's
// parse_isotime does: "2026-11-22 02:36:28.810215" (space, no zone, UTC),
// "2026-11-22T02:36:28Z", "...+01:00", "...+0100", with or without seconds
// and fraction, or a date alone. The result is in UTC.
func parseTimestamp(s string) (time.Time, error) {
	bad := func() (time.Time, error) {
		if len(s) > 64 {
			s = s[:64] + "..."
		}
		return time.Time{}, fmt.Errorf("bad timestamp %q: want ISO 8601", s)
	}
	if len(s) < 10 || len(s) > 64 {
		return bad()
	}
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	if !ok1 || !ok2 || !ok3 || s[4] != '-' || s[7] != '-' {
		return bad()
	}
	var hour, minute, sec, nsec int
	i := 10
	loc := time.UTC
	if i < len(s) {
		if s[i] != 'T' && s[i] != 't' && s[i] != ' ' {
			return bad()
		}
		var ok bool
		if hour, ok = num(i+1, 2); !ok || i+3 >= len(s) || s[i+3] != ':' {
			return bad()
		}
		if minute, ok = num(i+4, 2); !ok {
			return bad()
		}
		i += 6
		if i < len(s) && s[i] == ':' {
			if sec, ok = num(i+1, 2); !ok {
				return bad()
			}
			i += 3
			if i < len(s) && (s[i] == '.' || s[i] == ',') {
				i++
				digits := 0
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					if digits < 9 {
						nsec = nsec*10 + int(s[i]-'0')
						digits++
					}
					i++
				}
				if digits == 0 {
					return bad()
				}
				for ; digits < 9; digits++ {
					nsec *= 10
				}
			}
		}
		if i < len(s) {
			switch s[i] {
			case 'Z', 'z':
				i++
			case '+', '-':
				sign := 1
				if s[i] == '-' {
					sign = -1
				}
				zh, ok := num(i+1, 2)
				if !ok {
					return bad()
				}
				j := i + 3
				zm := 0
				if j < len(s) && s[j] == ':' {
					j++
				}
				if j < len(s) {
					if zm, ok = num(j, 2); !ok {
						return bad()
					}
					j += 2
				}
				if zh > 23 || zm > 59 {
					return bad()
				}
				loc = time.FixedZone("", sign*(zh*3600+zm*60))
				i = j
			default:
				return bad()
			}
		}
		if i != len(s) {
			return bad()
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return bad()
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day {
		return bad() // 2026-02-30
	}
	return t.UTC(), nil
}
