package evaluator

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the lease bucket (../SUBJECTS.md).
const (
	heartbeatPrefix = "eval."
	leasePrefix     = "part."
)

type heldLease struct {
	rev     uint64
	renewed time.Time
}

// runLeases holds a fair share of the alarm partitions until ctx ends, as
// the sample processors do with theirs: every LeaseRenew it writes its
// heartbeat, renews its leases, releases those beyond ceil(partitions /
// live evaluators) and claims free or abandoned ones. Newly owned
// partitions are evaluated at once.
func (e *Evaluator) runLeases(ctx context.Context) {
	kv, err := e.leaseBucket(ctx)
	for err != nil {
		e.log.Warn("cannot open the alarm lease bucket; retrying", "bucket", e.cfg.LeaseBucket, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.cfg.LeaseRenew):
		}
		kv, err = e.leaseBucket(ctx)
	}
	held := map[int]heldLease{}
	t := time.NewTicker(e.cfg.LeaseRenew)
	defer t.Stop()
	for {
		e.leaseRound(ctx, kv, held)
		select {
		case <-ctx.Done():
			e.setOwned(nil)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.LeaseRenew)
			for p, h := range held {
				_ = kv.Delete(rctx, leasePrefix+strconv.Itoa(p), jetstream.LastRevision(h.rev))
			}
			_ = kv.Delete(rctx, heartbeatPrefix+e.cfg.Owner)
			cancel()
			return
		case <-t.C:
		}
	}
}

func (e *Evaluator) leaseBucket(ctx context.Context) (jetstream.KeyValue, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return e.d.JetStream.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{
		Bucket:      e.cfg.LeaseBucket,
		Description: "vigil alarm evaluator heartbeats and partition leases",
		TTL:         e.cfg.LeaseTTL,
		History:     1,
		Storage:     jetstream.FileStorage,
	})
}

func (e *Evaluator) leaseRound(ctx context.Context, kv jetstream.KeyValue, held map[int]heldLease) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.LeaseRenew)
	defer cancel()
	now := time.Now()
	dropStale := func() {
		for p, h := range held {
			if now.Sub(h.renewed) > e.cfg.LeaseTTL-e.cfg.LeaseRenew {
				delete(held, p)
			}
		}
	}
	if _, err := kv.Put(ctx, heartbeatPrefix+e.cfg.Owner, []byte(e.cfg.Owner)); err != nil {
		e.log.Warn("cannot renew evaluator heartbeat", "err", err)
		dropStale()
		e.setOwned(held)
		return
	}
	live, leases, err := leaseSnapshot(ctx, kv, e.cfg.Partitions)
	if err != nil {
		e.log.Warn("cannot read alarm partition leases", "err", err)
		dropStale()
		e.setOwned(held)
		return
	}
	live[e.cfg.Owner] = true
	target := (e.cfg.Partitions + len(live) - 1) / len(live)
	for p, ent := range leases {
		if string(ent.Value()) == e.cfg.Owner {
			if _, ok := held[p]; !ok {
				held[p] = heldLease{rev: ent.Revision()}
			}
		}
	}
	for p := range held {
		ent, ok := leases[p]
		if !ok || string(ent.Value()) != e.cfg.Owner {
			delete(held, p)
			continue
		}
		rev, err := kv.Update(ctx, leasePrefix+strconv.Itoa(p), []byte(e.cfg.Owner), ent.Revision())
		switch {
		case err == nil:
			held[p] = heldLease{rev: rev, renewed: time.Now()}
		case refused(err):
			delete(held, p)
		default:
			e.log.Warn("cannot renew alarm partition lease", "partition", p, "err", err)
		}
	}
	dropStale()
	if extra := len(held) - target; extra > 0 {
		ps := make([]int, 0, len(held))
		for p := range held {
			ps = append(ps, p)
		}
		slices.Sort(ps)
		release := ps[len(ps)-extra:]
		rel := map[int]uint64{}
		for _, p := range release {
			rel[p] = held[p].rev
			delete(held, p)
		}
		// Stop evaluating before another evaluator may start.
		e.setOwned(held)
		for p, rev := range rel {
			_ = kv.Delete(ctx, leasePrefix+strconv.Itoa(p), jetstream.LastRevision(rev))
		}
	}
	offset := partitionOf(e.cfg.Owner, e.cfg.Partitions)
	for i := 0; i < e.cfg.Partitions && len(held) < target; i++ {
		p := (offset + i) % e.cfg.Partitions
		if _, ok := held[p]; ok {
			continue
		}
		var rev uint64
		var err error
		if ent, ok := leases[p]; !ok {
			rev, err = kv.Create(ctx, leasePrefix+strconv.Itoa(p), []byte(e.cfg.Owner))
		} else if !live[string(ent.Value())] {
			rev, err = kv.Update(ctx, leasePrefix+strconv.Itoa(p), []byte(e.cfg.Owner), ent.Revision())
		} else {
			continue
		}
		if err != nil {
			if !refused(err) {
				e.log.Warn("cannot claim alarm partition lease", "partition", p, "err", err)
			}
			continue
		}
		held[p] = heldLease{rev: rev, renewed: time.Now()}
	}
	e.setOwned(held)
}

// setOwned publishes the owned partitions and evaluates the alarms of
// those newly owned.
func (e *Evaluator) setOwned(held map[int]heldLease) {
	next := make([]bool, e.cfg.Partitions)
	for p := range held {
		next[p] = true
	}
	prev := *e.owned.Swap(&next)
	var gained []int
	for p := range next {
		if next[p] && (p >= len(prev) || !prev[p]) {
			gained = append(gained, p)
		}
	}
	if len(gained) == 0 && slices.Equal(prev, next) {
		return
	}
	e.log.Info("alarm partitions changed", "owner", e.cfg.Owner, "owned", ownedList(next))
	if len(gained) == 0 {
		return
	}
	e.mu.RLock()
	var list []*entry
	for _, en := range e.entries {
		if next[en.part] && !prev[en.part] && en.step.Load() > 0 {
			list = append(list, en)
		}
	}
	e.mu.RUnlock()
	now := e.d.Now()
	for _, en := range list {
		e.trigger(en, now)
	}
}

func ownedList(o []bool) []int {
	var out []int
	for p, ok := range o {
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// Owned returns the partitions this evaluator evaluates.
func (e *Evaluator) Owned() []int { return ownedList(*e.owned.Load()) }

func leaseSnapshot(ctx context.Context, kv jetstream.KeyValue, partitions int) (map[string]bool, map[int]jetstream.KeyValueEntry, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = w.Stop() }()
	live := map[string]bool{}
	leases := map[int]jetstream.KeyValueEntry{}
	for {
		select {
		case ent, ok := <-w.Updates():
			if !ok {
				return nil, nil, errors.New("lease watcher stopped")
			}
			if ent == nil {
				return live, leases, nil
			}
			if o, ok := strings.CutPrefix(ent.Key(), heartbeatPrefix); ok {
				live[o] = true
			} else if ps, ok := strings.CutPrefix(ent.Key(), leasePrefix); ok {
				if p, err := strconv.Atoi(ps); err == nil && p >= 0 && p < partitions {
					leases[p] = ent
				}
			}
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func refused(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound)
}
