package query_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// TestCachedReadsFollowWrites reads a series, rewrites its split, and
// expects the cached reader to answer what an uncached one answers.
func TestCachedReadsFollowWrites(t *testing.T) {
	ctx := context.Background()
	st, err := storage.OpenPebble(t.TempDir(), storage.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := archive.Policy{Name: "m", Methods: []archive.Method{{Kind: archive.Mean}, {Kind: archive.Max}},
		Definitions: []archive.Definition{{Granularity: time.Minute, Points: 1440}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	eng := ingest.NewEngine(st, slog.New(slog.NewTextHandler(io.Discard, nil)), 1<<20)
	id := uuid.New()
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	write := func(from, to int, v float64) {
		b := st.NewBatch()
		defer b.Close()
		var pts []ingest.Point
		for i := from; i < to; i++ {
			pts = append(pts, ingest.Point{T: t0 + int64(i)*int64(time.Minute), V: v + float64(i)})
		}
		if _, err := eng.Apply(ctx, b, id, &p, pts); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(ctx, false); err != nil {
			t.Fatal(err)
		}
	}
	cached, plain := query.NewReader(st), query.NewReaderCache(st, 0)
	check := func(what string, want int) {
		for _, m := range p.Methods {
			o := query.MeasuresOptions{Method: m, Granularity: time.Minute}
			a, err := cached.Measures(ctx, id, &p, o)
			if err != nil {
				t.Fatal(err)
			}
			b, err := plain.Measures(ctx, id, &p, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != want || len(b) != want {
				t.Fatalf("%s, %s: %d cached and %d uncached measures, want %d", what, m, len(a), len(b), want)
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("%s, %s: measure %d is %v cached, %v uncached", what, m, i, a[i], b[i])
				}
			}
		}
	}
	write(0, 10, 0)
	check("first write", 10)
	check("read again from the cache", 10)
	write(5, 20, 100) // rewrites five points and adds ten
	check("after a rewrite of the split", 20)
}
