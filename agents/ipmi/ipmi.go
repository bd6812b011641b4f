package ipmi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/sensor"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// Pollster polls BMCs; it implements poll.Pollster and poll.MeterLister.
// The package documentation lists its meters and resources.
type Pollster struct {
	targets     []*target
	concurrency int
}

// target is one BMC and what the pollster keeps of it between polls.
type target struct {
	host    string
	port    int
	spec    Target
	name    string
	md      map[string]any
	cfg     *Config
	log     *slog.Logger
	skipped *metrics.Counter
	failed  *metrics.Counter
	now     func() time.Time // the clock of the SDR refresh

	mu      sync.Mutex // guards everything below: one poll of a target at a time
	sensors []*sensorDef
	dcmi    bool // the BMC answers DCMI Get Power Reading
	loaded  time.Time
}

// New checks every target's configuration. It sends nothing: a BMC that is
// down now may answer later, and its polls fail until then.
func New(cfg Config, log *slog.Logger) (*Pollster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("no IPMI targets")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.SDRRefresh <= 0 {
		cfg.SDRRefresh = DefaultSDRRefresh
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = DefaultMaxRecords
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewSet()
	}
	p := &Pollster{concurrency: cfg.Concurrency}
	names := make(map[string]bool)
	for i, spec := range cfg.Targets {
		host, port, name, err := spec.parse()
		if err != nil {
			return nil, fmt.Errorf("agents.ipmi.targets[%d]: %w", i, err)
		}
		if names[name] {
			return nil, fmt.Errorf("agents.ipmi.targets[%d]: node %q named twice", i, name)
		}
		names[name] = true
		l := fmt.Sprintf(`{target=%q}`, name)
		p.targets = append(p.targets, &target{
			host: host, port: port, spec: spec, name: name, cfg: &cfg,
			md:      map[string]any{"node": name},
			log:     log.With("target", name),
			skipped: cfg.Metrics.GetOrCreateCounter("vigil_agent_ipmi_sensors_skipped_total" + l),
			failed:  cfg.Metrics.GetOrCreateCounter("vigil_agent_ipmi_target_errors_total" + l),
			now:     time.Now,
		})
	}
	return p, nil
}

// Name returns "ipmi".
func (p *Pollster) Name() string { return "ipmi" }

// Meters lists the meters Poll can produce.
func (p *Pollster) Meters() []string {
	names := make([]string, len(allMeters))
	for i, m := range allMeters {
		names[i] = m.name
	}
	return names
}

// Poll polls every target, at most Config.Concurrency at once, each within
// Config.Timeout, and emits their samples with timestamp now. A target
// that cannot be read fails alone: the error names it, and the others'
// samples are emitted.
func (p *Pollster) Poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) error {
	errs := make([]error, len(p.targets))
	sem := make(chan struct{}, p.concurrency)
	var wg sync.WaitGroup
	for i, t := range p.targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = fmt.Errorf("IPMI target %s not polled: %w", t.name, ctx.Err())
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = t.poll(ctx, now, emit)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// guard runs a go-ipmi call and turns a panic of its decoders on a BMC's
// reply into an error: a BMC must not be able to crash the agent.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode the BMC's reply: %v", r)
		}
	}()
	return f()
}

func (t *target) newClient() (*client.Client, error) {
	c, err := client.NewClient(t.host, t.port, t.spec.User, t.spec.Password)
	if err != nil {
		return nil, err
	}
	c.WithTimeout(t.cfg.RequestTimeout).WithRetry(t.cfg.Retries)
	if t.spec.Interface == "lan" {
		c.WithInterface(client.InterfaceLan)
	} else {
		suite := types.CipherSuiteID3
		if t.spec.CipherSuite != 0 {
			suite = types.CipherSuiteID(t.spec.CipherSuite)
		}
		c.WithCipherSuiteID(suite)
	}
	return c, nil
}

func (t *target) poll(ctx context.Context, now time.Time, emit func(*pipeline.Sample)) (err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() {
		if err != nil {
			t.failed.Inc()
			t.sensors = nil // read the SDRs again: the BMC may have been replaced
			err = fmt.Errorf("IPMI target %s: %w", t.name, err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	c, err := t.newClient()
	if err != nil {
		return err
	}
	if err := guard(func() error { return c.Connect(ctx) }); err != nil {
		return fmt.Errorf("cannot open a session: %w", err)
	}
	defer func() {
		// Free the BMC's session slot even when the poll's time is up.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), t.cfg.RequestTimeout)
		defer ccancel()
		guard(func() error { return c.Close(cctx) })
	}()
	if t.sensors == nil || t.now().Sub(t.loaded) > t.cfg.SDRRefresh {
		if err := t.loadSDRs(ctx, c); err != nil {
			return err
		}
	}
	s := pipeline.Sample{Timestamp: now, Source: SampleSource, Metadata: t.md}
	var (
		skipped          int
		firstSkip        error
		power            float64
		havePower        bool
		inlet, outlet    float64
		haveIn, haveOut  bool
		ctxOwner, ctxLUN uint8 = 0xff, 0xff
		sctx             context.Context
		skip             = func(err error) {
			skipped++
			if firstSkip == nil {
				firstSkip = err
			}
		}
	)
	for _, d := range t.sensors {
		if d.owner != ctxOwner || d.lun != ctxLUN {
			// Sensors of satellite controllers are read through the BMC.
			cc := (&client.CommandContext{}).WithResponderAddr(d.owner).WithResponderLUN(d.lun)
			sctx, ctxOwner, ctxLUN = client.WithCommandContext(ctx, cc), d.owner, d.lun
		}
		v, err := t.read(sctx, c, d)
		if err != nil {
			if _, ok := types.IsResponseError(err); ok || errors.As(err, new(errNoReading)) || isConversion(err) {
				skip(fmt.Errorf("sensor %q: %w", d.name, err))
				continue
			}
			return fmt.Errorf("cannot read sensor %q: %w", d.name, err)
		}
		s.ResourceID, s.ResourceType = d.id, typeSensor
		s.Name, s.Unit, s.Type, s.Volume = d.meter.name, d.unit, d.meter.typ, v
		emit(&s)
		if d.watts {
			power, havePower = power+v, true
		}
		if d.inlet && !haveIn {
			inlet, haveIn = v, true
		}
		if d.outlet && !haveOut {
			outlet, haveOut = v, true
		}
	}
	if t.dcmi {
		var res *dcmiPower
		err := guard(func() error {
			r, err := c.GetDCMIPowerReading(ctx)
			if err == nil && r.PowerMeasurementActive {
				res = &dcmiPower{float64(r.CurrentPower)}
			}
			return err
		})
		// Without a DCMI reading, the sum of the power sensors stands.
		if err != nil {
			skip(fmt.Errorf("DCMI power reading: %w", err))
		} else if res != nil {
			power, havePower = res.watts, true
		}
	}
	s.ResourceID, s.ResourceType = t.name, typeNode
	node := func(m meter, v float64) {
		s.Name, s.Unit, s.Type, s.Volume = m.name, m.unit, m.typ, v
		emit(&s)
	}
	if havePower {
		node(mNodePower, power)
	}
	if haveIn {
		node(mNodeInletTemp, inlet)
	}
	if haveOut {
		node(mNodeOutletTemp, outlet)
	}
	if skipped > 0 {
		t.skipped.Add(skipped)
		t.log.Warn("IPMI sensors without a reading skipped", "count", skipped, "first", firstSkip.Error())
	}
	return nil
}

type dcmiPower struct{ watts float64 }

// errConversion marks a reading that converts to no number.
var errConversion = errors.New("reading converts to no number")

func isConversion(err error) bool { return errors.Is(err, errConversion) }

// read returns the current value of one sensor.
func (t *target) read(ctx context.Context, c *client.Client, d *sensorDef) (float64, error) {
	var res *sensor.GetSensorReadingResponse
	if err := guard(func() (err error) {
		res, err = c.GetSensorReading(ctx, d.number)
		return err
	}); err != nil {
		return 0, err
	}
	var factors *types.ReadingFactors
	if d.conv.Threshold.LinearizationFunc.IsNonLinear() && !res.ReadingUnavailable {
		// Non-linear sensors have factors per reading (IPMI 2.0 36.2).
		if err := guard(func() error {
			f, err := c.GetSensorReadingFactors(ctx, d.number, res.Reading)
			if err == nil {
				factors = &f.ReadingFactors
			}
			return err
		}); err != nil {
			return 0, err
		}
	}
	v, err := d.value(res, factors)
	if err != nil && !errors.As(err, new(errNoReading)) {
		return 0, fmt.Errorf("%w: %w", errConversion, err)
	}
	return v, err
}

// loadSDRs reads the BMC's SDR repository and keeps the sensors to poll.
// It walks the records itself, bounded and with a guard against record
// ids that loop, since a BMC's next-record ids are untrusted.
func (t *target) loadSDRs(ctx context.Context, c *client.Client) error {
	var defs []*sensorDef
	seen := make(map[uint16]bool)
	ids := make(map[string]bool)
	var id uint16
	for n := 0; id != 0xffff; n++ {
		if n == t.cfg.MaxRecords {
			return fmt.Errorf("cannot read the SDR repository: more than %d records", t.cfg.MaxRecords)
		}
		if seen[id] {
			return fmt.Errorf("cannot read the SDR repository: record %#04x listed twice", id)
		}
		seen[id] = true
		var sdr *types.SDR
		if err := guard(func() (err error) {
			sdr, err = c.GetSDRParsed(ctx, id)
			return err
		}); err != nil {
			return fmt.Errorf("cannot read the SDR repository: record %#04x: %w", id, err)
		}
		d, err := defineSensor(t.name, sdr)
		if err != nil {
			return fmt.Errorf("cannot read the SDR repository: record %#04x: %w", id, err)
		}
		if d != nil && !ids[d.id] {
			ids[d.id] = true
			defs = append(defs, d)
		}
		id = sdr.NextRecordID
	}
	t.sensors, t.loaded = defs, t.now()
	// DCMI is optional: a BMC without it refuses the command.
	t.dcmi = guard(func() error {
		_, err := c.GetDCMIPowerReading(ctx)
		return err
	}) == nil
	if t.sensors == nil {
		t.sensors = []*sensorDef{} // loaded, none to read
	}
	t.log.Info("IPMI sensors found", "sensors", len(defs), "dcmi", t.dcmi)
	return nil
}
