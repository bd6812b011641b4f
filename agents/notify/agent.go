package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
)

// Config is the agents.notify section of vigil's configuration.
type Config struct {
	// AMQP runs the RabbitMQ listener when its URL is set.
	AMQP AMQPConfig `yaml:"amqp"`
	// NATS runs the listener on <prefix>.notifications.> when enabled.
	NATS NATSListenerConfig `yaml:"nats"`
	// MetersFile is a meters.yaml loaded before vigil's defaults (empty:
	// the defaults alone).
	MetersFile string `yaml:"meters_file"`
	// EventsFile is an event_definitions.yaml used instead of vigil's
	// defaults (empty: the defaults).
	EventsFile string `yaml:"events_file"`
	// Events turns event making on; DropUnmatched and StoreRaw are
	// Ceilometer's [event] drop_unmatched_notifications and store_raw.
	Events        bool              `yaml:"events"`
	DropUnmatched bool              `yaml:"drop_unmatched"`
	StoreRaw      []string          `yaml:"store_raw"`
	EventStream   EventStreamConfig `yaml:"event_stream"`
	// Source is the samples' source (Ceilometer's sample_source).
	Source string `yaml:"source"`
}

// NATSListenerConfig is NATSConfig with a switch.
type NATSListenerConfig struct {
	Enabled    bool `yaml:"enabled"`
	NATSConfig `yaml:",inline"`
}

// DefaultConfig returns the defaults: no AMQP URL (so no AMQP listener),
// the NATS listener on, events on, the default definitions.
func DefaultConfig() Config {
	return Config{
		AMQP:   DefaultAMQPConfig(),
		NATS:   NATSListenerConfig{Enabled: true, NATSConfig: DefaultNATSConfig()},
		Events: true,
		Source: "openstack",
	}
}

// Validate reports every problem of c, each naming its key under
// agents.notify.
func (c *Config) Validate() error {
	var errs []error
	if c.AMQP.URL != "" {
		if err := c.AMQP.Validate(); err != nil {
			errs = append(errs, prefixErrors("amqp.", err))
		}
	}
	if c.NATS.Enabled {
		if err := c.NATS.Validate(); err != nil {
			errs = append(errs, prefixErrors("nats.", err))
		}
	}
	return errors.Join(errs...)
}

func prefixErrors(prefix string, err error) error {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []error
		for _, e := range joined.Unwrap() {
			out = append(out, fmt.Errorf("%s%w", prefix, e))
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s%w", prefix, err)
}

// Agent is the notification agent: definitions, processor, publisher and
// listeners, built from a Config.
type Agent struct {
	cfg       Config
	Processor *Processor
	Publisher Publisher
	AMQP      *AMQPListener // nil without amqp.url
	NATS      *NATSListener // nil unless nats.enabled
}

// New loads the definitions (an invalid file fails here with its line and
// reason), opens the event stream on b and builds the listeners. samples
// is where samples go: the pipeline of pipeline.yaml (*sink.Pipeline).
func New(ctx context.Context, cfg Config, b *bus.Bus, samples sink.Stage, set *metrics.Set, logger *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid agents.notify config: %w", err)
	}
	meters, err := LoadMeters(cfg.MetersFile)
	if err != nil {
		return nil, fmt.Errorf("agents.notify.meters_file: %w", err)
	}
	var events *EventDefinitions
	var stream *EventStream
	if cfg.Events {
		if events, err = LoadEvents(cfg.EventsFile, EventOptions{DropUnmatched: cfg.DropUnmatched, StoreRaw: cfg.StoreRaw}); err != nil {
			return nil, fmt.Errorf("agents.notify.events_file: %w", err)
		}
		if stream, err = OpenEventStream(ctx, b, cfg.EventStream); err != nil {
			return nil, err
		}
	}
	a := &Agent{cfg: cfg}
	a.Processor = NewProcessor(meters, events, ProcessorConfig{Source: cfg.Source}, set, logger)
	a.Publisher = NewBusPublisher(samples, stream)
	if cfg.AMQP.URL != "" {
		if a.AMQP, err = NewAMQPListener(cfg.AMQP, a.Processor, a.Publisher, set, logger); err != nil {
			return nil, err
		}
	}
	if cfg.NATS.Enabled {
		if a.NATS, err = NewNATSListener(b, cfg.NATS.NATSConfig, a.Processor, a.Publisher, set, logger); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Run runs the listeners until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	if a.AMQP != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[0] = a.AMQP.Run(ctx)
		}()
	}
	if a.NATS != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[1] = a.NATS.Run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
