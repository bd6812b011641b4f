package notify

import (
	"testing"
)

// BenchmarkParseNotification decodes the oslo 2.0 envelope of an instance
// notification of about 1.5 kB.
func BenchmarkParseNotification(b *testing.B) {
	body := envelope(b, fixture(b, "instance_exists"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseNotification(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcessor converts the benchmark mix of notifications into
// samples and events with the default definitions.
func BenchmarkProcessor(b *testing.B) {
	notifs := benchNotifications(b, 1000)
	parsed := make([]*Notification, len(notifs))
	for i, body := range notifs {
		parsed[i] = parse(b, body)
	}
	meters, err := LoadMeters("")
	if err != nil {
		b.Fatal(err)
	}
	events, err := LoadEvents("", EventOptions{})
	if err != nil {
		b.Fatal(err)
	}
	p := NewProcessor(meters, events, ProcessorConfig{}, nil, nil)
	var out Output
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if len(out.MessageIDs) >= 500 {
			out.Reset()
		}
		p.Add(&out, parsed[i%len(parsed)])
		i++
	}
}

// BenchmarkEventJSON encodes an instance event.
func BenchmarkEventJSON(b *testing.B) {
	events, err := LoadEvents("", EventOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ev, _ := events.Event(parse(b, fixture(b, "instance_exists")), nil)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = ev.AppendJSON(buf[:0])
	}
}
