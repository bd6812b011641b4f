package search

import (
	"encoding/json"
	"strings"
	"testing"
)

const benchFilter = `project_id = 'b9a6ad37-1c22-4d1b-a8a0-8f1f6e4c8d51' and (started_at > '2024-01-01T00:00:00Z' or ended_at = null) and not display_name like 'test-%' and id in ['5a301761-f78b-46e2-8900-8b4f6fe6675a', 'my-server', 'other']`

func BenchmarkParseString(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFilter)))
	for b.Loop() {
		if _, err := ParseString(benchFilter); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJSON(b *testing.B) {
	e, err := ParseString(benchFilter)
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	e, err := ParseString(benchFilter)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		name string
		d    Dialect
	}{{"sqlite", SQLite}, {"postgresql", PostgreSQL}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Compile(e, d.d, resourceColumns, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompileLargeIn is the batch-measures shape: one in-list of many
// metric ids.
func BenchmarkCompileLargeIn(b *testing.B) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "'5a301761-f78b-46e2-8900-8b4f6fe6675a'"
	}
	e, err := ParseString("metric_id in [" + strings.Join(ids, ", ") + "]")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Compile(e, PostgreSQL, resourceColumns, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "values/s")
}
