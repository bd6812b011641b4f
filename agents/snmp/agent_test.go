package snmp

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// The credentials of the test agent.
const (
	testCommunity = "vigil-test"
	testUser      = "vigiluser"
	testAuthPass  = "vigil-auth-pass"
	testPrivPass  = "vigil-priv-pass"
)

// agent is a real net-snmp snmpd the test started on a loopback port, with
// a configuration of its own: a v2c community, a v3 authPriv user (SHA,
// AES), every mounted disk in the UCD disk table.
type agent struct {
	addr string
	cmd  *exec.Cmd
	dir  string
	done chan struct{}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// agentConfig is the test agent's configuration, less its address.
func agentConfig(extra ...string) []string {
	return append([]string{
		"rocommunity " + testCommunity + " 127.0.0.1",
		fmt.Sprintf("createUser %s SHA %q AES %q", testUser, testAuthPass, testPrivPass),
		"rouser " + testUser + " priv",
		"includeAllDisks 10%",
		"load 12 10 5",
		"dontLogTCPWrappersConnects yes",
	}, extra...)
}

// startAgent starts snmpd with the configuration lines (agentConfig's,
// usually) and waits until it answers. dir holds its configuration, state
// and log.
func startAgent(t testing.TB, dir string, config []string) (*agent, error) {
	bin, err := exec.LookPath("snmpd")
	if err != nil {
		return nil, fmt.Errorf("snmpd not found (install the Debian package snmpd): %w", err)
	}
	for attempt := 0; ; attempt++ {
		port := freeUDPPort(t)
		a := &agent{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, done: make(chan struct{})}
		conf := strings.Join(append([]string{"agentAddress udp:" + a.addr}, config...), "\n") + "\n"
		if err := os.WriteFile(filepath.Join(dir, "snmpd.conf"), []byte(conf), 0o600); err != nil {
			return nil, err
		}
		persist := filepath.Join(dir, fmt.Sprintf("persist-%d", attempt))
		// -f: stay in the foreground, a child the test can stop; -C: no
		// system configuration; MIBS empty: numeric OIDs need no MIB files.
		a.cmd = exec.Command(bin, "-f", "-C", "-c", filepath.Join(dir, "snmpd.conf"), "-Lf", filepath.Join(dir, "snmpd.log"))
		a.cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+persist)
		if err := a.cmd.Start(); err != nil {
			return nil, fmt.Errorf("cannot start snmpd: %w", err)
		}
		go func() {
			a.cmd.Wait()
			close(a.done)
		}()
		if err := a.waitReady(5 * time.Second); err == nil {
			return a, nil
		} else if attempt == 2 {
			a.stop()
			log, _ := os.ReadFile(filepath.Join(dir, "snmpd.log"))
			return nil, fmt.Errorf("snmpd on %s did not answer: %w; its log:\n%s", a.addr, err, log)
		}
		a.stop() // the port was taken in between: another one
	}
}

func (a *agent) waitReady(d time.Duration) error {
	host, port, _ := net.SplitHostPort(a.addr)
	var p uint16
	fmt.Sscan(port, &p)
	g := &gosnmp.GoSNMP{Target: host, Port: p, Community: testCommunity, Version: gosnmp.Version2c,
		Timeout: 200 * time.Millisecond, Retries: 0}
	if err := g.Connect(); err != nil {
		return err
	}
	defer g.Conn.Close()
	deadline := time.Now().Add(d)
	for {
		select {
		case <-a.done:
			return fmt.Errorf("snmpd exited")
		default:
		}
		_, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

func (a *agent) stop() {
	if a.cmd.Process != nil {
		a.cmd.Process.Kill()
		<-a.done
	}
}

// The agent most tests share: snmpd's CPU percentages take a minute to
// appear, and one agent started early serves every test.
var shared struct {
	once sync.Once
	a    *agent
	dir  string
	err  error
}

func sharedAgent(t testing.TB) *agent {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "vigil-snmpd-")
		if shared.err == nil {
			shared.a, shared.err = startAgent(t, shared.dir, agentConfig())
		}
	})
	if shared.err != nil {
		t.Fatalf("cannot run the test SNMP agent: %v", shared.err)
	}
	return shared.a
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.a != nil {
		shared.a.stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}
