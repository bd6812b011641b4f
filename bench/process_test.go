package bench

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vigilProcess is `vigil all` run as its own process, so that its RSS and
// CPU are its own and not the benchmark's.
type vigilProcess struct {
	cmd  *exec.Cmd
	addr string
	log  bytes.Buffer
}

// buildVigil builds the binary once per test binary run.
func buildVigil(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "vigil")
	args := []string{"build", "-o", bin}
	if tags := os.Getenv("BENCH_BUILD_TAGS"); tags != "" {
		args = append(args, "-tags", tags)
	}
	out, err := exec.Command("go", append(args, "../cmd/vigil")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startVigil(tb testing.TB, bin, dataDir string, env ...string) *vigilProcess {
	tb.Helper()
	p := &vigilProcess{addr: freeAddr(tb)}
	p.cmd = exec.Command(bin, "all", "--data-dir", dataDir, "--listen", p.addr)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.log
	p.cmd.Stderr = &p.log
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			p.stop(tb)
			tb.Fatalf("vigil did not become healthy in 30 s:\n%s", p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *vigilProcess) stop(tb testing.TB) {
	tb.Helper()
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		tb.Errorf("vigil did not stop within 10 s of SIGINT")
	}
}

// rssBytes reads the resident set size of pid.
func rssBytes(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb * 1024
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// cpuSeconds reads the user+system CPU time of pid.
func cpuSeconds(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which may hold spaces, in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// BenchmarkIdle measures `vigil all` on the embedded default, polling the
// host every 10 s with nothing else to do: RSS and CPU share of one core
// over a minute, after a warm-up.
func BenchmarkIdle(b *testing.B) {
	bin := buildVigil(b)
	for i := 0; i < b.N; i++ {
		p := startVigil(b, bin, b.TempDir(), "VIGIL_API_AUTH_MODE=noauth")
		time.Sleep(15 * time.Second)
		pid := p.cmd.Process.Pid
		c0, t0 := cpuSeconds(b, pid), time.Now()
		var rssMax float64
		for time.Since(t0) < 60*time.Second {
			time.Sleep(5 * time.Second)
			rssMax = max(rssMax, rssBytes(b, pid))
		}
		cpu := (cpuSeconds(b, pid) - c0) / time.Since(t0).Seconds() * 100
		p.stop(b)
		b.ReportMetric(rssMax/1e6, "RSS_MB")
		b.ReportMetric(cpu, "CPU_%_of_core")
		fmt.Printf("idle vigil all: RSS %.1f MB (max over 60 s), CPU %.2f%% of one core\n", rssMax/1e6, cpu)
	}
}
