package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
)

// EventStreamConfig tunes the events stream.
type EventStreamConfig struct {
	// MaxAge is how long the stream keeps events (7 days when zero).
	MaxAge time.Duration
}

// EventStream publishes events as JSON (Event.AppendJSON) on
// <prefix>.events.<event_type>, in the JetStream stream <StreamPrefix>_EVENTS
// (NOTIFICATIONS.md), each with the notification's message id as
// Nats-Msg-Id so that a redelivered notification's event is stored once.
// It is safe for concurrent use.
type EventStream struct {
	js     jetstream.JetStream
	prefix string
	stream string
}

// OpenEventStream creates or updates the events stream on b.
func OpenEventStream(ctx context.Context, b *bus.Bus, cfg EventStreamConfig) (*EventStream, error) {
	bc := b.Config()
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	s := &EventStream{js: b.JetStream(), prefix: bc.Prefix, stream: bc.StreamPrefix + "_EVENTS"}
	sc := jetstream.StreamConfig{
		Name:        s.stream,
		Description: "vigil events made from notifications, for event alarms and the event store",
		Subjects:    []string{bc.Prefix + ".events.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    bc.Replicas,
		Compression: jetstream.S2Compression,
		MaxAge:      cfg.MaxAge,
		Duplicates:  bc.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     -1,
		MaxBytes:    -1,
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.js.CreateOrUpdateStream(cctx, sc); err != nil {
		return nil, fmt.Errorf("cannot create or update stream %s on %s: %w", sc.Name, sc.Subjects[0], err)
	}
	return s, nil
}

// Stream returns the stream's name.
func (s *EventStream) Stream() string { return s.stream }

// EventSubject returns the subject of an event type: prefix.events. and
// the event type with characters a subject token cannot hold (white
// space, '*', '>') and empty tokens replaced by '_'.
func EventSubject(prefix, eventType string) string {
	var b strings.Builder
	b.Grow(len(prefix) + 8 + len(eventType))
	b.WriteString(prefix)
	b.WriteString(".events.")
	tokStart := true
	for i := 0; i < len(eventType); i++ {
		c := eventType[i]
		switch {
		case c == '.':
			if tokStart {
				b.WriteByte('_')
			}
			b.WriteByte('.')
			tokStart = true
			continue
		case c <= ' ' || c == '*' || c == '>' || c == 0x7f:
			c = '_'
		}
		b.WriteByte(c)
		tokStart = false
	}
	if tokStart {
		b.WriteByte('_')
	}
	return b.String()
}

// Publish publishes events and waits until JetStream has stored each. A
// nil error means every event is durable.
func (s *EventStream) Publish(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(events))
	var errs []error
	var buf []byte
	for i := range events {
		e := &events[i]
		data, err := e.AppendJSON(buf[:0:0])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		msg := &nats.Msg{
			Subject: EventSubject(s.prefix, e.EventType),
			Data:    data,
			Header:  nats.Header{jetstream.MsgIDHeader: []string{"ev:" + e.MessageID}},
		}
		f, err := s.js.PublishMsgAsync(msg)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot publish event %s on %s: %w", e.MessageID, msg.Subject, err))
			continue
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("event on %s not acknowledged: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			return fmt.Errorf("cannot publish %d events: %w", len(events), ctx.Err())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot publish %d of %d events: %w", len(errs), len(events), errors.Join(errs...))
	}
	return nil
}
