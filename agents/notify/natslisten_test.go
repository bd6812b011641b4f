package notify

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

func natsTestConfig() NATSConfig {
	cfg := DefaultNATSConfig()
	cfg.FetchWait = 50 * time.Millisecond
	cfg.RetryBackoff, cfg.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	return cfg
}

func publishJS(t *testing.T, js jetstream.JetStream, subject string, body []byte) {
	t.Helper()
	if _, err := js.Publish(context.Background(), subject, body); err != nil {
		t.Fatal(err)
	}
}

// deadNotifications reads the dead letters of notifications.
func deadNotifications(t *testing.T, b *bus.Bus) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	stream, err := b.JetStream().Stream(ctx, b.DeadLetterStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		if m, err := stream.GetMsg(ctx, seq); err == nil && m.Subject == "vigil.deadletter.notifications" {
			out = append(out, m)
		}
	}
	return out
}

func TestNATSListener(t *testing.T) {
	st := newStack(t, EventOptions{})
	l, err := NewNATSListener(st.bus, natsTestConfig(), st.proc, st.pub, st.set, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	// A producer may publish before the agent runs: the stream keeps it.
	if _, err := l.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	js := st.bus.JetStream()
	publishJS(t, js, "vigil.notifications.nova.info", envelope(t, fixture(t, "instance_create_end")))
	publishJS(t, js, "vigil.notifications.containers", []byte(`{"event_type": "volume.exists", "timestamp": "2026-11-22T02:30:00Z",
		"message_id": "k8s-1", "publisher_id": "csi.node-1", "payload": {"volume_id": "pvc-1", "size": 20, "tenant_id": "ns-a"}}`))
	publishJS(t, js, "vigil.notifications.bad", []byte(`{"oslo.version": "2.0", "oslo.message": "not json"}`))
	runListener(t, l.Run)

	waitFor(t, "2 notifications acknowledged", 20*time.Second, func() bool {
		return counterOf(st.set, `vigil_notify_acked_total{transport="nats"}`) >= 2
	})
	got := map[string]float64{}
	for _, p := range st.storedSamples(t) {
		got[p.resource+"/"+p.name] = p.v
	}
	if got["pvc-1/volume.size"] != 20 || got["9f9d01b9-4a58-4271-9e27-398b21ab20d1/memory"] != 512 || len(got) != 6 {
		t.Errorf("stored %v", got)
	}
	waitFor(t, "a dead letter", 10*time.Second, func() bool { return len(deadNotifications(t, st.bus)) == 1 })
	dl := deadNotifications(t, st.bus)[0]
	if !strings.Contains(dl.Header.Get(bus.HeaderDeadReason), "malformed notification") || dl.Header.Get(bus.HeaderDeadSubject) != "vigil.notifications.bad" {
		t.Errorf("dead letter headers %v", dl.Header)
	}
	if n := counterOf(st.set, `vigil_notify_deadlettered_total{transport="nats",reason="malformed"}`); n != 1 {
		t.Errorf("dead-lettered %d", n)
	}
	info, err := js.Stream(context.Background(), l.Stream())
	if err != nil {
		t.Fatal(err)
	}
	if si, _ := info.Info(context.Background()); si.State.Msgs != 0 {
		t.Errorf("the work queue still holds %d messages", si.State.Msgs)
	}
}

// TestNATSListenerRetriesThenDeadLetters: a failing Publisher gets
// MaxAttempts tries per delivery; the message is dead-lettered with the
// reason, nothing is left in the work queue.
func TestNATSListenerRetriesThenDeadLetters(t *testing.T) {
	st := newStack(t, EventOptions{})
	var calls atomic.Int32
	pub := PublisherFunc(func(context.Context, *Output) error {
		calls.Add(1)
		return errors.New("store unavailable")
	})
	cfg := natsTestConfig()
	cfg.MaxAttempts = 2
	l, err := NewNATSListener(st.bus, cfg, st.proc, pub, st.set, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l.Run)
	waitFor(t, "the stream", 10*time.Second, func() bool {
		_, err := st.bus.JetStream().Stream(context.Background(), l.Stream())
		return err == nil
	})
	msg := nats.NewMsg("vigil.notifications.x")
	msg.Data = envelope(t, fixture(t, "image_upload"))
	if _, err := st.bus.JetStream().PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a dead letter", 10*time.Second, func() bool { return len(deadNotifications(t, st.bus)) == 1 })
	dl := deadNotifications(t, st.bus)[0]
	if r := dl.Header.Get(bus.HeaderDeadReason); !strings.Contains(r, "publish failed 2 times: store unavailable") {
		t.Errorf("reason %q", r)
	}
	if c := calls.Load(); c != 2 {
		t.Errorf("%d attempts", c)
	}
}

func TestNATSConfigValidate(t *testing.T) {
	cfg := DefaultNATSConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Workers, cfg.AckWait, cfg.Durable = 0, 0, ""
	err := cfg.Validate()
	for _, want := range []string{"workers:", "ack_wait:", "durable:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %s in %v", want, err)
		}
	}
}

func TestEventSubject(t *testing.T) {
	for in, want := range map[string]string{
		"compute.instance.create.end": "vigil.events.compute.instance.create.end",
		"a..b":                        "vigil.events.a._.b",
		"x*.>":                        "vigil.events.x_._",
		"with space.":                 "vigil.events.with_space._",
		".lead":                       "vigil.events._.lead",
	} {
		if got := EventSubject("vigil", in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
