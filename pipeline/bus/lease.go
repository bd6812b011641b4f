package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the lease bucket; SUBJECTS.md describes them.
const (
	heartbeatKeyPrefix = "proc."
	leaseKeyPrefix     = "part."
)

// Leases shares the partitions among processors through the lease bucket
// (<StreamPrefix>_LEASES). Each processor announces itself with a heartbeat
// key and holds each of its partitions with a lease key; the bucket's TTL
// removes keys that stop being renewed, so the partitions of a processor
// that dies are taken over after about LeaseTTL. Leases is safe for
// concurrent use: each Run keeps its own state.
type Leases struct {
	kv         jetstream.KeyValue
	partitions int
	ttl        time.Duration
	renew      time.Duration
	log        *slog.Logger
	met        *busMetrics
}

// Leases returns the lease manager of the bus's partitions.
func (b *Bus) Leases() *Leases {
	return newLeases(b.leaseKV, b.cfg.Partitions, b.cfg.LeaseTTL, b.cfg.LeaseRenew, b.log, b.met)
}

func newLeases(kv jetstream.KeyValue, partitions int, ttl, renew time.Duration, log *slog.Logger, met *busMetrics) *Leases {
	return &Leases{kv: kv, partitions: partitions, ttl: ttl, renew: renew, log: log, met: met}
}

// held is a lease this processor holds.
type held struct {
	rev     uint64    // revision of the lease key written last
	renewed time.Time // when that write was acknowledged
}

// leaseRun is the state of one Run; only its goroutine touches it.
type leaseRun struct {
	lm       *Leases
	owner    string
	offset   int // where this owner starts looking for free partitions
	owned    map[int]held
	onChange func(owned []int)
}

// Run holds a fair share of the partitions for owner until ctx ends: every
// LeaseRenew it renews its heartbeat and leases, releases partitions beyond
// ceil(partitions / live processors), and claims free or abandoned ones up to
// that share. onChange gets the sorted set of owned partitions whenever it
// changes; it runs on Run's goroutine and must return promptly. A partition
// leaves the set before its lease is released, so a processor that stops
// consuming a partition in onChange has stopped before another one starts. A
// lease that cannot be renewed for LeaseTTL-LeaseRenew leaves the set too.
// When ctx ends Run calls onChange(nil), releases everything and returns
// nil. owner must be unique among processors and made of letters, digits,
// '-', '_' and non-leading, non-trailing dots.
func (lm *Leases) Run(ctx context.Context, owner string, onChange func(owned []int)) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("cannot run partition leases: owner: %w", err)
	}
	if onChange == nil {
		onChange = func([]int) {}
	}
	r := &leaseRun{
		lm:       lm,
		owner:    owner,
		offset:   PartitionOf(uuid.UUID(fnvKey(owner)), lm.partitions),
		owned:    make(map[int]held),
		onChange: onChange,
	}
	t := time.NewTicker(lm.renew)
	defer t.Stop()
	for {
		r.tick(ctx)
		select {
		case <-ctx.Done():
			r.releaseAll(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
		}
	}
}

// tick runs one round of heartbeat, renewal, release and claim.
func (r *leaseRun) tick(ctx context.Context) {
	lm := r.lm
	ctx, cancel := context.WithTimeout(ctx, lm.renew)
	defer cancel()
	now := time.Now()
	if _, err := lm.kv.Put(ctx, heartbeatKeyPrefix+r.owner, []byte(r.owner)); err != nil {
		lm.fail("cannot renew processor heartbeat", err)
		if r.dropStale(now) {
			r.report()
		}
		return
	}
	live, leases, err := r.snapshot(ctx)
	if err != nil {
		lm.fail("cannot read partition leases", err)
		if r.dropStale(now) {
			r.report()
		}
		return
	}
	live[r.owner] = true
	target := (lm.partitions + len(live) - 1) / len(live)

	changed := false
	// Renew what the bucket says is ours, adopting leases a previous run
	// of the same owner left behind; forget what it says is not.
	for p, e := range leases {
		if string(e.Value()) == r.owner {
			if _, ok := r.owned[p]; !ok {
				changed = true
			}
			r.owned[p] = held{rev: e.Revision(), renewed: r.owned[p].renewed}
		}
	}
	for p, h := range r.owned {
		e, ok := leases[p]
		if !ok || string(e.Value()) != r.owner {
			delete(r.owned, p)
			changed = true
			continue
		}
		rev, err := lm.kv.Update(ctx, leaseKey(p), []byte(r.owner), h.rev)
		switch {
		case err == nil:
			r.owned[p] = held{rev: rev, renewed: time.Now()}
		case isRefusal(err):
			delete(r.owned, p)
			changed = true
		default:
			lm.fail("cannot renew partition lease", err, "partition", p)
		}
	}
	changed = r.dropStale(now) || changed

	if extra := len(r.owned) - target; extra > 0 {
		release := r.sorted()[len(r.owned)-extra:]
		rel := make(map[int]uint64, extra)
		for _, p := range slices.Backward(release) {
			rel[p] = r.owned[p].rev
			delete(r.owned, p)
		}
		r.report()
		changed = false
		for p, rev := range rel {
			if err := lm.kv.Delete(ctx, leaseKey(p), jetstream.LastRevision(rev)); err != nil && !isRefusal(err) {
				lm.fail("cannot release partition lease", err, "partition", p)
			}
		}
	}

	for i := 0; i < lm.partitions && len(r.owned) < target; i++ {
		p := (r.offset + i) % lm.partitions
		if _, ok := r.owned[p]; ok {
			continue
		}
		var rev uint64
		var err error
		if e, ok := leases[p]; !ok {
			rev, err = lm.kv.Create(ctx, leaseKey(p), []byte(r.owner))
		} else if !live[string(e.Value())] {
			// Its owner's heartbeat is gone: take over before the lease
			// itself expires.
			rev, err = lm.kv.Update(ctx, leaseKey(p), []byte(r.owner), e.Revision())
		} else {
			continue
		}
		if err != nil {
			if !isRefusal(err) {
				lm.fail("cannot claim partition lease", err, "partition", p)
			}
			continue
		}
		r.owned[p] = held{rev: rev, renewed: time.Now()}
		changed = true
	}
	if changed {
		r.report()
	}
}

// dropStale forgets leases not renewed for LeaseTTL-LeaseRenew: by the
// time the next renewal could succeed, another processor may hold them.
func (r *leaseRun) dropStale(now time.Time) bool {
	dropped := false
	for p, h := range r.owned {
		if now.Sub(h.renewed) > r.lm.ttl-r.lm.renew {
			delete(r.owned, p)
			dropped = true
		}
	}
	return dropped
}

// snapshot reads the live processors and the current leases.
func (r *leaseRun) snapshot(ctx context.Context) (map[string]bool, map[int]jetstream.KeyValueEntry, error) {
	w, err := r.lm.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, nil, fmt.Errorf("cannot watch bucket %s: %w", r.lm.kv.Bucket(), err)
	}
	defer func() { _ = w.Stop() }()
	live := make(map[string]bool)
	leases := make(map[int]jetstream.KeyValueEntry)
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, nil, fmt.Errorf("watcher of bucket %s stopped", r.lm.kv.Bucket())
			}
			if e == nil { // all current values delivered
				return live, leases, nil
			}
			if owner, ok := strings.CutPrefix(e.Key(), heartbeatKeyPrefix); ok {
				live[owner] = true
			} else if ps, ok := strings.CutPrefix(e.Key(), leaseKeyPrefix); ok {
				// Partitions beyond the configured count are left over
				// from a larger configuration; nobody needs them.
				if p, err := strconv.Atoi(ps); err == nil && p >= 0 && p < r.lm.partitions {
					leases[p] = e
				}
			}
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("cannot read bucket %s: %w", r.lm.kv.Bucket(), ctx.Err())
		}
	}
}

// releaseAll gives everything up when Run ends.
func (r *leaseRun) releaseAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, r.lm.renew)
	defer cancel()
	rel := r.owned
	r.owned = map[int]held{}
	if len(rel) > 0 {
		r.report()
	}
	for p, h := range rel {
		if err := r.lm.kv.Delete(ctx, leaseKey(p), jetstream.LastRevision(h.rev)); err != nil && !isRefusal(err) {
			r.lm.fail("cannot release partition lease", err, "partition", p)
		}
	}
	if err := r.lm.kv.Delete(ctx, heartbeatKeyPrefix+r.owner); err != nil {
		r.lm.fail("cannot remove processor heartbeat", err)
	}
}

func (r *leaseRun) sorted() []int {
	ps := make([]int, 0, len(r.owned))
	for p := range r.owned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func (r *leaseRun) report() {
	owned := r.sorted()
	r.lm.met.leaseChanges.Inc()
	r.lm.log.Info("partition leases changed", "owner", r.owner, "owned", owned)
	r.onChange(owned)
}

func (lm *Leases) fail(msg string, err error, args ...any) {
	lm.met.leaseErrors.Inc()
	lm.log.Warn(msg, append(args, "bucket", lm.kv.Bucket(), "err", err)...)
}

// isRefusal reports whether the server refused a write (a revision check
// failed): the lease belongs to someone else, retrying will not help.
func isRefusal(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) || errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound)
}

func leaseKey(p int) string { return leaseKeyPrefix + strconv.Itoa(p) }

// fnvKey turns an owner into a partitioning key, to spread where owners
// start claiming.
func fnvKey(s string) (k [16]byte) {
	copy(k[:], s)
	if len(s) > 16 {
		for i := 16; i < len(s); i++ {
			k[i%16] ^= s[i]
		}
	}
	return k
}

func checkOwner(owner string) error {
	if owner == "" {
		return errors.New("empty")
	}
	if len(owner) > 128 {
		return fmt.Errorf("%q is longer than 128 characters", owner)
	}
	if owner[0] == '.' || owner[len(owner)-1] == '.' || strings.Contains(owner, "..") {
		return fmt.Errorf("%q has a leading, trailing or double dot", owner)
	}
	for _, r := range owner {
		if !isNameRune(r) && r != '.' {
			return fmt.Errorf("%q holds %q: want letters, digits, '-', '_' or '.'", owner, r)
		}
	}
	return nil
}
