package evaluator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-telemetry/vigil/alarms"
)

// Store is what the evaluator needs of the alarm store (*store.Store).
type Store interface {
	EnabledAlarms(ctx context.Context) ([]*alarms.Alarm, error)
	// Get returns an error wrapping alarms.ErrNotFound for a missing alarm.
	Get(ctx context.Context, id, project string) (*alarms.Alarm, error)
	SaveTransitions(ctx context.Context, ts []alarms.Transition) ([]bool, error)
}

// Notifier runs alarm actions. Notify must not block.
type Notifier interface {
	Notify(n *alarms.Notification)
}

// Deps are the parts the evaluator works with.
type Deps struct {
	Store    Store
	Fetcher  alarms.Fetcher
	Notifier Notifier
	// NATS carries announcements, events and alarm changes; nil runs
	// without subscriptions (callers use SeriesUpdated and HandleEvent).
	NATS *nats.Conn
	// JetStream holds the lease bucket; needed when Config.Leases is on.
	JetStream jetstream.JetStream
	Log       *slog.Logger
	Metrics   *metrics.Set
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Evaluator evaluates alarms; see the package documentation. Its methods
// are safe for concurrent use.
type Evaluator struct {
	cfg Config
	d   Deps
	log *slog.Logger
	met *evalMetrics

	// mu guards entries, watch and events. Lock order: mu, then an
	// entry's mu.
	mu      sync.RWMutex
	entries map[string]*entry
	watch   map[watchKey][]*entry
	events  map[string][]*entry // project → enabled event alarms

	owned   atomic.Pointer[[]bool] // partition → owned by this evaluator
	queue   runQueue
	delays  delayQueue
	commits chan commit
	// commitMu guards sending on commits against its closing; closed is
	// set under it.
	commitMu sync.RWMutex
	closed   bool
	running  atomic.Bool
	ctx      context.Context // Run's context, for triggered evaluations
}

// Scheduling states of an entry.
const (
	idle uint32 = iota
	queued
	running
	rerun // triggered while running: schedule again when done
)

// entry is one enabled alarm.
type entry struct {
	id   string
	part int
	step atomic.Int64 // rule granularity, ns; 0 for event alarms

	mu      sync.Mutex    // guards alarm, state, stateAt
	alarm   *alarms.Alarm // the definition; never mutated once set
	state   alarms.State  // current state, ahead of the store while a commit is pending
	stateAt time.Time     // when state was set

	sched       atomic.Uint32
	nextAllowed atomic.Int64 // unix ns before which data does not trigger an evaluation
	delayed     atomic.Bool  // in the delay queue
	removed     atomic.Bool
	triggered   atomic.Int64 // unix ns of the oldest trigger not yet evaluated
	keys        []watchKey   // guarded by Evaluator.mu
}

// commit is a state change on its way to the store.
type commit struct {
	e     *entry
	prev  alarms.State
	t     alarms.Transition
	note  *alarms.Notification // nil when the new state has no actions
	alarm *alarms.Alarm
}

// New returns an evaluator; Run starts it.
func New(cfg Config, d Deps) (*Evaluator, error) {
	if cfg.Workers == 0 {
		cfg.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid evaluator config: %w", err)
	}
	if d.Store == nil || d.Fetcher == nil || d.Notifier == nil {
		return nil, errors.New("evaluator needs a store, a fetcher and a notifier")
	}
	if cfg.Leases && d.JetStream == nil {
		return nil, errors.New("evaluator leases need JetStream")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.NewSet()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	e := &Evaluator{
		cfg:     cfg,
		d:       d,
		log:     d.Log.With("component", "alarm-evaluator"),
		met:     newEvalMetrics(d.Metrics),
		entries: map[string]*entry{},
		watch:   map[watchKey][]*entry{},
		events:  map[string][]*entry{},
		commits: make(chan commit, 4*cfg.CommitBatch),
		ctx:     context.Background(),
	}
	e.queue.init()
	e.delays.init()
	all := make([]bool, cfg.Partitions)
	if !cfg.Leases {
		for i := range all {
			all[i] = true
		}
	}
	e.owned.Store(&all)
	return e, nil
}

// Run loads the enabled alarms, evaluates them, and keeps evaluating on
// announcements, events and the sweep until ctx ends. It returns nil
// after ctx ends and the pending state changes are stored.
func (e *Evaluator) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("evaluator is already running")
	}
	e.ctx = ctx
	if err := e.reloadAll(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	for range e.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.work(workCtx)
		}()
	}
	commitDone := make(chan struct{})
	go func() {
		defer close(commitDone)
		e.commitLoop()
	}()
	go e.delays.run(workCtx, func(en *entry) {
		en.delayed.Store(false)
		e.trigger(en, e.d.Now())
	})

	var subs []*nats.Subscription
	if nc := e.d.NATS; nc != nil {
		for _, s := range []struct {
			subj string
			h    nats.MsgHandler
		}{
			{e.cfg.Prefix + ".updates.>", e.onUpdate},
			{e.cfg.Prefix + ".events.>", e.onEvent},
			{alarms.ChangesSubject(e.cfg.Prefix), e.onChange},
		} {
			sub, err := nc.Subscribe(s.subj, s.h)
			if err != nil {
				stopWork()
				return fmt.Errorf("cannot subscribe to %s: %w", s.subj, err)
			}
			_ = sub.SetPendingLimits(1<<20, 1<<30)
			subs = append(subs, sub)
		}
		if err := nc.FlushTimeout(5 * time.Second); err != nil {
			e.log.Warn("cannot flush subscriptions", "err", err)
		}
	}
	leaseDone := make(chan struct{})
	if e.cfg.Leases {
		go func() {
			defer close(leaseDone)
			e.runLeases(ctx)
		}()
	} else {
		close(leaseDone)
	}

	e.sweep()
	t := time.NewTicker(e.cfg.SweepInterval)
	defer t.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
			if err := e.reloadAll(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("cannot reload alarms; evaluating those known", "err", err)
			}
			e.sweep()
		}
	}
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	<-leaseDone
	stopWork()
	e.queue.close()
	wg.Wait()
	e.commitMu.Lock()
	e.closed = true
	close(e.commits)
	e.commitMu.Unlock()
	<-commitDone
	e.running.Store(false)
	return nil
}

// partitionOf places an alarm: FNV-1a 64 of its id modulo partitions.
func partitionOf(id string, partitions int) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return int(h % uint64(partitions))
}

func (e *Evaluator) ownedPart(p int) bool {
	o := *e.owned.Load()
	return p < len(o) && o[p]
}

// reloadAll brings the alarms in memory in line with the store.
func (e *Evaluator) reloadAll(ctx context.Context) error {
	all, err := e.d.Store.EnabledAlarms(ctx)
	if err != nil {
		return fmt.Errorf("cannot load enabled alarms: %w", err)
	}
	seen := make(map[string]bool, len(all))
	for _, a := range all {
		seen[a.ID] = true
		e.upsert(a, true)
	}
	e.mu.Lock()
	var gone []string
	for id := range e.entries {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	e.mu.Unlock()
	for _, id := range gone {
		e.remove(id)
	}
	e.met.alarms.Set(float64(len(all)))
	return nil
}

// upsert adds or replaces an alarm. From the sweep, an alarm whose
// definition and state the store has not changed is left alone.
func (e *Evaluator) upsert(a *alarms.Alarm, fromSweep bool) *entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.entries[a.ID]
	if en == nil {
		en = &entry{id: a.ID, part: partitionOf(a.ID, e.cfg.Partitions)}
		e.entries[a.ID] = en
	} else {
		en.mu.Lock()
		same := en.alarm.Timestamp.Equal(a.Timestamp) && !a.StateTimestamp.After(en.stateAt)
		en.mu.Unlock()
		if fromSweep && same {
			return en
		}
		e.unindex(en)
	}
	en.mu.Lock()
	en.alarm, en.state, en.stateAt = a, a.State, a.StateTimestamp
	en.mu.Unlock()
	en.step.Store(int64(a.Rule.Step()))
	en.nextAllowed.Store(0)
	e.index(en, a)
	return en
}

func (e *Evaluator) remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en := e.entries[id]
	if en == nil {
		return
	}
	en.removed.Store(true)
	e.unindex(en)
	delete(e.entries, id)
}

// reload re-reads one alarm after the API changed it.
func (e *Evaluator) reload(ctx context.Context, id string) {
	a, err := e.d.Store.Get(ctx, id, "")
	switch {
	case errors.Is(err, alarms.ErrNotFound):
		e.remove(id)
		return
	case err != nil:
		e.log.Error("cannot reload alarm; the sweep will retry", "alarm_id", id, "err", err)
		return
	}
	if !a.Enabled {
		e.remove(id)
		return
	}
	en := e.upsert(a, false)
	if a.Type != alarms.TypeEvent {
		e.trigger(en, e.d.Now())
	}
}

// AlarmChanged tells the evaluators that the API created, changed or
// deleted an alarm: over NATS when the evaluator has a connection (every
// evaluator reloads it), else directly.
func (e *Evaluator) AlarmChanged(ctx context.Context, id string) {
	if e.d.NATS != nil {
		if err := e.d.NATS.Publish(alarms.ChangesSubject(e.cfg.Prefix), []byte(id)); err == nil {
			return
		}
	}
	e.reload(ctx, id)
}

// sweep triggers every owned threshold, composite and expression alarm.
func (e *Evaluator) sweep() {
	e.mu.RLock()
	list := make([]*entry, 0, len(e.entries))
	for _, en := range e.entries {
		if en.step.Load() > 0 {
			list = append(list, en)
		}
	}
	e.mu.RUnlock()
	now := e.d.Now()
	for _, en := range list {
		e.trigger(en, now)
	}
	e.met.sweeps.Inc()
}

// trigger asks for an evaluation: now, or at the start of the next
// granularity step when the alarm was already evaluated in this one.
func (e *Evaluator) trigger(en *entry, now time.Time) {
	if en.removed.Load() || !e.ownedPart(en.part) {
		return
	}
	ns := now.UnixNano()
	en.triggered.CompareAndSwap(0, ns)
	if na := en.nextAllowed.Load(); ns < na {
		if en.delayed.CompareAndSwap(false, true) {
			e.delays.add(en, time.Unix(0, na))
		}
		return
	}
	for {
		switch s := en.sched.Load(); s {
		case idle:
			if en.sched.CompareAndSwap(idle, queued) {
				e.queue.push(en)
				return
			}
		case running:
			if en.sched.CompareAndSwap(running, rerun) {
				return
			}
		default:
			return
		}
	}
}

func (e *Evaluator) work(ctx context.Context) {
	sc := &scratch{}
	for {
		en, ok := e.queue.pop()
		if !ok {
			return
		}
		if !en.sched.CompareAndSwap(queued, running) {
			panic("BUG: a queued alarm was not in the queued state")
		}
		e.evaluate(ctx, en, sc)
		if !en.sched.CompareAndSwap(running, idle) {
			en.sched.Store(idle)
			e.trigger(en, e.d.Now())
		}
	}
}

// evaluate runs one evaluation of an entry.
func (e *Evaluator) evaluate(ctx context.Context, en *entry, sc *scratch) {
	if en.removed.Load() || !e.ownedPart(en.part) {
		return
	}
	en.mu.Lock()
	a, cur := en.alarm, en.state
	en.mu.Unlock()
	now := e.d.Now()
	if step := time.Duration(en.step.Load()); step > 0 {
		en.nextAllowed.Store(now.Truncate(step).Add(step).UnixNano())
	}
	if t := en.triggered.Swap(0); t > 0 {
		e.met.triggerLatency.Update(float64(now.UnixNano()-t) / 1e9)
	}
	if !alarms.WithinTimeConstraints(a.TimeConstraints, now) {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.EvaluationTimeout)
	d := evaluate(ctx, e.d.Fetcher, a, cur, now, e.cfg.IngestionLag, sc)
	cancel()
	e.met.evaluations.Inc()
	e.met.evalDuration.UpdateDuration(start)
	e.apply(en, a, cur, d, now)
}

// apply acts on a decision as Aodh's _refresh: a new state (or an event
// alarm's repeat) is stored, recorded and notified; the same state with
// repeat_actions is only notified.
func (e *Evaluator) apply(en *entry, a *alarms.Alarm, cur alarms.State, d decision, now time.Time) {
	if !d.refresh {
		return
	}
	rd, err := json.Marshal(d.reasonData)
	if err != nil {
		panic("BUG: cannot encode reason data: " + err.Error())
	}
	var note *alarms.Notification
	if actions := a.Actions(d.state); len(actions) > 0 {
		note = &alarms.Notification{Actions: actions, AlarmID: a.ID, AlarmName: a.Name, Severity: a.Severity,
			Previous: cur, Current: d.state, Reason: d.reason, ReasonData: rd, ProjectID: a.ProjectID, At: now}
	}
	if cur == d.state && !d.always {
		if a.RepeatActions && note != nil {
			e.met.notifications.Inc()
			e.d.Notifier.Notify(note)
		}
		return
	}
	en.mu.Lock()
	if en.alarm != a || en.state != cur {
		// The API changed the alarm meanwhile; the next evaluation decides
		// afresh.
		en.mu.Unlock()
		return
	}
	en.state, en.stateAt = d.state, now
	en.mu.Unlock()
	// Aodh's detail is state and transition_reason; reason_data is vigil's
	// addition, so that the history says why as the notification does.
	detail, _ := json.Marshal(map[string]any{"state": d.state, "transition_reason": d.reason, "reason_data": json.RawMessage(rd)})
	c := commit{e: en, prev: cur, note: note, alarm: a, t: alarms.Transition{
		AlarmID: a.ID, State: d.state, Reason: d.reason, Timestamp: now,
		Change: alarms.Change{EventID: uuid.NewString(), AlarmID: a.ID, Type: alarms.ChangeStateTransition,
			Detail: detail, UserID: e.cfg.ServiceUserID, ProjectID: e.cfg.ServiceProjectID, OnBehalfOf: a.ProjectID,
			Severity: a.Severity, Timestamp: now},
	}}
	e.met.transitions.Inc()
	e.log.Info("alarm transitioning", "alarm_id", a.ID, "name", a.Name, "from", cur, "to", d.state, "reason", d.reason)
	e.commitMu.RLock()
	defer e.commitMu.RUnlock()
	if e.closed {
		return
	}
	e.commits <- c
}

// commitLoop stores state changes in batches, then notifies.
func (e *Evaluator) commitLoop() {
	batch := make([]commit, 0, e.cfg.CommitBatch)
	ts := make([]alarms.Transition, 0, e.cfg.CommitBatch)
	for c := range e.commits {
		batch = append(batch[:0], c)
	fill:
		for len(batch) < e.cfg.CommitBatch {
			select {
			case c, ok := <-e.commits:
				if !ok {
					break fill
				}
				batch = append(batch, c)
			default:
				break fill
			}
		}
		ts = ts[:0]
		for _, c := range batch {
			ts = append(ts, c.t)
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 30*time.Second)
		applied, err := e.d.Store.SaveTransitions(ctx, ts)
		cancel()
		if err != nil {
			e.met.commitErrors.Inc()
			e.log.Error("cannot store alarm state changes; they are evaluated again", "changes", len(batch), "err", err)
			for _, c := range batch {
				c.e.mu.Lock()
				if c.e.alarm == c.alarm && c.e.state == c.t.State {
					c.e.state = c.prev
				}
				c.e.mu.Unlock()
				c.e.nextAllowed.Store(0)
			}
			continue
		}
		for i, c := range batch {
			if applied[i] && c.note != nil {
				e.met.notifications.Inc()
				e.d.Notifier.Notify(c.note)
			}
		}
	}
}

// SeriesUpdated triggers the alarms that watch the announced series.
func (e *Evaluator) SeriesUpdated(u *alarms.Update) {
	now := e.d.Now()
	var hits []*entry
	e.mu.RLock()
	for i := range u.Series {
		hits = e.lookup(&u.Series[i], hits)
	}
	e.mu.RUnlock()
	for _, en := range hits {
		e.trigger(en, now)
	}
	e.met.updatedSeries.Add(len(u.Series))
}

func (e *Evaluator) onUpdate(m *nats.Msg) {
	u, err := alarms.DecodeUpdate(m.Data)
	if err != nil {
		e.met.badMessages.Inc()
		e.log.Warn("dropping an update announcement", "subject", m.Subject, "err", err)
		return
	}
	e.met.updates.Inc()
	e.SeriesUpdated(u)
}

func (e *Evaluator) onChange(m *nats.Msg) {
	id := string(m.Data)
	if len(id) == 0 || len(id) > 255 {
		e.met.badMessages.Inc()
		return
	}
	e.reload(e.ctx, id)
}

func (e *Evaluator) onEvent(m *nats.Msg) {
	ev, err := alarms.DecodeEvent(m.Data)
	if err != nil {
		e.met.badMessages.Inc()
		e.log.Warn("dropping an event", "subject", m.Subject, "err", err)
		return
	}
	e.HandleEvent(ev)
}

// HandleEvent evaluates the enabled event alarms of the event's project.
func (e *Evaluator) HandleEvent(ev *alarms.Event) {
	e.mu.RLock()
	list := append([]*entry(nil), e.events[ev.ProjectID]...)
	e.mu.RUnlock()
	e.met.events.Inc()
	now := e.d.Now()
	for _, en := range list {
		if en.removed.Load() || !e.ownedPart(en.part) {
			continue
		}
		en.mu.Lock()
		a, cur := en.alarm, en.state
		en.mu.Unlock()
		r, ok := a.Rule.(*alarms.EventRule)
		if !ok {
			continue
		}
		e.apply(en, a, cur, eventDecision(r, cur, a.RepeatActions, ev), now)
	}
}

// State returns the evaluator's view of an alarm's state, for tests and
// diagnostics.
func (e *Evaluator) State(id string) (alarms.State, bool) {
	e.mu.RLock()
	en := e.entries[id]
	e.mu.RUnlock()
	if en == nil {
		return "", false
	}
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.state, true
}

// Announcer tells evaluators over NATS that an alarm changed, for an API
// running without an evaluator in its process.
type Announcer struct {
	NC     *nats.Conn
	Prefix string
}

// AlarmChanged publishes the alarm id on the changes subject.
func (a Announcer) AlarmChanged(_ context.Context, id string) {
	_ = a.NC.Publish(alarms.ChangesSubject(a.Prefix), []byte(id))
}
