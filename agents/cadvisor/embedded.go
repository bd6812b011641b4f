package cadvisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/cadvisor/lib/cache/memory"
	"github.com/google/cadvisor/lib/container"
	"github.com/google/cadvisor/lib/manager"
	"github.com/google/cadvisor/lib/model"
	"github.com/google/cadvisor/lib/utils/sysfs"

	// Container runtimes whose containers carry labels (Kubernetes's
	// among them); without them cgroups are seen through the raw handler
	// only. A runtime whose socket is absent is skipped at start.
	_ "github.com/google/cadvisor/lib/container/containerd/install"
	_ "github.com/google/cadvisor/lib/container/crio/install"

	// Filesystem statistics. NFS is left out: statfs on a hung server
	// blocks without recourse.
	_ "github.com/google/cadvisor/lib/fs/overlay/install"
	_ "github.com/google/cadvisor/lib/fs/tmpfs/install"
	_ "github.com/google/cadvisor/lib/fs/vfs/install"
)

// process is the process's one cAdvisor manager. cAdvisor registers its
// container handlers in process-wide state and cannot stop the
// per-container housekeeping goroutines it starts, so the manager is
// started by the first embedded pollster and runs until the process exits;
// every embedded pollster reads it.
var process struct {
	mu       sync.Mutex // guards the fields below
	m        manager.Manager
	interval time.Duration
}

// processManager returns the process's manager, starting it with the given
// housekeeping interval if it is not running.
func processManager(interval time.Duration, log *slog.Logger) (manager.Manager, error) {
	process.mu.Lock()
	defer process.mu.Unlock()
	if process.m != nil {
		if interval != process.interval {
			log.Info("cAdvisor manager already running; its housekeeping interval stays", "interval", process.interval, "asked", interval)
		}
		return process.m, nil
	}
	// The manager takes the housekeeping period of every container from
	// this flag, not from its config (which is the bound of dynamic
	// housekeeping, off here): set it as cAdvisor's own binary does.
	*manager.HousekeepingInterval = interval
	dynamic := false
	metrics := container.MetricSet{
		container.CpuUsageMetrics:     {},
		container.MemoryUsageMetrics:  {},
		container.NetworkUsageMetrics: {},
		container.DiskUsageMetrics:    {},
	}
	// Two intervals of history: a poll needs only the latest statistics.
	cache := memory.New(2*interval, nil)
	m, err := manager.New(cache, sysfs.NewRealSysFs(),
		manager.HousekeepingConfig{Interval: &interval, AllowDynamic: &dynamic},
		metrics,
		[]string{""}, // accept every cgroup: nil would report "/" only
		nil, "", 0)
	if err != nil {
		return nil, fmt.Errorf("cannot create the cAdvisor manager: %w", err)
	}
	if err := m.Start(); err != nil {
		// Start may have registered handlers; the next try starts from
		// a clean registry.
		container.ClearContainerHandlerFactories()
		return nil, fmt.Errorf("cannot start the cAdvisor manager: %w", err)
	}
	process.m, process.interval = m, interval
	return m, nil
}

// embedded reads the process's cAdvisor manager.
type embedded struct {
	m      manager.Manager
	maxAge time.Duration

	mu   sync.Mutex // guards busy
	busy bool       // a read is running, perhaps abandoned by a poll whose context ended
}

// errBusy is returned when the previous read has not finished yet: reads
// do not pile up behind a stuck cgroup filesystem.
var errBusy = errors.New("the previous cAdvisor read is still running")

// result is what one manager query returned.
type result struct {
	infos map[string]model.ContainerInfo
	err   error
}

func (e *embedded) read(ctx context.Context, dst []reading, skipped []string) ([]reading, []string, error) {
	e.mu.Lock()
	if e.busy {
		e.mu.Unlock()
		return dst, skipped, errBusy
	}
	e.busy = true
	e.mu.Unlock()
	// The manager's query takes no context and may block on the cgroup
	// filesystem: run it aside so that the poll can give up on it.
	done := make(chan result, 1)
	go func() {
		defer func() {
			e.mu.Lock()
			e.busy = false
			e.mu.Unlock()
		}()
		maxAge := e.maxAge
		infos, err := e.m.GetContainerInfoV2("/", model.RequestOptions{
			IdType: model.TypeName, Count: 1, Recursive: true, MaxAge: &maxAge,
		})
		done <- result{infos, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return dst, skipped, fmt.Errorf("cannot read cAdvisor's containers: %w", ctx.Err())
	}
	if len(res.infos) == 0 && res.err != nil {
		return dst, skipped, fmt.Errorf("cannot read cAdvisor's containers: %w", res.err)
	}
	// A partial failure names the containers that vanished or could not
	// be read; they come with no statistics and are skipped below.
	for name, ci := range res.infos {
		dst = append(dst, reading{})
		if !dst[len(dst)-1].fromModel(name, &ci) {
			dst = dst[:len(dst)-1]
			skipped = append(skipped, name)
		}
	}
	return dst, skipped, nil
}
