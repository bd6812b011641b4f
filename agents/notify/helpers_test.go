package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
)

const rabbitURL = "amqp://guest:guest@127.0.0.1:5672/"

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// needRabbit connects to the machine's RabbitMQ or fails the test saying
// how to start it.
func needRabbit(t testing.TB) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(rabbitURL)
	if err != nil {
		t.Fatalf("RabbitMQ does not answer on 127.0.0.1:5672 as guest/guest (%v): start it with `rabbitmq-server -detached`", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rabbitNames are a test's own exchanges and queues, deleted at the end.
type rabbitNames struct {
	prefix    string
	exchanges []string
	topic     string
	dlx, dlq  string
}

func newRabbitNames(t testing.TB, conn *amqp.Connection, services ...string) *rabbitNames {
	t.Helper()
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	n := &rabbitNames{prefix: fmt.Sprintf("vigiltest-%s-%d", name, time.Now().UnixNano())}
	for _, s := range services {
		n.exchanges = append(n.exchanges, n.prefix+"."+s)
	}
	n.topic = n.prefix + ".notifications"
	n.dlx, n.dlq = n.prefix+".dlx", n.prefix+".dlq"
	t.Cleanup(func() {
		ch, err := conn.Channel()
		if err != nil {
			return
		}
		defer ch.Close()
		for _, p := range []string{"audit", "critical", "debug", "error", "info", "sample", "warn"} {
			ch.QueueDelete(n.topic+"."+p, false, false, false)
		}
		ch.QueueDelete(n.dlq, false, false, false)
		for _, e := range append(n.exchanges, n.dlx) {
			ch.ExchangeDelete(e, false, false)
		}
	})
	return n
}

func (n *rabbitNames) config() AMQPConfig {
	cfg := DefaultAMQPConfig()
	cfg.URL = rabbitURL
	cfg.Exchanges = n.exchanges
	cfg.Topics = []string{n.topic}
	cfg.Priorities = []string{"info", "error"}
	cfg.DeadLetterExchange, cfg.DeadLetterQueue = n.dlx, n.dlq
	cfg.Durable = false // test queues need not survive the broker
	cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, time.Second
	cfg.RetryBackoff, cfg.RetryBackoffMax = 10*time.Millisecond, 50*time.Millisecond
	cfg.BatchTimeout = 5 * time.Millisecond
	return cfg
}

// waitConsumers waits until every listened queue has a consumer.
func (n *rabbitNames) waitConsumers(t testing.TB, conn *amqp.Connection, prios ...string) {
	t.Helper()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range prios {
		for {
			q, err := ch.QueueDeclarePassive(n.topic+"."+p, false, false, false, false, nil)
			if err == nil && q.Consumers > 0 {
				break
			}
			if err != nil {
				if ch, err = conn.Channel(); err != nil {
					t.Fatal(err)
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no consumer on %s.%s after 20s", n.topic, p)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// publish sends body as a service would: to its exchange with routing key
// <topic>.<priority>, persistent, application/json.
func (n *rabbitNames) publish(t testing.TB, ch *amqp.Channel, exchange, priority string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := ch.PublishWithContext(ctx, exchange, n.topic+"."+priority, true, false, amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent, Body: body,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func openBus(t testing.TB) *bus.Bus {
	t.Helper()
	cfg := bus.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Partitions = 4
	cfg.DrainTimeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, cfg, testLogger())
	if err != nil {
		t.Fatalf("cannot open an embedded bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// stack is what a notification agent runs on: an embedded bus, the default
// pipeline, the event stream and the default definitions.
type stack struct {
	bus    *bus.Bus
	pl     *sink.Pipeline
	events *EventStream
	pub    *BusPublisher
	proc   *Processor
	set    *metrics.Set
}

func newStack(t testing.TB, evOpts EventOptions) *stack {
	t.Helper()
	b := openBus(t)
	set := metrics.NewSet()
	pl, err := sink.Load([]byte(sink.DefaultPipelineYAML), sink.Options{Bus: b, Producer: "notify-test", Creator: "svc:svc", Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	es, err := OpenEventStream(context.Background(), b, EventStreamConfig{})
	if err != nil {
		t.Fatal(err)
	}
	meters, err := LoadMeters("")
	if err != nil {
		t.Fatal(err)
	}
	events, err := LoadEvents("", evOpts)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{bus: b, pl: pl, events: es, pub: NewBusPublisher(pl, es), proc: NewProcessor(meters, events, ProcessorConfig{}, set, testLogger()), set: set}
}

// point is a stored sample as the tests compare them.
type point struct {
	resource, name string
	ts             time.Time
	v              float64
}

// storedSamples decodes every wire batch in the samples stream.
func (s *stack) storedSamples(t testing.TB) []point {
	t.Helper()
	ctx := context.Background()
	stream, err := s.bus.JetStream().Stream(ctx, s.bus.SamplesStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []point
	if info.State.Msgs == 0 {
		return nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		var batch wire.Batch
		if err := wire.Unmarshal(msg.Data, &batch); err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		for _, ser := range batch.Series {
			r := batch.Resources[*ser.Resource]
			for i, v := range ser.Values {
				out = append(out, point{r.Id, ser.Name, time.Unix(0, ser.Timestamps[i]).UTC(), v})
			}
		}
	}
	return out
}

// storedEvents returns the events stream's messages by subject.
func (s *stack) storedEvents(t testing.TB) map[string][]map[string]any {
	t.Helper()
	ctx := context.Background()
	stream, err := s.bus.JetStream().Stream(ctx, s.events.Stream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	if info.State.Msgs == 0 {
		return out
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatalf("event %d: %v", seq, err)
		}
		out[msg.Subject] = append(out[msg.Subject], ev)
	}
	return out
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counterOf(set *metrics.Set, name string) uint64 { return set.GetOrCreateCounter(name).Get() }

// runListener runs l until the test ends.
func runListener(t testing.TB, run func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := run(ctx); err != nil {
			t.Errorf("listener: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// withEventType returns a fixture with another event type and message id.
func withEventType(t testing.TB, bare []byte, eventType, id string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bare, &m); err != nil {
		t.Fatal(err)
	}
	m["event_type"], m["message_id"] = eventType, id
	b, _ := json.Marshal(m)
	return b
}
