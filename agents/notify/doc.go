// Package notify is the notification agent: it consumes OpenStack's
// oslo.messaging notifications from RabbitMQ (AMQPListener) and the same
// notifications as JSON from NATS (NATSListener), turns them into samples
// with Ceilometer's meters.yaml definitions (MeterDefinitions) and into
// events with its event_definitions.yaml (EventDefinitions), and hands
// each batch to a Publisher: by default the samples through the
// pipeline.yaml pipeline (pipeline/sink) to the sample bus, and the events
// to <prefix>.events.<event_type>. A notification is acknowledged only once
// what it produced is durable. NOTIFICATIONS.md beside this file describes
// the envelopes, the AMQP topology, the subjects, streams and headers, and
// the delivery guarantees.
//
// The Event type lives here until the pipeline package holds the event
// model beside the sample.
package notify
