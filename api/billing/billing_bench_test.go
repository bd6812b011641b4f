package billing

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

const benchConfig = `currency: EUR
flavors:
  m1.tiny: {vcpus: 1, ram_mb: 512}
  m1.small: {vcpus: 1, ram_mb: 2048}
  m1.medium: {vcpus: 2, ram_mb: 4096}
  m1.large: {vcpus: 4, ram_mb: 8192}
services:
  - {name: compute.instance, measure: instance_hours, metric: power.state, values: [1]}
  - {name: compute.vcpu, measure: vcpu_hours}
  - {name: compute.memory, measure: memory_gb_hours}
prices:
  - from: 2024-01-01
    services:
      compute.instance:
        - {match: {flavor_name: m1.tiny}, price: 0.005}
        - {match: {flavor_name: m1.small}, price: 0.02}
        - {match: {flavor_name: m1.medium}, price: 0.04}
        - {match: {flavor_name: m1.large}, price: 0.08}
      compute.vcpu: [{price: 0.003}]
      compute.memory: [{price: 0.001}]
  - from: 2024-04-15
    services:
      compute.instance:
        - {match: {flavor_name: m1.tiny}, price: 0.006}
        - {match: {flavor_name: m1.small}, price: 0.022}
        - {match: {flavor_name: m1.medium}, price: 0.045}
        - {match: {flavor_name: m1.large}, price: 0.09}
`

// BenchmarkMonthlyExport exports April 2024 (30 days) for 10,000
// instances in 100 projects: each reports power.state hourly, one in ten
// is resized once and one in five starts or ends within the month, and
// the price list changes on the 15th. The figure is the whole export:
// the index listing, 10,000 series read, rating and the rendering.
func BenchmarkMonthlyExport(b *testing.B) {
	const instances = 10000
	e := newEnv(b, "sqlite")
	ctx := context.Background()
	from := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)
	rng := rand.New(rand.NewPCG(1, 1))
	flavors := []string{"m1.tiny", "m1.small", "m1.medium", "m1.large"}
	setup := time.Now()
	for i := range instances {
		name := fmt.Sprintf("vm-%05d", i)
		start, end := from.Add(-24*time.Hour), time.Time{}
		if i%5 == 0 {
			start = from.Add(time.Duration(rng.IntN(20*24)) * time.Hour)
			end = start.Add(time.Duration(1+rng.IntN(10*24)) * time.Hour)
		}
		m := e.create(res{typ: "instance", name: name, project: fmt.Sprintf("p-%02d", i%100), started: start, ended: end,
			attrs: instanceAttrs(name, flavors[rng.IntN(4)], "az1"), metrics: map[string]string{"power.state": "bill-hourly"}})
		last := to
		if !end.IsZero() {
			last = end
		}
		e.write(m["power.state"], "bill-hourly", hourly(maxTime(start, from), last, 17*time.Minute, func(int) float64 { return 1 }))
		if i%10 == 3 {
			at := maxTime(start, from).Add(time.Duration(1+rng.IntN(200)) * time.Hour)
			if end.IsZero() || at.Before(end) {
				e.change("instance", name, at, map[string]any{"flavor_name": flavors[rng.IntN(4)]})
			}
		}
	}
	b.Logf("data set of %d instances written in %v", instances, time.Since(setup).Round(time.Millisecond))
	cfg := mustConfig(b, benchConfig)
	for _, f := range []Format{FormatFOCUS, FormatCSV, FormatJSON} {
		b.Run(f.String(), func(b *testing.B) {
			b.ReportAllocs()
			lines := 0
			for b.Loop() {
				rep, err := Rate(ctx, e.src, cfg, Query{From: from, To: to, Now: to.Add(time.Hour)})
				if err != nil {
					b.Fatal(err)
				}
				if err := rep.Write(io.Discard, f); err != nil {
					b.Fatal(err)
				}
				lines = len(rep.Lines)
			}
			perOp := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(perOp, "s/export")
			b.ReportMetric(float64(instances)/perOp, "instances/s")
			b.ReportMetric(float64(lines), "lines")
		})
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
