package cadvisor

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// workloadEnv makes the test binary the workload of a test cgroup
// instead of running tests.
const workloadEnv = "VIGIL_CADVISOR_WORKLOAD"

// workloadBytes is what the workload allocates and touches once it is in
// its cgroup, so that the cgroup's memory is known.
const workloadBytes = 64 << 20

func TestMain(m *testing.M) {
	if os.Getenv(workloadEnv) != "" {
		workload()
		return
	}
	os.Exit(m.Run())
}

// workload waits for a line on stdin (its parent has moved it into the
// cgroup by then), allocates workloadBytes, says "ready", then burns some
// CPU until stdin closes.
func workload() {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(2)
	}
	buf := make([]byte, workloadBytes)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	fmt.Println("ready")
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, in)
		close(done)
	}()
	for {
		select {
		case <-done:
			runtime.KeepAlive(buf)
			os.Exit(0)
		default:
		}
		// About a quarter of one CPU: the machine is shared.
		for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
		}
		time.Sleep(60 * time.Millisecond)
	}
}

const cgroupRoot = "/sys/fs/cgroup"

// testCgroup is a cgroup the test made, in every v1 hierarchy it needs or
// in the v2 unified hierarchy.
type testCgroup struct {
	name string   // cAdvisor's name: "/<dir>"
	dirs []string // one per hierarchy
}

// v1Controllers are the v1 hierarchies cAdvisor reads a container from.
var v1Controllers = []string{"cpu", "cpuacct", "memory", "blkio", "pids", "cpuset"}

func makeCgroup(t *testing.T) *testCgroup {
	t.Helper()
	dir := fmt.Sprintf("vigil-cadvisor-test-%d", os.Getpid())
	cg := &testCgroup{name: "/" + dir}
	fail := func(err error) {
		cg.remove()
		t.Fatalf("cannot make test cgroup %s (the test needs root and a writable cgroup filesystem at %s): %v",
			dir, cgroupRoot, err)
	}
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		// cgroup v2: one hierarchy; the controllers must be on for children.
		for _, c := range []string{"+cpu", "+memory"} {
			_ = os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte(c), 0)
		}
		d := filepath.Join(cgroupRoot, dir)
		if err := os.Mkdir(d, 0o755); err != nil {
			fail(err)
		}
		cg.dirs = append(cg.dirs, d)
		return cg
	}
	for _, c := range v1Controllers {
		if _, err := os.Stat(filepath.Join(cgroupRoot, c)); err != nil {
			continue // not mounted separately (e.g. cpu,cpuacct joined): skip
		}
		d := filepath.Join(cgroupRoot, c, dir)
		if err := os.Mkdir(d, 0o755); err != nil {
			fail(err)
		}
		cg.dirs = append(cg.dirs, d)
		if c == "cpuset" {
			// A cpuset cgroup takes no task before it has CPUs and nodes.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join(cgroupRoot, c, f))
				if err == nil {
					err = os.WriteFile(filepath.Join(d, f), v, 0)
				}
				if err != nil {
					fail(err)
				}
			}
		}
	}
	if len(cg.dirs) == 0 {
		fail(fmt.Errorf("no cgroup v1 hierarchy of %v mounted", v1Controllers))
	}
	return cg
}

func (cg *testCgroup) add(pid int) error {
	for _, d := range cg.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return err
		}
	}
	return nil
}

// remove removes the cgroup, which must hold no process by then.
func (cg *testCgroup) remove() error {
	var first error
	for _, d := range cg.dirs {
		var err error
		// The kernel may take a moment to let go of an exited task.
		for range 50 {
			if err = os.Remove(d); err == nil || os.IsNotExist(err) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	cg.dirs = nil
	return first
}

// startWorkload runs the workload in cg and returns once it has allocated
// its memory; stop ends it.
func startWorkload(t *testing.T, cg *testCgroup) (stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), workloadEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			stdin.Close()
			cmd.Wait()
		}
	}
	if err := cg.add(cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		stop()
		t.Fatalf("cannot move the workload into %s: %v", cg.name, err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		stop()
		t.Fatalf("workload did not start: %q, %v", line, err)
	}
	return stop
}

// TestEmbeddedRealCgroups runs cAdvisor's manager in the test over this
// machine's cgroups, with a cgroup of the test's own holding a process of
// known memory and some CPU use.
func TestEmbeddedRealCgroups(t *testing.T) {
	cg := makeCgroup(t)
	defer func() {
		if err := cg.remove(); err != nil {
			t.Errorf("cannot remove test cgroup: %v", err)
		}
	}()
	stop := startWorkload(t, cg)
	defer stop()

	p, err := New(Config{Mode: ModeEmbedded, Hostname: "node-1", MaxAge: 100 * time.Millisecond}, testLogger())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	id := resourceID("node-1", cg.name)

	// cAdvisor finds the new cgroup through inotify, soon.
	var got polled
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err = pollOnce(t, p, time.Now())
		if err != nil {
			t.Fatalf("Poll: %v", err)
		}
		if _, ok := got[id+" container.memory.usage"]; ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s not reported after 20 s; got %d samples", cg.name, len(got))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	got, err = pollOnce(t, p, time.Now())
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	mem := got[id+" container.memory.usage"]
	t.Logf("%s: memory.usage %.0f B, rss %.0f B, cpu %.0f ns, cpu.util %.1f%%; %d samples in all", cg.name, mem.Volume,
		got[id+" container.memory.rss"].Volume, got[id+" container.cpu"].Volume, got[id+" container.cpu.util"].Volume, len(got))
	if mem.Volume < workloadBytes || mem.Volume > 4*workloadBytes {
		t.Errorf("memory.usage of the workload = %v B; it allocated %d", mem.Volume, workloadBytes)
	}
	if ws := got[id+" container.memory.working_set"].Volume; ws < workloadBytes*0.9 || ws > mem.Volume {
		t.Errorf("memory.working_set = %v B, usage %v", ws, mem.Volume)
	}
	if rss := got[id+" container.memory.rss"].Volume; rss < workloadBytes*0.9 {
		t.Errorf("memory.rss = %v B; the workload has %d anonymous", rss, workloadBytes)
	}
	if cpu := got[id+" container.cpu"].Volume; cpu <= 0 {
		t.Errorf("container.cpu = %v ns", cpu)
	}
	// The workload burns about a quarter of a CPU; bounds are loose for a
	// loaded machine.
	if u, ok := got[id+" container.cpu.util"]; !ok || u.Volume <= 0.5 || u.Volume > 200 {
		t.Errorf("container.cpu.util = %v (present %v)", u.Volume, ok)
	}
	if md := mem.Metadata; md["name"] != cg.name || md["host"] != "node-1" || mem.ResourceType != "container" {
		t.Errorf("sample %+v", mem)
	}
	// The root cgroup is the machine: it has the network and filesystems.
	for _, m := range []string{"container.memory.usage", "container.cpu", "container.network.incoming.bytes", "container.filesystem.limit"} {
		if s, ok := got["node-1:_ "+m]; !ok || s.Volume <= 0 {
			t.Errorf("root cgroup %s = %v (present %v)", m, s.Volume, ok)
		}
	}

	// The container stops and its cgroup goes: it leaves the polls, which
	// never fail for it.
	stop()
	if err := cg.remove(); err != nil {
		t.Fatalf("cannot remove test cgroup: %v", err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		got, err = pollOnce(t, p, time.Now())
		if err != nil {
			t.Fatalf("Poll after the container stopped: %v", err)
		}
		if _, ok := got[id+" container.memory.usage"]; !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stopped container %s still reported after 20 s", cg.name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, ok := got["node-1:_ container.cpu"]; !ok {
		t.Error("root cgroup missing after the container stopped")
	}
}
