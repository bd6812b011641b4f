package poll

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

func TestSpoolOrderBoundAndReopen(t *testing.T) {
	dir := t.TempDir()
	sp, err := openSpool(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 200)
	for i := range 4 {
		payload[0] = byte(i)
		if dropped, err := sp.push(payload, fmt.Sprintf("id-%d", i), 10+i); err != nil || dropped != 0 {
			t.Fatalf("push %d: dropped %d, %v", i, dropped, err)
		}
	}
	// A fifth batch does not fit in 1000 bytes: the oldest goes.
	payload[0] = 4
	dropped, err := sp.push(payload, "id-4", 14)
	if err != nil || dropped != 10 {
		t.Fatalf("push over the bound: dropped %d, %v; want the oldest batch's 10 samples", dropped, err)
	}
	if sp.len() != 4 || sp.size() > 1000 || sp.samples() != 11+12+13+14 {
		t.Fatalf("spool holds %d batches, %d bytes, %d samples", sp.len(), sp.size(), sp.samples())
	}
	// A leftover temporary file from a crash is removed on open.
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000099.batch.tmp"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	re, err := openSpool(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 4; want++ {
		b, id, n, err := re.peek()
		if err != nil {
			t.Fatalf("peek: %v", err)
		}
		if b[0] != byte(want) || id != fmt.Sprintf("id-%d", want) || n != 10+want || len(b) != 200 {
			t.Fatalf("batch %d: first byte %d, id %q, %d samples, %d bytes", want, b[0], id, n, len(b))
		}
		if err := re.pop(); err != nil {
			t.Fatal(err)
		}
	}
	if re.len() != 0 || re.size() != 0 {
		t.Fatalf("after popping everything: %d batches, %d bytes", re.len(), re.size())
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000099.batch.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file survived open: %v", err)
	}
	// New batches continue the sequence, so they sort after old ones.
	if _, err := re.push(payload, "id-5", 1); err != nil {
		t.Fatal(err)
	}
	if re.entries[0].seq != 5 {
		t.Errorf("next sequence %d, want 5", re.entries[0].seq)
	}
}

func TestSpoolRejectsCorruptFiles(t *testing.T) {
	for name, mangle := range map[string]func([]byte) []byte{
		"truncated header": func(b []byte) []byte { return b[:5] },
		"bad magic":        func(b []byte) []byte { b[0] = 'X'; return b },
		"flipped byte":     func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
		"long id":          func(b []byte) []byte { b[12], b[13] = 0xff, 0xff; return b },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			sp, err := openSpool(dir, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sp.push([]byte("some batch"), "id", 3); err != nil {
				t.Fatal(err)
			}
			path := sp.path(sp.entries[0].seq)
			b, _ := os.ReadFile(path)
			if err := os.WriteFile(path, mangle(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := sp.peek(); !errors.Is(err, errSpoolCorrupt) {
				t.Fatalf("peek of a corrupt file: %v, want errSpoolCorrupt", err)
			}
		})
	}
	if _, err := openSpool(t.TempDir(), 0); err == nil {
		t.Error("a spool without a bound opened")
	}
}

// switchable is a publisher whose bus can be taken away and given back, the
// way an agent sees NATS go down and come back.
type switchable struct {
	b atomic.Pointer[bus.Bus]
}

var errBusDown = errors.New("nats: no servers available for connection")

func (s *switchable) Publish(ctx context.Context, b *wire.Batch) error {
	return s.PublishWith(ctx, b, bus.PublishOptions{})
}

func (s *switchable) PublishWith(ctx context.Context, b *wire.Batch, o bus.PublishOptions) error {
	bb := s.b.Load()
	if bb == nil {
		return errBusDown
	}
	return bb.PublishWith(ctx, b, o)
}

// TestSpoolSurvivesOutageAndRestart polls while the bus is down, stops the
// agent, starts a new one on the same spool with the bus back, and expects
// every sample in the stream exactly once and in polling order.
func TestSpoolSurvivesOutageAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	spoolDir := t.TempDir()
	pub := &switchable{}
	set := metrics.NewSet()
	p := &counting{name: "a", res: "host-a", meters: []string{"hardware.cpu.util"}, n: 7}
	cfg := Config{
		Sources:      []Source{{Name: "host", Interval: tick, Pollsters: []Pollster{p}}},
		PublishBatch: 5, Producer: "agent-1", Creator: "svc:admin",
		SpoolDir: spoolDir, RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 50 * time.Millisecond,
	}
	stop := runScheduler(t, cfg, pub, set)
	waitFor(t, "samples spooled", func() bool { return counterValue(set, "vigil_agent_spooled_batches_total") >= 6 })
	stop()
	files, _ := filepath.Glob(filepath.Join(spoolDir, "*.batch"))
	if len(files) == 0 {
		t.Fatal("nothing spooled on disk while the bus was down")
	}
	if got := counterValue(set, "vigil_agent_samples_dropped_total"); got != 0 {
		t.Fatalf("%v samples dropped during the outage", got)
	}
	emittedBefore := p.emitted.Load()

	b := openBus(ctx, t, 2)
	pub.b.Store(b)
	set2 := metrics.NewSet()
	stop = runScheduler(t, cfg, pub, set2)
	waitFor(t, "spool replayed", func() bool {
		files, _ := filepath.Glob(filepath.Join(spoolDir, "*.batch"))
		return len(files) == 0 && p.emitted.Load() > emittedBefore+20
	})
	stop()

	stream, err := b.JetStream().Stream(ctx, b.SamplesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var batch wire.Batch
	var got []float64
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		if err := wire.Unmarshal(msg.Data, &batch); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		for _, s := range batch.Series {
			got = append(got, s.Values...)
		}
	}
	// The pollster numbers its samples 1, 2, 3, ...: the stream must hold
	// each exactly once, in that order.
	if int64(len(got)) != p.emitted.Load() {
		t.Fatalf("stream holds %d samples, the pollster emitted %d", len(got), p.emitted.Load())
	}
	for i, v := range got {
		if v != float64(i+1) {
			t.Fatalf("sample %d is %v, want %d: order or exactly-once broken", i, v, i+1)
		}
	}
}
