package ipmi

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPoll polls ipmi_sim: a session opened and closed and seven
// sensors read per poll, the SDRs cached. cpu-ms/poll is this process's
// CPU time; the wall time includes the simulator's.
func BenchmarkPoll(b *testing.B) {
	s := startSim(b)
	p, err := New(Config{Targets: []Target{simTarget(s)}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	if err := p.Poll(context.Background(), time.Now(), func(*pipeline.Sample) { n++ }); err != nil {
		b.Fatal(err)
	}
	emit := func(*pipeline.Sample) {}
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if err := p.Poll(context.Background(), time.Now(), emit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/poll")
	b.ReportMetric(float64(n), "samples/poll")
}
