package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchNotifications makes n oslo 2.0 envelopes of a fixed-seed mix of the
// notifications a cloud sends most: instance exists (4 samples, an
// event), instance update (an event only), volume exists, image upload and
// port create, over 1000 instances and 300 volumes.
func benchNotifications(t testing.TB, n int) [][]byte {
	rng := rand.New(rand.NewPCG(3, 5))
	load := func(name string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(fixture(t, name), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	inst, vol, img, port := load("instance_exists"), load("volume_create_end"), load("image_upload"), load("port_create_end")
	out := make([][]byte, n)
	base := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i := range out {
		var m map[string]any
		payload := map[string]any{}
		pick := rng.IntN(10)
		switch {
		case pick < 4 || pick >= 8:
			m = inst
			for k, v := range inst["payload"].(map[string]any) {
				payload[k] = v
			}
			payload["instance_id"] = fmt.Sprintf("9f9d01b9-4a58-4271-9e27-%012d", rng.IntN(1000))
			m["event_type"] = "compute.instance.exists"
			if pick >= 8 {
				m["event_type"] = "compute.instance.update"
			}
		case pick < 6:
			m = vol
			for k, v := range vol["payload"].(map[string]any) {
				payload[k] = v
			}
			payload["volume_id"] = fmt.Sprintf("cccccccc-cccc-cccc-cccc-%012d", rng.IntN(300))
			m["event_type"] = "volume.exists"
		case pick < 7:
			m = img
			for k, v := range img["payload"].(map[string]any) {
				payload[k] = v
			}
		default:
			m = port
			payload = port["payload"].(map[string]any)
		}
		m["payload"] = payload
		m["message_id"] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		m["timestamp"] = base.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02 15:04:05.000000")
		inner, _ := json.Marshal(m)
		out[i], _ = json.Marshal(map[string]string{"oslo.version": "2.0", "oslo.message": string(inner)})
	}
	return out
}

// BenchmarkAMQPToBus measures RabbitMQ → notification agent → samples (and
// events) durable in an embedded bus: the queue is filled first, then the
// clock runs from the listener's start until every notification is
// acknowledged. It reports notifications/s and samples/s.
func BenchmarkAMQPToBus(b *testing.B) {
	for _, events := range []bool{true, false} {
		name := "meters+events"
		if !events {
			name = "meters_only"
		}
		b.Run(name, func(b *testing.B) {
			conn := needRabbit(b)
			names := newRabbitNames(b, conn, "nova")
			st := newStack(b, EventOptions{})
			pub := st.pub
			if !events {
				pub = NewBusPublisher(st.pl, nil)
			}
			cfg := names.config()
			cfg.Priorities = []string{"info"}
			cfg.BatchTimeout = 10 * time.Millisecond
			notifs := benchNotifications(b, b.N)

			ch, err := conn.Channel()
			if err != nil {
				b.Fatal(err)
			}
			defer ch.Close()
			if err := ch.ExchangeDeclare(names.exchanges[0], "topic", false, false, false, false, nil); err != nil {
				b.Fatal(err)
			}
			q := names.topic + ".info"
			if _, err := ch.QueueDeclare(q, false, false, false, false, nil); err != nil {
				b.Fatal(err)
			}
			if err := ch.QueueBind(q, q, names.exchanges[0], false, nil); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for _, body := range notifs {
				if err := ch.PublishWithContext(ctx, names.exchanges[0], q, false, false, amqp.Publishing{ContentType: "application/json", Body: body}); err != nil {
					b.Fatal(err)
				}
			}
			waitFor(b, "the queue to fill", 5*time.Minute, func() bool {
				qi, err := ch.QueueDeclarePassive(q, false, false, false, false, nil)
				return err == nil && qi.Messages >= b.N
			})

			l, err := NewAMQPListener(cfg, st.proc, pub, st.set, testLogger())
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			start := time.Now()
			runListener(b, l.Run)
			waitFor(b, "every notification acknowledged", 10*time.Minute, func() bool {
				return counterOf(st.set, `vigil_notify_acked_total{transport="amqp"}`) >= uint64(b.N)
			})
			el := time.Since(start)
			cpu := processCPU() - cpu0
			b.StopTimer()
			samples := counterOf(st.set, `vigil_notify_samples_total`)
			b.ReportMetric(float64(b.N)/el.Seconds(), "notifications/s")
			b.ReportMetric(float64(samples)/el.Seconds(), "samples/s")
			// CPU of this process (listener, pipeline and embedded NATS
			// server) per notification: steadier than rates on a shared
			// machine, and 1e6 over it is what one core sustains.
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/notification")
			b.ReportMetric(0, "ns/op")
		})
	}
}
