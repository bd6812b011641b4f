package ipmi

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/types"
)

// The BMC user of testdata/lan.conf.
const (
	simUser     = "admin"
	simPassword = "password"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// sim is OpenIPMI's ipmi_sim, started by the test on loopback ports with
// the configuration in testdata: a BMC at 0x20 with the reference sensors
// (CPU Temp, Fan 1, PSU1 Power, 12V Rail) plus an inlet and an outlet
// temperature, and a fan with an SDR but no sensor.
type sim struct {
	addr    string // RMCP(+) address
	console string // emulator console address
	cmd     *exec.Cmd
	done    chan struct{}
}

func freePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testdataFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startSim compiles the SDRs, writes the configuration with fresh ports
// and starts ipmi_sim; it is stopped when the test ends.
func startSim(t testing.TB) *sim {
	t.Helper()
	for _, bin := range []string{"ipmi_sim", "sdrcomp"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found (install the Debian package openipmi): %v", bin, err)
		}
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	// ipmi_sim reads persisted SDRs from <state>/ipmi_sim/<name>/sdr.<mc>.main.
	sdrDir := filepath.Join(state, "ipmi_sim", "testbmc")
	if err := os.MkdirAll(sdrDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sdrs := filepath.Join(dir, "sensors.sdrs")
	if err := os.WriteFile(sdrs, []byte(testdataFile(t, "sensors.sdrs")+"\n"+testdataFile(t, "extra-sensors.sdrs")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sdrcomp", "-o", filepath.Join(sdrDir, "sdr.20.main"), sdrs).CombinedOutput(); err != nil {
		t.Fatalf("sdrcomp: %v: %s", err, out)
	}
	emu := testdataFile(t, "sim.emu")
	emu = strings.Replace(emu, "mc_enable 0x20", testdataFile(t, "extra.emu")+"\nmc_enable 0x20", 1)
	if err := os.WriteFile(filepath.Join(dir, "sim.emu"), []byte(emu), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		s := &sim{
			addr:    fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp")),
			console: fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")),
			done:    make(chan struct{}),
		}
		lan := testdataFile(t, "lan.conf")
		lan = strings.Replace(lan, "addr 127.0.0.1 9001", "addr "+strings.Replace(s.addr, ":", " ", 1), 1)
		lan = strings.Replace(lan, "console 127.0.0.1 9000", "console "+strings.Replace(s.console, ":", " ", 1), 1)
		if err := os.WriteFile(filepath.Join(dir, "lan.conf"), []byte(lan), 0o644); err != nil {
			t.Fatal(err)
		}
		logf, err := os.Create(filepath.Join(dir, "ipmi_sim.log"))
		if err != nil {
			t.Fatal(err)
		}
		// -n: no console on stdin.
		s.cmd = exec.Command("ipmi_sim", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"), "-s", state, "-n")
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("cannot start ipmi_sim: %v", err)
		}
		go func() {
			s.cmd.Wait()
			logf.Close()
			close(s.done)
		}()
		err = s.waitReady(5 * time.Second)
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		s.stop()
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "ipmi_sim.log"))
			t.Fatalf("ipmi_sim on %s did not answer: %v; its log:\n%s", s.addr, err, log)
		}
	}
}

func (s *sim) waitReady(d time.Duration) error {
	host, port, _ := net.SplitHostPort(s.addr)
	var p int
	fmt.Sscan(port, &p)
	deadline := time.Now().Add(d)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("ipmi_sim exited")
		default:
		}
		c, err := client.NewClient(host, p, simUser, simPassword)
		if err != nil {
			return err
		}
		c.WithTimeout(200 * time.Millisecond).WithRetry(0).WithCipherSuiteID(types.CipherSuiteID3)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.Connect(ctx)
		if err == nil {
			_, err = c.GetDeviceID(ctx)
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sim) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.done
	}
}

// command runs one emulator command (ipmi_sim_cmd(5)) on the console and
// returns what the console answered before its next prompt.
func (s *sim) command(t testing.TB, cmd string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.console, 2*time.Second)
	if err != nil {
		t.Fatalf("cannot reach the ipmi_sim console: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	// The console speaks telnet: skip to the first prompt.
	if _, err := r.ReadString('>'); err != nil {
		t.Fatalf("no console prompt: %v", err)
	}
	if _, err := fmt.Fprintf(conn, "%s\n", cmd); err != nil {
		t.Fatal(err)
	}
	out, err := r.ReadString('>')
	if err != nil {
		t.Fatalf("console command %q: %v (answer so far %q)", cmd, err, out)
	}
	if strings.Contains(out, "**") {
		t.Fatalf("console refused %q: %q", cmd, out)
	}
	return out
}
