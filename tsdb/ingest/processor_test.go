package ingest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/bus"
	"github.com/vigil-telemetry/vigil/pipeline/wire"
	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/query"
	"github.com/vigil-telemetry/vigil/tsdb/storage"
)

// The workload of these tests: resources × meters series, one point a
// second, value = the point's index, so that count and sum of every metric
// are known exactly.
const (
	testResources  = 12
	testMeters     = 3
	testPartitions = 8
)

var testStart = time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)

// testPolicy is a single 1-hour bucket with count and sum: any lost or
// doubled measure shows.
func testPolicy() archive.Policy {
	return archive.Policy{
		Name:        "exact",
		BackWindow:  100,
		Methods:     []archive.Method{{Kind: archive.Count}, {Kind: archive.Sum}},
		Definitions: []archive.Definition{{Granularity: time.Hour, Points: 24}},
	}
}

func prepareTestIndex(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	idx, err := index.Open(ctx, url, index.Options{})
	if err != nil {
		t.Fatalf("open index: %v", err)
	}
	defer idx.Close()
	if err := idx.CreateArchivePolicy(ctx, testPolicy()); err != nil {
		t.Fatal(err)
	}
	if err := idx.CreateArchivePolicyRule(ctx, archive.Rule{Name: "exact", MetricPattern: "exact.*", PolicyName: "exact"}); err != nil {
		t.Fatal(err)
	}
}

func busConfig(dir string) bus.Config {
	cfg := bus.DefaultConfig()
	cfg.DataDir = dir
	cfg.Partitions = testPartitions
	cfg.LeaseTTL = 2 * time.Second
	cfg.LeaseRenew = 300 * time.Millisecond
	cfg.AckWait = 5 * time.Second
	cfg.DrainTimeout = 2 * time.Second
	return cfg
}

// publishPoints publishes points [from, to) of every series, in batches of
// step points.
func publishPoints(t *testing.T, b *bus.Bus, from, to, step int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bld := wire.NewBuilder("test", "tester:ops")
	for lo := from; lo < to; lo += step {
		bld.Reset()
		for r := range testResources {
			for m := range testMeters {
				for i := lo; i < min(lo+step, to); i++ {
					s := pipeline.Sample{
						Name: fmt.Sprintf("exact.m%d", m), Type: pipeline.Gauge, Unit: "1",
						Volume: float64(i), ResourceID: fmt.Sprintf("res-%d", r), ResourceType: "generic",
						Timestamp: testStart.Add(time.Duration(i) * time.Second),
					}
					if err := bld.Add(&s); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := b.PublishWith(ctx, bld.Batch(), bus.PublishOptions{MsgID: "pts-" + strconv.Itoa(lo)}); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// waitDrained waits until every partition's consumer has acknowledged
// everything.
func waitDrained(t *testing.T, b *bus.Bus, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(d)
	for {
		left := uint64(0)
		for p := range testPartitions {
			c, err := b.Consumer(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			left += info.NumPending + uint64(info.NumAckPending)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages not acknowledged after %v", left, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkExact asserts count and sum of every metric: points [0, n) each
// exactly once.
func checkExact(t *testing.T, idx *index.Index, st storage.Storage, n int) {
	t.Helper()
	ctx := context.Background()
	p := testPolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	ms, err := idx.ListMetrics(ctx, index.ListMetricOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != testResources*testMeters {
		t.Fatalf("%d metrics, want %d", len(ms), testResources*testMeters)
	}
	rd := query.NewReader(st)
	wantSum := float64(n*(n-1)) / 2
	for _, m := range ms {
		var count, sum float64
		cs, err := rd.Measures(ctx, m.ID, &p, query.MeasuresOptions{Method: archive.Method{Kind: archive.Count}})
		if err != nil {
			t.Fatal(err)
		}
		ss, err := rd.Measures(ctx, m.ID, &p, query.MeasuresOptions{Method: archive.Method{Kind: archive.Sum}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			count += c.Value
		}
		for _, s := range ss {
			sum += s.Value
		}
		if count != float64(n) || sum != wantSum {
			t.Errorf("metric %s %s: count %v sum %v, want %d and %v", m.Name, m.ID, count, sum, n, wantSum)
		}
	}
}

func startProcessor(t *testing.T, id string, b *bus.Bus, idx *index.Index, st storage.Storage) (*Processor, func()) {
	t.Helper()
	p := NewProcessor(Config{ID: id, FlushInterval: 50 * time.Millisecond}, b, idx, st, metrics.NewSet(), discardLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return p, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("processor %s: %v", id, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("processor %s did not stop", id)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestTwoProcessorsShareAndTakeOver runs two processors on one NATS: they
// split the partitions; when one dies without releasing its leases, the
// other takes its partitions over once the leases expire, and no measure is
// lost or doubled.
func TestTwoProcessorsShareAndTakeOver(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := busConfig(filepath.Join(dir, "nats"))
	cfg.Listen = freeAddr(t)
	srv, err := bus.Open(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	clientCfg := busConfig("")
	clientCfg.URL = srv.ClientURL()
	b1, err := bus.Open(ctx, clientCfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	b2, err := bus.Open(ctx, clientCfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	url := "sqlite://" + filepath.Join(dir, "index.db")
	prepareTestIndex(t, url)
	idx, err := index.Open(ctx, url, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	st := openTestStore(t)

	p1, stop1 := startProcessor(t, "p1", b1, idx, st)
	defer stop1()
	p2, stop2 := startProcessor(t, "p2", b2, idx, st)
	eventually(t, 20*time.Second, "both processors own partitions", func() bool {
		a, b := p1.Partitions(), p2.Partitions()
		all := append(slices.Clone(a), b...)
		slices.Sort(all)
		return len(a) > 0 && len(b) > 0 && len(slices.Compact(all)) == testPartitions && len(a)+len(b) == testPartitions
	})
	publishPoints(t, srv, 0, 600, 60)
	waitDrained(t, srv, 30*time.Second)

	// p2 dies: its connection goes away without releasing its leases.
	b2.Conn().Close()
	stop2()
	publishPoints(t, srv, 600, 1200, 60)
	eventually(t, 20*time.Second, "p1 owns every partition", func() bool { return len(p1.Partitions()) == testPartitions })
	waitDrained(t, srv, 30*time.Second)
	checkExact(t, idx, st, 1200)
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// crashChildEnv makes the test binary a processor child for the crash test.
const crashChildEnv = "VIGIL_INGEST_CRASH_CHILD"

// TestCrashChild is the child of TestProcessorSurvivesSIGKILL; run alone it
// does nothing.
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		return
	}
	// spec: nats URL|index URL|storage dir|processor id
	parts := strings.Split(spec, "|")
	ctx := context.Background()
	cfg := busConfig("")
	cfg.URL = parts[0]
	b, err := bus.Open(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(ctx, parts[1], index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.OpenPebble(parts[2], storage.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := NewProcessor(Config{ID: parts[3], FlushInterval: 20 * time.Millisecond, BatchMax: 8}, b, idx, st, metrics.NewSet(), discardLogger())
	rctx, cancel := context.WithCancel(ctx)
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
		<-sig
		cancel()
	}()
	fmt.Println("child running")
	if err := p.Run(rctx); err != nil {
		t.Fatal(err)
	}
	st.Close()
	idx.Close()
	b.Close()
}

// TestProcessorSurvivesSIGKILL kills a processor subprocess with SIGKILL in
// the middle of the stream, starts another, and expects every measure the
// bus accepted to be stored exactly once.
func TestProcessorSurvivesSIGKILL(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	cfg := busConfig(filepath.Join(dir, "nats"))
	cfg.Listen = freeAddr(t)
	srv, err := bus.Open(ctx, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	indexURL := "sqlite://" + filepath.Join(dir, "index.db")
	prepareTestIndex(t, indexURL)
	storeDir := filepath.Join(dir, "series")
	publishPoints(t, srv, 0, 1500, 30)

	child := func(id string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+strings.Join([]string{srv.ClientURL(), indexURL, storeDir, id}, "|"))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "child running") {
					close(ready)
				}
			}
		}()
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			t.Fatal("child did not start")
		}
		return cmd
	}
	acked := func() uint64 {
		var n uint64
		for p := range testPartitions {
			c, err := srv.Consumer(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += info.AckFloor.Consumer
		}
		return n
	}
	first := child("crash-a")
	eventually(t, 60*time.Second, "the first child acknowledges some batches", func() bool { return acked() > 20 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	publishPoints(t, srv, 1500, 3000, 30)

	// Another processor id: it gets the partitions only once the dead
	// one's leases expire, as a replacement on another machine would.
	second := child("crash-b")
	waitDrained(t, srv, 120*time.Second)
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Fatalf("second child: %v", err)
	}

	idx, err := index.Open(ctx, indexURL, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	st, err := storage.OpenPebble(storeDir, storage.PebbleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkExact(t, idx, st, 3000)
}
