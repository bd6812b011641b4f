package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigil-telemetry/vigil/agents/cadvisor"
	"github.com/vigil-telemetry/vigil/agents/host"
	"github.com/vigil-telemetry/vigil/agents/ipmi"
	"github.com/vigil-telemetry/vigil/agents/libvirt"
	"github.com/vigil-telemetry/vigil/agents/notify"
	"github.com/vigil-telemetry/vigil/agents/poll"
	"github.com/vigil-telemetry/vigil/agents/snmp"
	"github.com/vigil-telemetry/vigil/pipeline/sink"
)

// partState is what /healthz says of an optional part: on, or off and why.
type partState struct {
	name string
	err  error // nil: on
}

// pollsters builds every pollster the configuration turns on. A pollster
// whose source is absent is off, not fatal: the reason is logged and
// reported on /healthz.
func (a *App) pollsters() []poll.Pollster {
	cfg := a.cfg.Agents
	var out []poll.Pollster
	add := func(name string, p poll.Pollster, err error) {
		if err != nil {
			a.log.Warn("pollster is off", "pollster", name, "reason", err)
			a.parts = append(a.parts, partState{name: "pollster." + name, err: err})
			return
		}
		a.log.Info("pollster is on", "pollster", name)
		a.parts = append(a.parts, partState{name: "pollster." + name})
		out = append(out, p)
	}
	if cfg.Host.Enabled {
		h, err := host.New(host.Config{ProcFS: cfg.Host.ProcFS, SysFS: cfg.Host.SysFS}, a.log.With("pollster", "host"))
		add("host", h, err)
	} else {
		a.parts = append(a.parts, partState{name: "pollster.host", err: errors.New("agents.host.enabled is false")})
	}
	if cfg.Libvirt.Enabled {
		l, err := libvirt.New(libvirt.Config{URI: cfg.Libvirt.URI, Metrics: a.set}, a.log)
		add("libvirt", l, err)
	} else {
		a.parts = append(a.parts, partState{name: "pollster.libvirt", err: errors.New("agents.libvirt.enabled is false")})
	}
	if cfg.CAdvisor.Enabled {
		c, err := cadvisor.New(cadvisor.Config{Mode: cfg.CAdvisor.Mode, URL: cfg.CAdvisor.URL, Metrics: a.set}, a.log.With("pollster", "cadvisor"))
		add("cadvisor", c, err)
	} else {
		a.parts = append(a.parts, partState{name: "pollster.cadvisor", err: errors.New("agents.cadvisor.enabled is false")})
	}
	if len(cfg.SNMP.Targets) > 0 {
		targets := make([]snmp.Target, len(cfg.SNMP.Targets))
		for i, t := range cfg.SNMP.Targets {
			targets[i] = snmp.Target{Address: t.Address, Version: t.Version, Community: t.Community, User: t.User,
				AuthProtocol: t.AuthProtocol, AuthPassword: t.AuthPassword, PrivProtocol: t.PrivProtocol, PrivPassword: t.PrivPassword}
		}
		s, err := snmp.New(snmp.Config{Targets: targets, Metrics: a.set}, a.log.With("pollster", "snmp"))
		add("snmp", s, err)
	} else {
		a.parts = append(a.parts, partState{name: "pollster.snmp", err: errors.New("agents.snmp.targets is empty")})
	}
	if len(cfg.IPMI.Targets) > 0 {
		targets := make([]ipmi.Target, len(cfg.IPMI.Targets))
		for i, t := range cfg.IPMI.Targets {
			targets[i] = ipmi.Target{Address: t.Address, User: t.User, Password: t.Password}
		}
		p, err := ipmi.New(ipmi.Config{Targets: targets, Metrics: a.set}, a.log.With("pollster", "ipmi"))
		add("ipmi", p, err)
	} else {
		a.parts = append(a.parts, partState{name: "pollster.ipmi", err: errors.New("agents.ipmi.targets is empty")})
	}
	return out
}

// sources are the polling sources: those of agents.polling_file, each
// running every pollster whose meters it selects, or one source per
// pollster on the host interval.
func (a *App) sources(pollsters []poll.Pollster) ([]poll.Source, error) {
	if f := a.cfg.Agents.PollingFile; f != "" {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("agents.polling_file: %w", err)
		}
		specs, err := poll.ParsePollingYAML(data)
		if err != nil {
			return nil, fmt.Errorf("agents.polling_file %s: %w", f, err)
		}
		out := make([]poll.Source, len(specs))
		for i, sp := range specs {
			out[i] = sp.Source(pollsters)
		}
		return out, nil
	}
	out := make([]poll.Source, len(pollsters))
	for i, p := range pollsters {
		out[i] = poll.Source{Name: p.Name(), Interval: a.cfg.Agents.Host.Interval.D(), Pollsters: []poll.Pollster{p}}
	}
	return out, nil
}

// startAgents starts the notification listeners and the polling scheduler.
// Both send their samples through one pipeline (pipeline.file), as
// Ceilometer's notification agent takes the polling agents' samples too, so
// that transformers see both and each publisher has one writer; polled
// samples reach its gnocchi:// publishers through the scheduler's spool.
// Without pipeline.file the scheduler publishes straight to the bus, which
// is what the default pipeline does, minus its per-sample work.
func (a *App) startAgents(ctx context.Context) error {
	ncfg := a.cfg.Agents.Notify
	notifyOn := ncfg.AMQP.URL != "" || ncfg.NATS.Enabled
	pollsters := a.pollsters()
	var pl *sink.Pipeline
	if notifyOn || (len(pollsters) > 0 && a.cfg.Pipeline.File != "") {
		var err error
		// Batches name the host that wrote them, as the poller's own do.
		producer, _ := os.Hostname()
		pl, err = sink.LoadFile(a.cfg.Pipeline.File, sink.Options{Bus: a.bus, NATS: a.bus.Conn(), Producer: producer, Creator: a.cfg.Agents.Creator, Metrics: a.set, Logger: a.log.With("part", "pipeline")})
		if err != nil {
			return fmt.Errorf("pipeline.file: %w", err)
		}
		a.run("pipeline", func() error { pl.Run(ctx); return nil })
	}
	if notifyOn {
		if err := a.startNotify(ctx, pl); err != nil {
			return err
		}
	} else {
		a.parts = append(a.parts, partState{name: "notify", err: errors.New("agents.notify.amqp.url is empty and agents.notify.nats.enabled is false")})
	}
	if len(pollsters) == 0 {
		a.log.Info("no pollster is on; the polling agent idles")
		return nil
	}
	sources, err := a.sources(pollsters)
	if err != nil {
		return err
	}
	pcfg := poll.Config{
		Sources:      sources,
		Creator:      a.cfg.Agents.Creator,
		PublishBatch: a.cfg.Agents.PublishBatch,
		SpoolDir:     filepath.Join(a.cfg.DataDir, "spool"),
	}
	if a.cfg.Pipeline.File != "" {
		pcfg.Pipeline = pl
	}
	sched, err := poll.NewScheduler(pcfg, a.bus, a.set, a.log.With("part", "agent"))
	if err != nil {
		return fmt.Errorf("cannot start the polling scheduler: %w", err)
	}
	a.run("agent", func() error { return sched.Run(ctx) })
	return nil
}

// startNotify starts the notification listeners, publishing through pl:
// AMQP when agents.notify.amqp.url is set, NATS when
// agents.notify.nats.enabled.
func (a *App) startNotify(ctx context.Context, pl *sink.Pipeline) error {
	ncfg := a.cfg.Agents.Notify
	cfg := notify.DefaultConfig()
	cfg.AMQP.URL = ncfg.AMQP.URL
	if len(ncfg.AMQP.Exchanges) > 0 {
		cfg.AMQP.Exchanges = ncfg.AMQP.Exchanges
	}
	if len(ncfg.AMQP.Topics) > 0 {
		cfg.AMQP.Topics = ncfg.AMQP.Topics
	}
	cfg.NATS.Enabled = ncfg.NATS.Enabled
	cfg.MetersFile = ncfg.MetersFile
	cfg.EventsFile = ncfg.EventsFile
	ag, err := notify.New(ctx, cfg, a.bus, pl, a.set, a.log.With("part", "notify"))
	if err != nil {
		return fmt.Errorf("cannot start the notification listeners: %w", err)
	}
	a.parts = append(a.parts, partState{name: "notify"})
	a.run("notify", func() error { return ag.Run(ctx) })
	return nil
}
