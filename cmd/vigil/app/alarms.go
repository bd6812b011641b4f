package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-telemetry/vigil/alarms"
	"github.com/vigil-telemetry/vigil/alarms/evaluator"
	"github.com/vigil-telemetry/vigil/alarms/metering"
	"github.com/vigil-telemetry/vigil/alarms/notifier"
	"github.com/vigil-telemetry/vigil/alarms/store"
	"github.com/vigil-telemetry/vigil/api"
	"github.com/vigil-telemetry/vigil/api/aodh"
	"github.com/vigil-telemetry/vigil/api/billing"
	"github.com/vigil-telemetry/vigil/api/events"
	"github.com/vigil-telemetry/vigil/tsdb/query"
)

// openAlarmStore opens the alarm store: beside the index in PostgreSQL,
// or in its own SQLite file so that alarm writes never wait on the index's.
func (a *App) openAlarmStore(ctx context.Context) (*store.Store, error) {
	u := a.cfg.IndexURL()
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return store.Open(ctx, "postgres", u, a.log.With("part", "alarm-store"))
	}
	return store.Open(ctx, "sqlite", filepath.Join(a.cfg.DataDir, "alarms.db"), a.log.With("part", "alarm-store"))
}

// startEvaluator runs the alarm evaluator and its notifier: alarms are
// evaluated when ingest announces their series, and swept periodically.
func (a *App) startEvaluator(ctx context.Context) error {
	n, err := notifier.New(notifier.DefaultConfig(), notifier.Deps{
		History: a.alarms, NATS: a.bus.Conn(), Log: a.log.With("part", "notifier"), Metrics: a.set,
	})
	if err != nil {
		return fmt.Errorf("cannot start the alarm notifier: %w", err)
	}
	a.notifier = n
	ecfg := evaluator.DefaultConfig()
	ecfg.Prefix = a.cfg.NATS.SubjectPrefix
	ecfg.Partitions = a.cfg.NATS.Partitions
	ecfg.Leases = true
	ecfg.LeaseBucket = a.cfg.NATS.StreamPrefix + "_ALARM_LEASES"
	ecfg.SweepInterval = a.cfg.Alarms.SweepInterval.D()
	ev, err := evaluator.New(ecfg, evaluator.Deps{
		Store:     a.alarms,
		Fetcher:   metering.New(a.idx, query.NewReader(a.store)),
		Notifier:  n,
		NATS:      a.bus.Conn(),
		JetStream: a.bus.JetStream(),
		Log:       a.log.With("part", "evaluator"),
		Metrics:   a.set,
	})
	if err != nil {
		return fmt.Errorf("cannot start the alarm evaluator: %w", err)
	}
	a.evaluator = ev
	a.run("evaluator", func() error { return ev.Run(ctx) })
	return nil
}

// changePublisher tells evaluators in other processes of alarms changed
// through the API.
type changePublisher struct {
	nc      *nats.Conn
	subject string
}

func (c changePublisher) AlarmChanged(_ context.Context, id string) {
	_ = c.nc.Publish(c.subject, []byte(id))
}

// alarmRoutes returns the registration of the Aodh v2 API and the billing
// endpoints on the API's mux.
func (a *App) alarmRoutes(auth api.Authenticator) ([]func(*http.ServeMux), error) {
	identity := func(r *http.Request) (aodh.Identity, error) {
		id, err := auth.Authenticate(r)
		if err != nil {
			return aodh.Identity{}, err
		}
		out := aodh.Identity{UserID: id.UserID, ProjectID: id.ProjectID, Admin: id.Admin, Token: r.Header.Get("X-Auth-Token")}
		if id.Admin {
			out.Roles = []string{"admin"}
		}
		return out, nil
	}
	var listener aodh.ChangeListener = changePublisher{nc: a.bus.Conn(), subject: alarms.ChangesSubject(a.cfg.NATS.SubjectPrefix)}
	if a.evaluator != nil {
		listener = a.evaluator
	}
	deps := aodh.Deps{
		Store: a.alarms, Evaluator: listener, Auth: identity, Log: a.log.With("part", "aodh"),
		Quotas: store.Quotas{Project: a.cfg.Alarms.QuotaPerProject}, MaxBodyBytes: a.cfg.API.MaxBodyBytes,
	}
	if a.notifier != nil {
		if k := a.notifier.Keystone(); k != nil {
			deps.Trusts = k
		}
	}
	edeps := events.Deps{
		JetStream: a.bus.JetStream(), Stream: a.cfg.NATS.StreamPrefix + "_EVENTS", Log: a.log.With("part", "events"),
		Auth: func(r *http.Request) (events.Identity, error) {
			id, err := auth.Authenticate(r)
			return events.Identity{UserID: id.UserID, ProjectID: id.ProjectID, Admin: id.Admin}, err
		},
	}
	routes := []func(*http.ServeMux){
		func(mux *http.ServeMux) { aodh.Register(mux, deps) },
		func(mux *http.ServeMux) { events.Register(mux, edeps) },
	}

	rating, err := a.rating()
	if err != nil {
		return nil, err
	}
	bdeps := billing.Deps{
		Source: billing.NewIndexSource(a.idx, query.NewReader(a.store)),
		Config: rating,
		Identity: func(r *http.Request) (string, string, bool, error) {
			id, err := auth.Authenticate(r)
			return id.UserID, id.ProjectID, id.Admin, err
		},
		Logger: a.log.With("part", "billing"),
	}
	routes = append(routes, func(mux *http.ServeMux) { billing.Register(mux, bdeps) })
	return routes, nil
}

// rating loads billing.config_file, once; nil when billing is off.
func (a *App) rating() (*billing.Config, error) {
	if a.ratingCfg != nil || a.cfg.Billing.ConfigFile == "" {
		return a.ratingCfg, nil
	}
	c, err := billing.LoadConfig(a.cfg.Billing.ConfigFile)
	if err != nil {
		return nil, fmt.Errorf("billing.config_file: %w", err)
	}
	a.ratingCfg = c
	return c, nil
}

// startBillingSchedule writes each closed period's export to billing.dir
// when billing.schedule is set.
func (a *App) startBillingSchedule(ctx context.Context) error {
	b := a.cfg.Billing
	if b.Schedule == "" {
		return nil
	}
	rating, err := a.rating()
	if err != nil {
		return err
	}
	period, err := billing.ParsePeriod(b.Schedule)
	if err != nil {
		return fmt.Errorf("billing.schedule: %w", err)
	}
	sc := billing.ScheduleConfig{Period: period, Dir: b.Dir, Delay: b.Delay.D(), Project: b.Project}
	for _, f := range b.Formats {
		ff, err := billing.ParseFormat(f)
		if err != nil {
			return fmt.Errorf("billing.formats: %w", err)
		}
		sc.Formats = append(sc.Formats, ff)
	}
	if b.Since != "" {
		if sc.Since, err = billing.ParseTime(b.Since); err != nil {
			return fmt.Errorf("billing.since: %w", err)
		}
	}
	s, err := billing.NewScheduler(billing.NewIndexSource(a.idx, query.NewReader(a.store)), rating, sc, time.Now, a.log.With("part", "billing"))
	if err != nil {
		return fmt.Errorf("cannot start the billing schedule: %w", err)
	}
	a.run("billing", func() error { return s.Run(ctx) })
	return nil
}
