package ops

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendTimestampMatchesTime(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	cases := []int64{0, -1, 1, 86400e9 - 1, 951782400e9, 4102444800e9, -6213559680e9, 9223372036e9}
	for range 10000 {
		cases = append(cases, r.Int64N(1<<62)-1<<61, r.Int64N(4e18)-2e18)
	}
	for _, ts := range cases {
		tm := time.Unix(0, ts).UTC()
		want := tm.Format("2006-01-02T15:04:05")
		if tm.Nanosecond() != 0 {
			want += tm.Format(".000000000")
		}
		want += "+00:00"
		if got := string(AppendTimestamp(nil, ts)); got != want {
			t.Fatalf("AppendTimestamp(%d) = %s, want %s", ts, got, want)
		}
	}
}
