package notify

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestAMQPEndToEnd publishes real-shaped notifications to RabbitMQ as the
// services do and finds their samples in the bus's samples stream and
// their events in the events stream.
func TestAMQPEndToEnd(t *testing.T) {
	conn := needRabbit(t)
	names := newRabbitNames(t, conn, "nova", "cinder", "glance", "neutron")
	st := newStack(t, EventOptions{})
	l, err := NewAMQPListener(names.config(), st.proc, st.pub, st.set, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l.Run)
	names.waitConsumers(t, conn, "info", "error")

	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	nova, cinder, glance, neutron := names.exchanges[0], names.exchanges[1], names.exchanges[2], names.exchanges[3]
	sent := []struct {
		exchange, fixture string
		bare              bool
	}{
		{nova, "instance_create_end", false},
		{nova, "instance_exists", false},
		{nova, "instance_delete_end", true}, // the 1.0 form
		{cinder, "volume_create_end", false},
		{cinder, "volume_resize_end", false},
		{glance, "image_upload", false},
		{neutron, "port_create_end", false},
	}
	for _, s := range sent {
		body := fixture(t, s.fixture)
		if !s.bare {
			body = envelope(t, body)
		}
		names.publish(t, ch, s.exchange, "info", body)
	}
	waitFor(t, "7 notifications acknowledged", 20*time.Second, func() bool {
		return counterOf(st.set, `vigil_notify_acked_total{transport="amqp"}`) >= 7
	})

	got := map[string][]point{}
	for _, p := range st.storedSamples(t) {
		got[p.name] = append(got[p.name], p)
	}
	const inst = "9f9d01b9-4a58-4271-9e27-398b21ab20d1"
	for name, want := range map[string]int{"memory": 3, "vcpus": 3, "disk.root.size": 3, "disk.ephemeral.size": 3, "compute.instance.booting.time": 1, "volume.size": 2, "image.size": 1} {
		if len(got[name]) != want {
			t.Errorf("%s: %d samples stored, want %d", name, len(got[name]), want)
		}
	}
	if len(got) != 7 {
		t.Errorf("stored meters %v", got)
	}
	for _, p := range got["memory"] {
		if p.resource != inst || p.v != 512 {
			t.Errorf("memory %+v", p)
		}
	}
	if bt := got["compute.instance.booting.time"]; len(bt) == 1 && math.Abs(bt[0].v-6.985999) > 1e-9 {
		t.Errorf("booting time %+v", bt)
	}
	vols := map[float64]bool{}
	for _, p := range got["volume.size"] {
		vols[p.v] = true
	}
	if !vols[1] || !vols[5] {
		t.Errorf("volume.size %v", got["volume.size"])
	}

	events := st.storedEvents(t)
	for _, et := range []string{"compute.instance.create.end", "compute.instance.exists", "compute.instance.delete.end", "volume.create.end", "volume.resize.end", "image.upload", "port.create.end"} {
		evs := events["vigil.events."+et]
		if len(evs) != 1 {
			t.Errorf("%s: %d events", et, len(evs))
			continue
		}
		if evs[0]["event_type"] != et || len(evs[0]["traits"].([]any)) == 0 {
			t.Errorf("%s: %v", et, evs[0])
		}
	}
	if n := counterOf(st.set, `vigil_notify_samples_total`); n != 16 {
		t.Errorf("vigil_notify_samples_total = %d, want 16", n)
	}
}

// TestAMQPRedeliveryAfterKill cuts the connection after the Publisher has
// made a notification's output durable but before the ack: the broker
// redelivers it, the Publisher sees its message id twice, and the bus
// stores its samples and event once.
func TestAMQPRedeliveryAfterKill(t *testing.T) {
	conn := needRabbit(t)
	names := newRabbitNames(t, conn, "nova")
	st := newStack(t, EventOptions{})
	var l *AMQPListener
	var mu sync.Mutex
	seen := map[string]int{}
	killed := false
	pub := PublisherFunc(func(ctx context.Context, out *Output) error {
		if err := st.pub.Publish(ctx, out); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, id := range out.MessageIDs {
			seen[id]++
		}
		if !killed {
			killed = true
			l.closeConnections() // the listener dies between consume and ack
		}
		return nil
	})
	var err error
	if l, err = NewAMQPListener(names.config(), st.proc, pub, st.set, testLogger()); err != nil {
		t.Fatal(err)
	}
	runListener(t, l.Run)
	names.waitConsumers(t, conn, "info")
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	names.publish(t, ch, names.exchanges[0], "info", envelope(t, fixture(t, "instance_create_end")))

	const id = "dae6f69c-00e0-41c0-b371-41ec3b7f4451"
	waitFor(t, "the redelivery to be acknowledged", 20*time.Second, func() bool {
		return counterOf(st.set, `vigil_notify_acked_total{transport="amqp"}`) >= 1
	})
	mu.Lock()
	if seen[id] != 2 {
		t.Errorf("the Publisher saw %s %d times, want 2", id, seen[id])
	}
	mu.Unlock()
	if n := counterOf(st.set, `vigil_notify_redelivered_total{transport="amqp"}`); n != 1 {
		t.Errorf("redelivered %d, want 1", n)
	}
	if n := counterOf(st.set, `vigil_notify_ack_errors_total{transport="amqp"}`); n != 1 {
		t.Errorf("ack errors %d, want 1", n)
	}
	if n := counterOf(st.set, `vigil_notify_reconnects_total{transport="amqp"}`); n < 1 {
		t.Errorf("reconnects %d", n)
	}
	stored := st.storedSamples(t)
	unique := map[point]bool{}
	for _, p := range stored {
		unique[p] = true
	}
	if len(unique) != 5 || len(stored) != 5 {
		t.Errorf("stream holds %d points, %d distinct; want the 5 samples once", len(stored), len(unique))
	}
	if evs := st.storedEvents(t)["vigil.events.compute.instance.create.end"]; len(evs) != 1 {
		t.Errorf("%d events stored, want 1", len(evs))
	}
}

// deadLetters reads what the test's dead-letter queue holds.
func deadLetters(t *testing.T, conn *amqp.Connection, names *rabbitNames, want int) []amqp.Delivery {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var out []amqp.Delivery
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < want && time.Now().Before(deadline) {
		d, ok, err := ch.Get(names.dlq, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		out = append(out, d)
	}
	return out
}

// TestAMQPBadInput sends what the listener must not choke on: malformed
// envelopes (dead-lettered with the reason), an unknown event type
// (ignored, counted) and a payload missing what a meter needs (that meter
// skipped, counted; the others kept).
func TestAMQPBadInput(t *testing.T) {
	conn := needRabbit(t)
	names := newRabbitNames(t, conn, "nova")
	st := newStack(t, EventOptions{DropUnmatched: true})
	l, err := NewAMQPListener(names.config(), st.proc, st.pub, st.set, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l.Run)
	names.waitConsumers(t, conn, "info", "error")
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	nova := names.exchanges[0]
	bad := map[string]string{
		"not json":        `{"oslo.version": "2.0", "oslo.message": `,
		"inner not json":  `{"oslo.version": "2.0", "oslo.message": "{\"event_type\": "}`,
		"unknown version": `{"oslo.version": "3.0", "oslo.message": "{}"}`,
		"no event type":   `{"oslo.version": "2.0", "oslo.message": "{\"timestamp\": \"2026-11-22 02:30:00\"}"}`,
	}
	for _, body := range bad {
		names.publish(t, ch, nova, "error", []byte(body))
	}
	names.publish(t, ch, nova, "info", envelope(t, withEventType(t, fixture(t, "instance_create_end"), "nobody.knows.this", "id-unknown")))
	missing := []byte(`{"event_type": "compute.instance.exists", "timestamp": "2026-11-22 02:30:00.000000", "message_id": "id-missing",
		"publisher_id": "compute.h", "payload": {"instance_id": "i-9", "vcpus": 2, "root_gb": 10, "ephemeral_gb": 0, "tenant_id": "p"}}`)
	names.publish(t, ch, nova, "info", envelope(t, missing))

	dead := deadLetters(t, conn, names, len(bad))
	if len(dead) != len(bad) {
		t.Fatalf("%d dead letters, want %d", len(dead), len(bad))
	}
	for _, d := range dead {
		reason, _ := d.Headers[HeaderAMQPDeadReason].(string)
		if !strings.Contains(reason, "malformed notification") || d.Headers[HeaderAMQPDeadExchange] != nova ||
			d.Headers[HeaderAMQPDeadRoutingKey] != names.topic+".error" {
			t.Errorf("dead letter %q headers %v", d.Body, d.Headers)
		}
	}
	waitFor(t, "all acknowledged", 20*time.Second, func() bool {
		return counterOf(st.set, `vigil_notify_acked_total{transport="amqp"}`) >= uint64(len(bad)+2)
	})
	if n := counterOf(st.set, `vigil_notify_deadlettered_total{transport="amqp",reason="malformed"}`); n != uint64(len(bad)) {
		t.Errorf("dead-lettered %d, want %d", n, len(bad))
	}
	if n := counterOf(st.set, `vigil_notify_ignored_total`); n != 1 {
		t.Errorf("ignored %d, want 1 (the unknown event type)", n)
	}
	if n := counterOf(st.set, `vigil_notify_meters_skipped_total{meter="memory",reason="no_volume"}`); n != 1 {
		t.Errorf("memory skipped %d times, want 1", n)
	}
	got := map[string]bool{}
	for _, p := range st.storedSamples(t) {
		got[p.name] = true
	}
	if len(got) != 3 || !got["vcpus"] || got["memory"] {
		t.Errorf("stored %v: want vcpus, disk.root.size and disk.ephemeral.size", got)
	}
}

// TestAMQPPublishFailures: a Publisher that keeps failing gets
// MaxAttempts tries, then the notification is dead-lettered with the last
// error and acknowledged.
func TestAMQPPublishFailures(t *testing.T) {
	conn := needRabbit(t)
	names := newRabbitNames(t, conn, "nova")
	st := newStack(t, EventOptions{})
	var calls atomic.Int32
	pub := PublisherFunc(func(ctx context.Context, out *Output) error {
		calls.Add(1)
		return errors.New("the bus is on fire")
	})
	cfg := names.config()
	cfg.MaxAttempts = 3
	l, err := NewAMQPListener(cfg, st.proc, pub, st.set, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	runListener(t, l.Run)
	names.waitConsumers(t, conn, "info")
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	names.publish(t, ch, names.exchanges[0], "info", envelope(t, fixture(t, "volume_create_end")))
	dead := deadLetters(t, conn, names, 1)
	if len(dead) != 1 {
		t.Fatal("no dead letter")
	}
	reason, _ := dead[0].Headers[HeaderAMQPDeadReason].(string)
	if !strings.Contains(reason, "publish failed 3 times: the bus is on fire") || dead[0].Headers[HeaderAMQPDeadAttempts] != int32(3) {
		t.Errorf("headers %v", dead[0].Headers)
	}
	if c := calls.Load(); c != 3 {
		t.Errorf("%d publish attempts, want 3", c)
	}
	waitFor(t, "the ack", 10*time.Second, func() bool {
		return counterOf(st.set, `vigil_notify_acked_total{transport="amqp"}`) == 1
	})
}

func TestAMQPConfigValidate(t *testing.T) {
	cfg := DefaultAMQPConfig()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "url:") {
		t.Errorf("empty URL: %v", err)
	}
	cfg.URL = "amqp://u:secret@h:5672/"
	cfg.Consumers, cfg.BatchSize, cfg.Exchanges = 0, 0, nil
	err := cfg.Validate()
	for _, want := range []string{"consumers:", "batch_size:", "exchanges:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %s in %v", want, err)
		}
	}
	cfg = DefaultAMQPConfig()
	cfg.URL = "http://u:secret@h/"
	if err := cfg.Validate(); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("%v", err)
	}
	l, _ := NewAMQPListener(AMQPConfig{URL: "amqp://h/", Exchanges: []string{"nova", "glance"}, Topics: []string{"notifications"}, Priorities: []string{"info", "sample"},
		Connections: 1, Consumers: 1, Prefetch: 1, BatchSize: 1, MaxAttempts: 1, MaxMessageBytes: 1024, RetryBackoff: 1, RetryBackoffMax: 1, PublishTimeout: 1,
		ReconnectMin: 1, ReconnectMax: 1, Heartbeat: 1, DeadLetterExchange: "d", DeadLetterQueue: "d"}, nil, nil, nil, nil)
	q := l.Queues()
	if len(q) != 2 || len(q["notifications.info"]) != 2 || q["notifications.sample"][1] != [2]string{"glance", "notifications.sample"} {
		t.Errorf("queues %v", q)
	}
}
