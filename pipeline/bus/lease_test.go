package bus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ownership records what onChange last reported for each owner.
type ownership struct {
	mu    sync.Mutex
	owned map[string][]int
}

func (o *ownership) onChange(owner string) func([]int) {
	return func(ps []int) {
		if !slices.IsSorted(ps) {
			panic(fmt.Sprintf("BUG: onChange got unsorted %v", ps))
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		o.owned[owner] = slices.Clone(ps)
	}
}

func (o *ownership) get(owner string) []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.owned[owner]
}

// fair reports whether owners hold disjoint sets that cover every partition,
// none holding more than its fair share.
func (o *ownership) fair(partitions int, owners ...string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	share := (partitions + len(owners) - 1) / len(owners)
	seen := make(map[int]bool)
	for _, w := range owners {
		if len(o.owned[w]) > share {
			return false
		}
		for _, p := range o.owned[w] {
			if seen[p] {
				return false
			}
			seen[p] = true
		}
	}
	return len(seen) == partitions
}

// runLeases runs lm for owner until the returned stop is called.
func runLeases(t *testing.T, lm *Leases, owner string, o *ownership) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lm.Run(ctx, owner, o.onChange(owner)) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run(%s): %v", owner, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run(%s) did not return after cancel", owner)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestLeasesSplitAndHandOver(t *testing.T) {
	b := openTestBus(t, testConfig(t))
	o := &ownership{owned: map[string][]int{}}
	stopA := runLeases(t, b.Leases(), "proc-a", o)
	waitFor(t, 10*time.Second, "proc-a owns all 16", func() bool { return len(o.get("proc-a")) == 16 })

	runLeases(t, b.Leases(), "proc-b", o)
	waitFor(t, 15*time.Second, "an 8/8 split", func() bool {
		return len(o.get("proc-a")) == 8 && len(o.get("proc-b")) == 8 && o.fair(16, "proc-a", "proc-b")
	})

	// A third processor gets a share without overlap.
	stopC := runLeases(t, b.Leases(), "proc-c.example.org", o)
	waitFor(t, 15*time.Second, "a three-way split", func() bool {
		return o.fair(16, "proc-a", "proc-b", "proc-c.example.org")
	})
	stopC()
	if got := o.get("proc-c.example.org"); len(got) != 0 {
		t.Errorf("stopped processor still reports %v", got)
	}

	// A stopping processor releases its leases: the other takes them over
	// well before they would expire.
	start := time.Now()
	stopA()
	if got := o.get("proc-a"); len(got) != 0 {
		t.Errorf("stopped processor still reports %v", got)
	}
	waitFor(t, 15*time.Second, "proc-b owns all 16", func() bool { return len(o.get("proc-b")) == 16 })
	if d := time.Since(start); d > b.cfg.LeaseTTL {
		t.Errorf("hand-over after a clean stop took %v, more than the lease TTL %v", d, b.cfg.LeaseTTL)
	}
}

// TestLeasesTakeOverFromDeadProcessor kills a processor's connection: its
// leases expire and the survivor takes every partition.
func TestLeasesTakeOverFromDeadProcessor(t *testing.T) {
	b := openTestBus(t, testConfig(t))
	ctx := context.Background()
	nc, err := nats.Connect("", nats.InProcessServer(b.srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, b.leaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	o := &ownership{owned: map[string][]int{}}
	dying := newLeases(kv, b.cfg.Partitions, b.cfg.LeaseTTL, b.cfg.LeaseRenew, b.log, b.met)
	runLeases(t, dying, "dying", o)
	runLeases(t, b.Leases(), "survivor", o)
	waitFor(t, 15*time.Second, "an 8/8 split", func() bool {
		return len(o.get("dying")) == 8 && len(o.get("survivor")) == 8 && o.fair(16, "dying", "survivor")
	})

	start := time.Now()
	nc.Close() // the processor dies without releasing anything
	waitFor(t, 15*time.Second, "survivor owns all 16", func() bool { return len(o.get("survivor")) == 16 })
	t.Logf("take-over after %v (lease TTL %v)", time.Since(start), b.cfg.LeaseTTL)
	// The cut-off processor gives its partitions up by itself once it
	// cannot renew them.
	waitFor(t, 2*b.cfg.LeaseTTL, "dead processor drops its partitions", func() bool { return len(o.get("dying")) == 0 })
}

func TestLeasesRejectBadOwner(t *testing.T) {
	b := openTestBus(t, testConfig(t))
	for _, owner := range []string{"", ".a", "a.", "a..b", "a b", "a*", "a>"} {
		if err := b.Leases().Run(context.Background(), owner, nil); err == nil {
			t.Errorf("Run(%q): nil error", owner)
		}
	}
}
