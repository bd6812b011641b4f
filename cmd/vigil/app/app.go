// Package app is the vigil runtime: it starts the parts a subcommand asks
// for (agents, processor, API) on one bus, index and storage, and stops them
// in order. cmd/vigil only parses flags and calls it, so that tests start
// the whole system in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/alarms/evaluator"
	"github.com/vigil-telemetry/vigil/alarms/metering"
	"github.com/vigil-telemetry/vigil/alarms/notifier"
	"github.com/vigil-telemetry/vigil/alarms/store"
	"github.com/vigil-telemetry/vigil/api"
	"github.com/vigil-telemetry/vigil/api/billing"
	"github.com/vigil-telemetry/vigil/cmd/vigil/config"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/resources"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/ingest"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/retention"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// Roles says which parts run in this process.
type Roles struct {
	Agent, Processor, API, Evaluator bool
}

// All is every part, as `vigil all` runs them.
var All = Roles{Agent: true, Processor: true, API: true, Evaluator: true}

// App is a running vigil.
type App struct {
	cfg   config.Config
	log   *slog.Logger
	set   *metrics.Set
	bus   *bus.Bus
	idx   *index.Index
	store storage.Storage
	proc  *ingest.Processor
	srv   *http.Server
	ln    net.Listener

	parts []partState // optional parts and why they are off

	ratingCfg *billing.Config

	alarms    *store.Store
	evaluator *evaluator.Evaluator
	notifier  *notifier.Notifier

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex // guards err
	err    error
}

// Start opens the bus, the index and the storage the roles need and starts
// the roles. Stop ends them.
func Start(ctx context.Context, cfg config.Config, roles Roles, log *slog.Logger) (a *App, err error) {
	a = &App{cfg: cfg, log: log, set: metrics.NewSet()}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create data directory %s: %w", cfg.DataDir, err)
	}
	bcfg := bus.DefaultConfig()
	bcfg.URL = cfg.NATS.URL
	bcfg.Listen = cfg.NATS.Listen
	bcfg.DataDir = filepath.Join(cfg.DataDir, "jetstream")
	bcfg.Prefix = cfg.NATS.SubjectPrefix
	bcfg.StreamPrefix = cfg.NATS.StreamPrefix
	bcfg.Partitions = cfg.NATS.Partitions
	bcfg.Replicas = cfg.NATS.Replicas
	if a.bus, err = bus.Open(ctx, bcfg, log.With("part", "bus"), bus.WithMetrics(a.set)); err != nil {
		return nil, fmt.Errorf("cannot open the bus: %w", err)
	}
	if roles.Processor || roles.API || roles.Evaluator {
		if a.idx, err = index.Open(ctx, cfg.IndexURL(), index.Options{MaxOpenConns: cfg.Index.MaxOpenConns}); err != nil {
			return nil, fmt.Errorf("cannot open the index: %w", err)
		}
		popts := storage.PebbleOptions{MemTableBytes: cfg.Storage.MemtableMB << 20, CacheBytes: cfg.Storage.CacheMB << 20, Metrics: a.set}
		if a.store, err = storage.OpenPebble(filepath.Join(cfg.DataDir, "series"), popts); err != nil {
			return nil, fmt.Errorf("cannot open the series storage: %w", err)
		}
	}
	ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))

	if roles.Processor {
		defs, err := resources.Load(cfg.Pipeline.ResourcesFile)
		if err == nil {
			err = ingest.CheckDefinitions(defs)
		}
		if err != nil {
			return nil, fmt.Errorf("pipeline.resources_file: %w", err)
		}
		a.proc = ingest.NewProcessor(ingest.Config{
			ID:            cfg.Processor.ID,
			BatchMax:      cfg.Processor.BatchMax,
			FlushInterval: cfg.Processor.FlushInterval.D(),
			Resources:     defs,
			EventsStream:  cfg.NATS.StreamPrefix + "_EVENTS",
			Creator:       cfg.Agents.Creator,
		}, a.bus, a.idx, a.store, a.set, log.With("part", "processor"))
		ann := metering.NewAnnouncer(a.idx, a.bus.Conn(), cfg.NATS.SubjectPrefix, a.set, log.With("part", "announcer"))
		a.proc.OnFlush = ann.Updated
		a.run("announcer", func() error { return ann.Run(ctx) })
		jan := retention.New(retention.Config{
			Resources: cfg.Retention.Resources.D(), History: cfg.Retention.History.D(), Interval: cfg.Retention.Interval.D(),
		}, a.idx, a.store, a.set, log.With("part", "retention"))
		a.run("retention", func() error { return jan.Run(ctx) })
		a.run("processor", func() error { return a.proc.Run(ctx) })
	}
	if roles.API || roles.Evaluator {
		if a.alarms, err = a.openAlarmStore(ctx); err != nil {
			return nil, fmt.Errorf("cannot open the alarm store: %w", err)
		}
	}
	if roles.Evaluator {
		if err := a.startEvaluator(ctx); err != nil {
			return nil, err
		}
		// Scheduled exports run beside the evaluator: one per deployment,
		// like the clock-driven alarms.
		if err := a.startBillingSchedule(ctx); err != nil {
			return nil, err
		}
	}
	if roles.Agent {
		if err := a.startAgents(ctx); err != nil {
			return nil, err
		}
	}
	if roles.API {
		if err := a.startAPI(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *App) run(name string, f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("part stopped with an error", "part", name, "err", err)
			a.errMu.Lock()
			if a.err == nil {
				a.err = fmt.Errorf("%s: %w", name, err)
			}
			a.errMu.Unlock()
		}
	}()
}

func (a *App) startAPI(ctx context.Context) error {
	auth, err := api.NewAuthenticator(a.cfg.API.AuthMode)
	if err != nil {
		return err
	}
	backlog := api.NewBusBacklog(a.bus)
	health := []api.HealthCheck{
		{Name: "bus", Check: a.bus.Healthy},
		{Name: "index", Check: a.idx.Ping},
	}
	for _, p := range a.parts {
		health = append(health, api.HealthCheck{Name: p.name, Optional: true, Check: func(context.Context) error { return p.err }})
	}
	deps := api.Deps{
		Index:              a.idx,
		Reader:             query.NewReader(a.store),
		Publisher:          backlog,
		Backlog:            backlog,
		CORSAllowedOrigins: a.cfg.API.CORS.AllowedOrigins,
		Auth:               auth,
		Metrics:            a.set,
		MaxBodyBytes:       a.cfg.API.MaxBodyBytes,
		Log:                a.log.With("part", "api"),
		Health:             health,
		MetricDeleted: func(ctx context.Context, id uuid.UUID) {
			if a.proc != nil {
				a.proc.Resolver().ForgetMetric(id)
			}
			if err := a.store.DeleteMetric(ctx, id); err != nil {
				a.log.Error("cannot free the series of a deleted metric", "metric", id, "err", err)
			}
		},
	}
	if a.proc != nil {
		deps.Status = a.proc
	}
	if deps.Routes, err = a.alarmRoutes(auth); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on api.listen %s: %w", a.cfg.API.Listen, err)
	}
	a.ln = ln
	a.srv = &http.Server{
		Handler:           api.New(deps).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       a.cfg.API.ReadTimeout.D(),
		WriteTimeout:      a.cfg.API.WriteTimeout.D(),
		IdleTimeout:       a.cfg.API.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	a.log.Info("API listening", "url", "http://"+ln.Addr().String()+"/v1/", "auth_mode", a.cfg.API.AuthMode)
	a.run("api", func() error {
		if err := a.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

// Addr is the address the API listens on, or "" without the API role.
func (a *App) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// Stop shuts the parts down in the order data flows: the agents flush what
// they polled, the API stops taking requests, the processor commits and
// acknowledges what it fetched; then storage, index and bus close. It
// returns the first error a part stopped with.
func (a *App) Stop(ctx context.Context) error {
	if a.srv != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = a.srv.Shutdown(sctx)
		cancel()
	}
	a.cancel()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		a.log.Warn("parts did not stop in time", "err", ctx.Err())
	}
	a.close()
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}

func (a *App) close() {
	if a.notifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := a.notifier.Close(ctx); err != nil {
			a.log.Warn("alarm notifications still queued at shutdown", "err", err)
		}
		cancel()
	}
	if a.alarms != nil {
		if err := a.alarms.Close(); err != nil {
			a.log.Error("cannot close the alarm store", "err", err)
		}
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Error("cannot close the series storage", "err", err)
		}
	}
	if a.idx != nil {
		a.idx.Close()
	}
	if a.bus != nil {
		a.bus.Close()
	}
}
