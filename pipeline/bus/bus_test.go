package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

const externalURL = "nats://127.0.0.1:4222"

// roundTrip publishes a multi-resource batch and checks that each partition
// receives exactly its series, with only the resources they name, and that
// every point arrives exactly once.
func roundTrip(t *testing.T, b *Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := makeBatch(1, batchSpec{resources: 40, meters: 3, points: 5, byMetric: 6})
	want := points(batch)
	if err := b.Publish(ctx, batch); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	// The caller's batch is untouched.
	if err := wire.Validate(batch); err != nil {
		t.Fatalf("published batch no longer valid: %v", err)
	}
	if !maps.Equal(points(batch), want) {
		t.Fatal("Publish modified the batch")
	}

	got := make(map[point]int)
	usedParts := 0
	for p := range b.cfg.Partitions {
		c, err := b.Consumer(ctx, p)
		if err != nil {
			t.Fatalf("Consumer(%d): %v", p, err)
		}
		msgs, err := c.Fetch(ctx, 100, 100*time.Millisecond)
		if err != nil {
			t.Fatalf("Fetch(%d): %v", p, err)
		}
		if len(msgs) > 1 {
			t.Errorf("partition %d: %d messages, want at most 1", p, len(msgs))
		}
		for _, m := range msgs {
			usedParts++
			if m.Subject() != b.Subject(p) {
				t.Errorf("partition %d: message on %s", p, m.Subject())
			}
			var pb wire.Batch
			if err := wire.Unmarshal(m.Data(), &pb); err != nil {
				t.Fatalf("partition %d: %v", p, err)
			}
			if pb.Producer != "test" {
				t.Errorf("partition %d: producer %q", p, pb.Producer)
			}
			named := make(map[uint32]bool)
			for _, s := range pb.Series {
				key, err := PartitionKey(&pb, s)
				if err != nil {
					t.Fatalf("partition %d: %v", p, err)
				}
				if q := b.Partition(key); q != p {
					t.Errorf("series %s belongs to partition %d, found in %d", seriesName(&pb, s), q, p)
				}
				if s.Resource != nil {
					named[*s.Resource] = true
				}
			}
			if len(named) != len(pb.Resources) {
				t.Errorf("partition %d: %d resources, %d named by series", p, len(pb.Resources), len(named))
			}
			for pt, n := range points(&pb) {
				got[pt] += n
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
		}
	}
	if usedParts < 2 {
		t.Errorf("batch reached %d partitions; the test wants a split", usedParts)
	}
	if len(got) != len(want) {
		t.Errorf("got %d distinct points, want %d", len(got), len(want))
	}
	for pt, n := range want {
		if got[pt] != n {
			t.Errorf("point %+v arrived %d times, want %d", pt, got[pt], n)
		}
	}
	// Acknowledged messages leave the work-queue stream.
	waitFor(t, 5*time.Second, "samples stream empty after acks", func() bool {
		return streamMsgs(t, b, b.SamplesStream()) == 0
	})
}

func streamMsgs(t testing.TB, b *Bus, stream string) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatalf("stream %s info: %v", stream, err)
	}
	return info.State.Msgs
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRoundTripEmbedded(t *testing.T) {
	set := metrics.NewSet()
	cfg := testConfig(t)
	ctx := context.Background()
	b, err := Open(ctx, cfg, testLogger(t), WithMetrics(set))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Healthy(ctx); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	if b.ClientURL() != "" {
		t.Errorf("embedded server without listen has client URL %q", b.ClientURL())
	}
	roundTrip(t, b)
	var sb strings.Builder
	set.WritePrometheus(&sb)
	for _, want := range []string{"vigil_bus_published_batches_total 1", "vigil_bus_published_samples_total 630"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, sb.String())
		}
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Healthy(ctx); err == nil {
		t.Error("Healthy after Close: nil error")
	}
}

// TestReopenEmbedded checks that streams survive a restart on the same
// directory and that Open updates existing streams.
func TestReopenEmbedded(t *testing.T) {
	cfg := testConfig(t)
	b := openTestBus(t, cfg)
	ctx := context.Background()
	if err := b.Publish(ctx, makeBatch(2, batchSpec{resources: 1, meters: 1, points: 3})); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.DuplicateWindow = time.Minute
	b2 := openTestBus(t, cfg)
	if n := streamMsgs(t, b2, b2.SamplesStream()); n != 1 {
		t.Errorf("after restart the stream holds %d messages, want 1", n)
	}
	s, err := b2.JetStream().Stream(ctx, b2.SamplesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(ctx)
	if info.Config.Duplicates != time.Minute || info.Config.Retention != jetstream.WorkQueuePolicy ||
		info.Config.Compression != jetstream.NoCompression {
		t.Errorf("stream config not updated: %+v", info.Config)
	}
}

func TestEmbeddedListen(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen = "127.0.0.1:0"
	b := openTestBus(t, cfg)
	u := b.ClientURL()
	if u == "" {
		t.Fatal("no client URL with listen set")
	}
	host := strings.TrimPrefix(u, "nats://")
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		t.Fatalf("embedded server does not accept TCP on %s: %v", host, err)
	}
	c.Close()
}

func TestPublishWaitsForAck(t *testing.T) {
	b := openTestBus(t, testConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	batch := makeBatch(3, batchSpec{resources: 20, meters: 2, points: 2})
	sp := newSplitter(b.cfg.Partitions)
	nparts, err := sp.split(batch, b.cfg.Partitions)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// No wait: a nil return means stored.
	if n := streamMsgs(t, b, b.SamplesStream()); n != uint64(nparts) {
		t.Errorf("right after Publish the stream holds %d messages, want %d", n, nparts)
	}

	// The same message id stores nothing twice.
	opts := PublishOptions{MsgID: "batch-1"}
	for range 2 {
		if err := b.PublishWith(ctx, batch, opts); err != nil {
			t.Fatal(err)
		}
	}
	if n := streamMsgs(t, b, b.SamplesStream()); n != uint64(2*nparts) {
		t.Errorf("after a duplicate publish the stream holds %d messages, want %d", n, 2*nparts)
	}

	// Without a stream nothing acknowledges: Publish must fail, not
	// return nil.
	if err := b.JetStream().DeleteStream(ctx, b.SamplesStream()); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	if err := b.Publish(short, batch); err == nil {
		t.Fatal("Publish without a stream returned nil")
	}
}

func TestPublishRejectsBadBatches(t *testing.T) {
	b := openTestBus(t, testConfig(t))
	ctx := context.Background()
	ri := uint32(0)
	tooBig := makeBatch(4, batchSpec{resources: 1, meters: 1, points: 1})
	tooBig.Series[0].Timestamps = make([]int64, wire.MaxBatchBytes/8)
	tooBig.Series[0].Values = make([]float64, wire.MaxBatchBytes/8)
	for _, tc := range []struct {
		name  string
		batch *wire.Batch
		want  error
	}{
		{"bad version", &wire.Batch{Version: 99}, nil},
		{"dangling resource", &wire.Batch{Version: wire.Version, Series: []*wire.Series{{Resource: &ri, Name: "x"}}}, nil},
		{"slash in resource id", &wire.Batch{Version: wire.Version,
			Resources: []*wire.Resource{{Id: "a/b"}},
			Series:    []*wire.Series{{Resource: &ri, Name: "x"}}}, nil},
		{"too large", tooBig, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Publish(ctx, tc.batch)
			if err == nil {
				t.Fatal("nil error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	if n := streamMsgs(t, b, b.SamplesStream()); n != 0 {
		t.Errorf("rejected batches stored %d messages", n)
	}
	if err := b.Publish(ctx, &wire.Batch{Version: wire.Version}); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func TestFetchTimeoutIsNotAnError(t *testing.T) {
	b := openTestBus(t, testConfig(t))
	ctx := context.Background()
	c, err := b.Consumer(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, err := c.Fetch(ctx, 10, 300*time.Millisecond)
	if err != nil || len(msgs) != 0 {
		t.Fatalf("Fetch on an empty partition = %d messages, %v", len(msgs), err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Fetch waited %v for a 300ms wait", d)
	}
	if _, err := b.Consumer(ctx, b.cfg.Partitions); err == nil {
		t.Error("Consumer out of range: nil error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Fetch(cctx, 10, time.Second); err == nil {
		t.Error("Fetch with a cancelled context: nil error")
	}
}

func TestDeadLetter(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxDeliver = 2
	b := openTestBus(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	batch := makeBatch(5, batchSpec{resources: 1, meters: 1, points: 2})
	key, err := PartitionKey(batch, batch.Series[0])
	if err != nil {
		t.Fatal(err)
	}
	p := b.Partition(key)
	c, err := b.Consumer(ctx, p)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("explicit", func(t *testing.T) {
		if err := b.PublishWith(ctx, batch, PublishOptions{MsgID: "dl-explicit"}); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(ctx, 1, time.Second)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("Fetch = %d messages, %v", len(msgs), err)
		}
		if err := b.DeadLetter(ctx, msgs[0], errors.New("cannot store:\r\nbad batch")); err != nil {
			t.Fatal(err)
		}
		dl := lastDeadLetter(t, b)
		want := map[string]string{
			HeaderDeadReason:     "cannot store:  bad batch",
			HeaderDeadSubject:    b.Subject(p),
			HeaderDeadStream:     b.SamplesStream(),
			HeaderDeadDeliveries: "1",
			HeaderDeadMsgID:      fmt.Sprintf("dl-explicit:%d", p),
		}
		for h, v := range want {
			if got := dl.Header.Get(h); got != v {
				t.Errorf("header %s = %q, want %q", h, got, v)
			}
		}
		var got wire.Batch
		if err := wire.Unmarshal(dl.Data, &got); err != nil {
			t.Fatalf("dead letter data: %v", err)
		}
		if !maps.Equal(points(&got), points(batch)) {
			t.Error("dead letter data differs from the message")
		}
		waitFor(t, 5*time.Second, "dead-lettered message gone from samples", func() bool {
			return streamMsgs(t, b, b.SamplesStream()) == 0
		})
	})

	t.Run("max deliver", func(t *testing.T) {
		if err := b.Publish(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for i := range cfg.MaxDeliver {
			msgs, err := c.Fetch(ctx, 1, 2*time.Second)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("delivery %d: Fetch = %d messages, %v", i+1, len(msgs), err)
			}
			if err := msgs[0].Nak(); err != nil {
				t.Fatal(err)
			}
		}
		msgs, err := c.Fetch(ctx, 10, 500*time.Millisecond)
		if err != nil || len(msgs) != 0 {
			t.Fatalf("delivery %d: Fetch = %d messages, %v; want none", cfg.MaxDeliver+1, len(msgs), err)
		}
		if n := streamMsgs(t, b, b.DeadLetterStream()); n != 2 {
			t.Fatalf("dead-letter stream holds %d messages, want 2", n)
		}
		dl := lastDeadLetter(t, b)
		if r := dl.Header.Get(HeaderDeadReason); !strings.Contains(r, ErrTooManyDeliveries.Error()) {
			t.Errorf("reason %q", r)
		}
		if d := dl.Header.Get(HeaderDeadDeliveries); d != fmt.Sprint(cfg.MaxDeliver+1) {
			t.Errorf("deliveries %q", d)
		}
		waitFor(t, 5*time.Second, "message gone from samples", func() bool {
			return streamMsgs(t, b, b.SamplesStream()) == 0
		})
	})
}

func lastDeadLetter(t *testing.T, b *Bus) *jetstream.RawStreamMsg {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), b.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), b.cfg.Prefix+".deadletter.samples")
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	return m
}

func TestHeaderSafe(t *testing.T) {
	long := strings.Repeat("é", maxReasonLen)
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\nb\rc\x00d", "a b c d"},
		{long, long[:maxReasonLen] + "…"},
	} {
		if got := headerSafe(tc.in); got != tc.want {
			t.Errorf("headerSafe(%.20q) = %.20q, want %.20q", tc.in, got, tc.want)
		}
	}
}

// TestRoundTripExternal runs the round trip against the machine's NATS
// server, in streams of its own that it deletes at the end.
func TestRoundTripExternal(t *testing.T) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", 2*time.Second)
	if err != nil {
		t.Fatalf("NATS is not reachable at %s (%v); start NATS with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log", externalURL, err)
	}
	c.Close()
	cfg := testConfig(t)
	cfg.URL = externalURL
	cfg.DataDir = ""
	run := fmt.Sprintf("T%d", time.Now().UnixNano())
	cfg.Prefix = "vigiltest." + run
	cfg.StreamPrefix = "VIGILTEST_" + run
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Open against %s: %v", externalURL, err)
	}
	defer b.Close()
	defer func() {
		js := b.JetStream()
		for _, s := range []string{b.SamplesStream(), b.DeadLetterStream()} {
			if err := js.DeleteStream(ctx, s); err != nil {
				t.Errorf("cannot delete stream %s: %v", s, err)
			}
		}
		if err := js.DeleteKeyValue(ctx, b.leaseBucket); err != nil {
			t.Errorf("cannot delete bucket %s: %v", b.leaseBucket, err)
		}
	}()
	if err := b.Healthy(ctx); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	roundTrip(t, b)
}

// TestWaitFetch: an idle partition's long wait returns a message as soon as
// it arrives, returns none without error when the wait passes, and ends
// at once when its context is cancelled.
func TestWaitFetch(t *testing.T) {
	b := openTestBus(t, testConfig(t))
	ctx := context.Background()

	c, err := b.Consumer(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	msgs, err := c.WaitFetch(ctx, 10, 100*time.Millisecond, 300*time.Millisecond)
	if d := time.Since(start); err != nil || len(msgs) != 0 || d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("WaitFetch on an empty partition = %d messages, %v after %v; want none, no error, after 300ms", len(msgs), err, d)
	}

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		msgs int
		err  error
		took time.Duration
	}
	results := make(chan result, b.cfg.Partitions)
	for p := range b.cfg.Partitions {
		c, err := b.Consumer(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			start := time.Now()
			msgs, err := c.WaitFetch(wctx, 100, 100*time.Millisecond, time.Minute)
			for _, m := range msgs {
				_ = m.Ack()
			}
			results <- result{len(msgs), err, time.Since(start)}
		}()
	}
	time.Sleep(300 * time.Millisecond) // the waits are open
	batch := makeBatch(7, batchSpec{resources: 40, meters: 1, points: 1})
	if err := b.Publish(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// The partitions that got a message return long before the minute.
	var got, returned, withMsgs int
	deadline := time.After(3 * time.Second)
	for got == 0 || returned < b.cfg.Partitions {
		select {
		case r := <-results:
			returned++
			if r.err != nil || r.msgs == 0 {
				t.Errorf("a partition's wait ended after %v with %d messages, %v, before it was cancelled", r.took, r.msgs, r.err)
			}
			got += r.msgs
			withMsgs++
			continue
		case <-deadline:
		}
		break
	}
	if got == 0 {
		t.Fatal("no wait returned the published messages within 3 s")
	}
	// The others end when cancelled.
	cancel()
	cancelled := time.Now()
	for ; returned < b.cfg.Partitions; returned++ {
		select {
		case r := <-results:
			if r.msgs != 0 {
				t.Errorf("a wait returned %d messages only when cancelled, %v after the publish", r.msgs, r.took)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d waits still open 5 s after their context was cancelled", b.cfg.Partitions-returned)
		}
	}
	if d := time.Since(cancelled); d > 2*time.Second {
		t.Errorf("cancelled waits took %v to return", d)
	}
	// Forty resources spread over the partitions, one message each.
	if got < 2 || got != withMsgs {
		t.Errorf("%d waits returned %d messages, want one message each in several partitions", withMsgs, got)
	}
}
