package snmp

import (
	"context"
	"fmt"
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

// BenchmarkPoll polls the test snmpd: one v2c target, one v3 authPriv
// target, and eight targets polled side by side. cpu-ms/poll is this
// process's CPU time (the agent's is its own); the wall time is mostly
// snmpd's.
func BenchmarkPoll(b *testing.B) {
	a := sharedAgent(b)
	many := make([]Target, 8)
	for i := range many {
		many[i] = v2cTarget(a)
		many[i].Name = fmt.Sprintf("node-%d", i)
	}
	for _, bc := range []struct {
		name    string
		targets []Target
	}{
		{"v2c", []Target{v2cTarget(a)}},
		{"v3-authPriv", []Target{v3Target(a)}},
		{"8-targets", many},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := New(Config{Targets: bc.targets}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			var n int64
			emit := func(*pipeline.Sample) {}
			count := func(s *pipeline.Sample) { n++ }
			if err := p.Poll(context.Background(), time.Now(), count); err != nil {
				b.Fatal(err)
			}
			perPoll := n
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				if err := p.Poll(context.Background(), time.Now(), emit); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/poll")
			b.ReportMetric(float64(perPoll), "samples/poll")
		})
	}
}
