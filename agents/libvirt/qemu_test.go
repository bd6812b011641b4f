//go:build libvirt

package libvirt

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	lv "libvirt.org/go/libvirt"
)

// The Debian packages the tests with a libvirtd of their own need; the guest's
// kernel and busybox are downloaded as packages and unpacked, not
// installed.
const qemuTestPackages = "libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86"

// requireLibvirtd fails the test, saying what to install, unless this
// machine can run a libvirtd of the test's own and QEMU guests under it.
func requireLibvirtd(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a libvirtd and boots a VM; skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Fatal("a libvirtd of the test's own runs privileged in a private mount namespace, and the guest gets a tap device: run as root")
	}
	var missing []string
	for _, pkg := range strings.Fields(qemuTestPackages) {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
		if err != nil || !strings.HasSuffix(string(out), " installed") {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("a libvirtd of the test's own and a QEMU guest need Debian packages that are not installed: apt-get install -y --no-install-recommends %s",
			strings.Join(missing, " "))
	}
	for _, bin := range []string{"libvirtd", "virsh", "qemu-system-x86_64", "unshare", "bash", "apt-get", "apt-cache", "dpkg-deb", "gzip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found in PATH (packages: %s, util-linux, apt, dpkg, gzip)", bin, qemuTestPackages)
		}
	}
}

// cacheDir is where the guest image and libvirt's QEMU capability cache
// are kept between runs (probing QEMU's capabilities takes minutes on a
// loaded machine; the cache makes later starts take a fraction of a
// second).
func cacheDir(t testing.TB) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "vigil-test", "libvirt")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lockDir holds an exclusive flock on dir/.lock until the test ends.
func lockDir(t testing.TB, dir string) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { f.Close() }
}

func run(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// guestModules are the virtio modules the initramfs loads, in load order.
const guestModules = "virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net virtio_balloon"

// tinyGuest returns a kernel and an initramfs for a direct-boot guest: the
// Debian cloud kernel and a busybox initramfs that loads the virtio
// modules, says GUEST-BOOTED on the serial console and then keeps reading
// and writing its first disk. They are built once per kernel package.
func tinyGuest(t testing.TB) (kernel, initrd string) {
	t.Helper()
	cache := cacheDir(t)
	defer lockDir(t, cache)()
	deps := run(t, cache, "apt-cache", "depends", "linux-image-cloud-amd64")
	var kpkg string
	for _, line := range strings.Split(deps, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") && f[1] != "linux-image-cloud-amd64" {
			kpkg = f[1]
			break
		}
	}
	if kpkg == "" {
		t.Fatalf("apt-cache knows no linux-image-cloud-amd64 kernel (run apt-get update):\n%s", deps)
	}
	w := filepath.Join(cache, kpkg)
	kernel, initrd = filepath.Join(w, "vmlinuz"), filepath.Join(w, "initrd.img")
	if _, err := os.Stat(initrd); err == nil {
		return kernel, initrd
	}
	pkgs := filepath.Join(w, "pkgs")
	if err := os.MkdirAll(pkgs, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, pkgs, "apt-get", "download", kpkg, "busybox-static")
	script := `set -eu
W="$1"; MODS="$2"
rm -rf "$W/root" "$W/initrd"
for d in "$W"/pkgs/*.deb; do dpkg-deb -x "$d" "$W/root"; done
KV=$(ls "$W/root/lib/modules"); BB="$W/root/bin/busybox"
mkdir -p "$W/initrd/bin" "$W/initrd/proc" "$W/initrd/sys" "$W/initrd/dev" "$W/initrd/lib/modules"
cp "$BB" "$W/initrd/bin/"
for m in $MODS; do cp "$(find "$W/root/lib/modules/$KV" -name "$m.ko")" "$W/initrd/lib/modules/"; done
cat > "$W/initrd/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $MODS; do insmod /lib/modules/\$m.ko || echo "insmod \$m failed"; done
echo "GUEST-BOOTED uptime=\$(cut -d' ' -f1 /proc/uptime)"
while true; do
  dd if=/dev/vda of=/dev/null bs=64k count=64 2>/dev/null
  dd if=/dev/zero of=/dev/vda bs=64k count=16 seek=64 conv=fsync 2>/dev/null
  sleep 2
done
INIT
chmod +x "$W/initrd/init"
(cd "$W/initrd" && find . | "$BB" cpio -o -H newc 2>/dev/null | gzip -1 > "$W/initrd.tmp")
cp "$W/root/boot/vmlinuz-$KV" "$W/vmlinuz"
rm -rf "$W/root" "$W/initrd"
mv "$W/initrd.tmp" "$W/initrd.img"
`
	run(t, w, "sh", "-c", script, "sh", w, guestModules)
	return kernel, initrd
}

// daemon is a libvirtd of the test's own: a private mount namespace gives
// it its own /etc/libvirt, /run/libvirt, /var/lib/libvirt and
// /var/log/libvirt under a temporary directory (and, when this machine has
// no libvirt-qemu user, a passwd file with one), and a private PID
// namespace makes its end take its guests with it.
type daemon struct {
	t   testing.TB
	dir string
	uri string
	cmd *exec.Cmd
}

func startDaemon(t testing.TB, dir string) *daemon {
	t.Helper()
	d := &daemon{t: t, dir: dir}
	d.uri = d.driverURI("qemu", "/system")
	for _, sub := range []string{"etc", "run", "lib", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := "listen_tls = 0\nlisten_tcp = 0\nunix_sock_group = \"root\"\nunix_sock_rw_perms = \"0770\"\n" +
		"auth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\nlog_outputs = \"2:file:" + filepath.Join(dir, "libvirtd.log") + "\"\n"
	// QEMU runs as root without relabelling, virtlogd or a mount namespace
	// of its own: nothing else of this machine is involved.
	qemuConf := "user = \"root\"\ngroup = \"root\"\ndynamic_ownership = 0\nsecurity_driver = \"none\"\n" +
		"stdio_handler = \"file\"\nnamespaces = [ ]\n"
	writeFile(t, filepath.Join(dir, "etc", "libvirtd.conf"), conf)
	writeFile(t, filepath.Join(dir, "etc", "qemu.conf"), qemuConf)
	caps := filepath.Join(cacheDir(t), "capabilities-cache")
	if err := os.MkdirAll(caps, 0o755); err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("set -e\n")
	for _, m := range [][2]string{{"etc", "/etc/libvirt"}, {"run", "/run/libvirt"}, {"lib", "/var/lib/libvirt"}, {"log", "/var/log/libvirt"}} {
		fmt.Fprintf(&script, "mkdir -p %s\nmount --bind %s %s\n", m[1], filepath.Join(dir, m[0]), m[1])
	}
	fmt.Fprintf(&script, "mkdir -p /var/cache/libvirt\nmount --bind %s /var/cache/libvirt\n", caps)
	// Debian's libvirtd resolves its default QEMU user before it reads
	// qemu.conf, so the user must exist; libvirt-daemon-system would
	// create it, with systemd in tow.
	if _, err := user.Lookup("libvirt-qemu"); err != nil {
		passwd, _ := os.ReadFile("/etc/passwd")
		group, _ := os.ReadFile("/etc/group")
		writeFile(t, filepath.Join(dir, "passwd"), string(passwd)+"libvirt-qemu:x:64055:64055::/var/lib/libvirt:/usr/sbin/nologin\n")
		writeFile(t, filepath.Join(dir, "group"), string(group)+"libvirt-qemu:x:64055:\n")
		fmt.Fprintf(&script, "mount --bind %s /etc/passwd\nmount --bind %s /etc/group\n",
			filepath.Join(dir, "passwd"), filepath.Join(dir, "group"))
	}
	// bash stays PID 1 of the namespace: it reaps the QEMU processes
	// libvirtd daemonizes, which libvirtd waits for when it destroys a
	// guest. libvirtd as PID 1 would leave them zombies and wait a minute.
	fmt.Fprintf(&script, "libvirtd --config /etc/libvirt/libvirtd.conf --pid-file %s &\nwait $!\n", filepath.Join(dir, "libvirtd.pid"))
	out, err := os.Create(filepath.Join(dir, "libvirtd.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	d.cmd = exec.Command("unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "bash", "-c", script.String())
	d.cmd.Stdout, d.cmd.Stderr = out, out
	// Should the test binary die, unshare dies, and with it the namespace.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.stop)
	// The first start probes QEMU's capabilities, which takes minutes on a
	// loaded machine; later ones read the cache.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := lv.NewConnect(d.uri)
		if err == nil {
			c.Close()
			return d
		}
		if time.Now().After(deadline) || d.exited() {
			t.Fatalf("libvirtd did not answer on %s: %v\n%s", d.uri, err, d.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// driverURI is the URI of a driver of the daemon: "qemu", "/system" or
// "test", "/abs/node.xml".
func (d *daemon) driverURI(driver, path string) string {
	return driver + "+unix://" + path + "?socket=" + filepath.Join(d.dir, "run", "libvirt-sock")
}

func (d *daemon) exited() bool {
	return d.cmd.ProcessState != nil || d.cmd.Process.Signal(syscall.Signal(0)) != nil
}

// stop ends the daemon and its guests: unshare dies, its child (PID 1 of
// the namespace) is killed, and the kernel kills the rest.
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
	// PID 1 of the namespace dies asynchronously; wait until its socket no
	// longer answers.
	for range 100 {
		c, err := lv.NewConnect(d.uri)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Errorf("libvirtd still answers on %s after its namespace was killed", d.uri)
}

func (d *daemon) logTail() string {
	var b bytes.Buffer
	for _, f := range []string{"libvirtd.out", "libvirtd.log"} {
		data, _ := os.ReadFile(filepath.Join(d.dir, f))
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
	}
	return b.String()
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// guestXML is the tiny guest: TCG, so that no KVM is needed, 1 vCPU, 256 MiB, two raw virtio disks, a managed tap, a
// balloon with stats every 2 s, a serial console to a file and Nova's
// metadata.
func guestXML(name, uuid, tap, kernel, initrd, dir string) string {
	return `<domain type='qemu'>
  <name>` + name + `</name>
  <uuid>` + uuid + `</uuid>
  ` + novaMetadata("tiny", "m1.nano", 1, 0, userID, projectID, imageID) + `
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>` + kernel + `</kernel>
    <initrd>` + initrd + `</initrd>
    <cmdline>console=ttyS0 panic=-1 loglevel=4</cmdline>
  </os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='` + filepath.Join(dir, "disk-a.img") + `'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='` + filepath.Join(dir, "disk-b.img") + `'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <mac address='52:54:00:7e:57:01'/>
      <target dev='` + tap + `' managed='yes'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'><source path='` + filepath.Join(dir, "console.log") + `'/></serial>
    <console type='file'><source path='` + filepath.Join(dir, "console.log") + `'/><target type='serial'/></console>
    <memballoon model='virtio'><stats period='2'/></memballoon>
  </devices>
</domain>`
}

// bootGuest creates the guest and waits for its GUEST-BOOTED line.
func bootGuest(t testing.TB, conn *lv.Connect, xml, dir string) {
	t.Helper()
	console := filepath.Join(dir, "console.log")
	os.Remove(console)
	dom, err := conn.DomainCreateXML(xml, 0)
	if err != nil {
		t.Fatalf("cannot create the guest: %v", err)
	}
	dom.Free()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if data, _ := os.ReadFile(console); bytes.Contains(data, []byte("GUEST-BOOTED")) {
			return
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(console)
			t.Fatalf("the guest did not boot in 3 minutes; console:\n%s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// domstats runs `virsh domstats --raw` for one domain.
func domstats(t testing.TB, uri, name string) map[string]string {
	t.Helper()
	out, err := exec.Command("virsh", "-c", uri, "domstats", "--raw", name).CombinedOutput()
	if err != nil {
		t.Fatalf("virsh domstats: %v\n%s", err, out)
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func num(t testing.TB, kv map[string]string, key string) (float64, bool) {
	t.Helper()
	s, ok := kv[key]
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("virsh %s=%q: %v", key, s, err)
	}
	return v, true
}

// expected derives Ceilometer's meters from one domstats reading, the way
// the pollster must: "<resource> <meter>" to value.
func expected(t testing.TB, kv map[string]string, uuid, name string) map[string]float64 {
	t.Helper()
	want := map[string]float64{}
	put := func(k string, v float64, ok bool) {
		if ok {
			want[k] = v
		}
	}
	state, ok := num(t, kv, "state.state")
	put(uuid+" power.state", state, ok)
	want[uuid+" disk.root.size"] = 1
	want[uuid+" disk.ephemeral.size"] = 0
	cur, ok := num(t, kv, "vcpu.current")
	put(uuid+" vcpus", cur, ok)
	var sum float64
	all := ok && cur > 0
	for i := 0; float64(i) < cur; i++ {
		tm, ok1 := num(t, kv, fmt.Sprintf("vcpu.%d.time", i))
		wt, ok2 := num(t, kv, fmt.Sprintf("vcpu.%d.wait", i))
		all = all && ok1 && ok2
		sum += tm + wt
	}
	if all {
		want[uuid+" cpu"] = sum
	} else {
		v, ok := num(t, kv, "cpu.time")
		put(uuid+" cpu", v, ok)
	}
	kib := func(key string) (float64, bool) { v, ok := num(t, kv, key); return v / 1024, ok }
	v, ok := kib("balloon.current")
	put(uuid+" memory", v, ok)
	avail, okA := kib("balloon.available")
	usable, okU := kib("balloon.usable")
	unused, okN := kib("balloon.unused")
	switch {
	case okA && okU:
		want[uuid+" memory.usage"] = avail - usable
	case okA && okN:
		want[uuid+" memory.usage"] = avail - unused
	}
	v, ok = kib("balloon.rss")
	put(uuid+" memory.resident", v, ok)
	in, okI := kib("balloon.swap_in")
	out, okO := kib("balloon.swap_out")
	if okI && okO {
		want[uuid+" memory.swap.in"] = in
		want[uuid+" memory.swap.out"] = out
	}
	for key, m := range map[string]string{"perf.cpu_cycles": "perf.cpu.cycles", "perf.instructions": "perf.instructions",
		"perf.cache_references": "perf.cache.references", "perf.cache_misses": "perf.cache.misses"} {
		v, ok := num(t, kv, key)
		put(uuid+" "+m, v, ok)
	}
	n, _ := num(t, kv, "block.count")
	for i := 0; float64(i) < n; i++ {
		id := uuid + "-" + kv[fmt.Sprintf("block.%d.name", i)]
		for key, m := range map[string]string{"rd.reqs": "disk.device.read.requests", "rd.bytes": "disk.device.read.bytes",
			"wr.reqs": "disk.device.write.requests", "wr.bytes": "disk.device.write.bytes",
			"rd.times": "disk.device.read.latency", "wr.times": "disk.device.write.latency",
			"allocation": "disk.device.allocation", "physical": "disk.device.usage"} {
			v, ok := num(t, kv, fmt.Sprintf("block.%d.%s", i, key))
			put(id+" "+m, v, ok)
		}
		c, okC := num(t, kv, fmt.Sprintf("block.%d.capacity", i))
		ph, okP := num(t, kv, fmt.Sprintf("block.%d.physical", i))
		if okC || okP {
			want[id+" disk.device.capacity"] = math.Max(c, ph)
		}
	}
	n, _ = num(t, kv, "net.count")
	for i := 0; float64(i) < n; i++ {
		id := name + "-" + uuid + "-" + kv[fmt.Sprintf("net.%d.name", i)]
		for key, m := range map[string]string{"rx.bytes": "network.incoming.bytes", "rx.pkts": "network.incoming.packets",
			"rx.errs": "network.incoming.packets.error", "rx.drop": "network.incoming.packets.drop",
			"tx.bytes": "network.outgoing.bytes", "tx.pkts": "network.outgoing.packets",
			"tx.errs": "network.outgoing.packets.error", "tx.drop": "network.outgoing.packets.drop"} {
			v, ok := num(t, kv, fmt.Sprintf("net.%d.%s", i, key))
			put(id+" "+m, v, ok)
		}
	}
	return want
}

// guest is a booted tiny guest under a libvirtd of the test's own.
type guest struct {
	d                    *daemon
	rw                   *lv.Connect // closed at the end of the test, or by stopDaemon
	dir                  string
	uuid, name, tap, xml string
}

func newGuest(t testing.TB) *guest {
	t.Helper()
	requireLibvirtd(t)
	kernel, initrd := tinyGuest(t)
	dir, err := os.MkdirTemp("", "vlv") // short: the namespace's sockets live below it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, disk := range []string{"disk-a.img", "disk-b.img"} {
		writeFile(t, filepath.Join(dir, disk), "")
		if err := os.Truncate(filepath.Join(dir, disk), 64<<20); err != nil {
			t.Fatal(err)
		}
	}
	g := &guest{dir: dir, uuid: "7e570000-0000-4000-8000-" + randomHex(6), name: "instance-7e57", tap: "vt" + randomHex(4)}
	g.xml = guestXML(g.name, g.uuid, g.tap, kernel, initrd, dir)
	t0 := time.Now()
	g.d = startDaemon(t, filepath.Join(dir, "lv"))
	t.Logf("libvirtd answered after %v", time.Since(t0))
	if g.rw, err = lv.NewConnect(g.d.uri); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if g.rw != nil {
			g.rw.Close()
		}
	})
	t0 = time.Now()
	bootGuest(t, g.rw, g.xml, dir)
	t.Logf("guest booted after %v", time.Since(t0))
	return g
}

// stopDaemon ends libvirtd, and with it the guest.
func (g *guest) stopDaemon() {
	g.rw.Close()
	g.rw = nil
	g.d.stop()
}

// TestQEMUGuest boots a real guest under QEMU (TCG) and a libvirtd of the
// test's own, and checks that the bulk call alone serves every meter, each
// matching what `virsh domstats --raw` reports for the same guest just
// before and just after the poll. It then restarts the guest (counters
// go down: a reset), and kills and restarts libvirtd (the pollster
// reconnects with backoff).
func TestQEMUGuest(t *testing.T) {
	g := newGuest(t)
	d, rw, uuid, name, tap, xml, dir := g.d, g.rw, g.uuid, g.name, g.tap, g.xml, g.dir
	set := metrics.NewSet()
	p, err := New(Config{URI: d.uri, Host: "compute-1", Metrics: set, MinBackoff: 200 * time.Millisecond, MaxBackoff: time.Second}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pollOnce(t, p, time.Now())
	if p.groups != allGroups {
		t.Errorf("QEMU driver bulk groups %#x, want all %#x", p.groups, allGroups)
	}
	fallbacks := counterValue(t, set, `vigil_libvirt_fallback_calls_total{uri="`+d.uri+`"}`)
	if fallbacks != 0 {
		t.Errorf("%d per-domain calls on a driver that fills every group", fallbacks)
	}

	// Let the guest run its disk loop a few times, so that its counters
	// are well above those of a fresh boot when it is restarted below.
	time.Sleep(4 * time.Second)
	before := domstats(t, d.uri, name)
	got := pollOnce(t, p, time.Now())
	after := domstats(t, d.uri, name)
	wantB, wantA := expected(t, before, uuid, name), expected(t, after, uuid, name)
	if len(wantB) < 30 {
		t.Errorf("only %d meters derived from virsh domstats: %v", len(wantB), before)
	}
	for k, b := range wantB {
		a, ok := wantA[k]
		if !ok {
			t.Errorf("%s: in the first domstats only", k)
			continue
		}
		s, ok := got[k]
		if !ok {
			t.Errorf("no sample %s; virsh reports %v", k, b)
			continue
		}
		lo, hi := math.Min(a, b), math.Max(a, b)
		if s.Volume < lo-1e-9 || s.Volume > hi+1e-9 {
			t.Errorf("%s = %v, virsh reported %v before the poll and %v after", k, s.Volume, b, a)
		}
	}
	for k := range got {
		if _, ok := wantB[k]; !ok {
			t.Errorf("sample %s has no counterpart in virsh domstats", k)
		}
	}
	t.Logf("%d samples checked against virsh domstats", len(wantB))
	s := got[uuid+" cpu"]
	if s.UserID != userID || s.ProjectID != projectID || s.Metadata["display_name"] != "tiny" ||
		s.Metadata["instance_type"] != "m1.nano" || s.Metadata["name"] != name || s.ResourceType != "instance" {
		t.Errorf("cpu sample %+v", s)
	}
	nic := got[name+"-"+uuid+"-"+tap+" network.incoming.bytes"]
	if nic.ResourceType != "instance_network_interface" || nic.Metadata["mac"] != "52:54:00:7e:57:01" ||
		nic.Metadata["vnic_name"] != tap {
		t.Errorf("interface sample %+v", nic)
	}

	// Restart the guest: its cumulative counters start again from zero.
	dom, err := rw.LookupDomainByUUIDString(uuid)
	if err != nil {
		t.Fatal(err)
	}
	if err := dom.Destroy(); err != nil {
		t.Fatal(err)
	}
	dom.Free()
	t0 := time.Now()
	bootGuest(t, rw, xml, dir)
	t.Logf("guest rebooted after %v", time.Since(t0))
	again := pollOnce(t, p, time.Now())
	if n := counterValue(t, set, `vigil_libvirt_counter_resets_total{uri="`+d.uri+`"}`); n == 0 {
		t.Errorf("no counter reset counted after the guest restarted (cpu %v -> %v, vda reads %v -> %v)",
			got[uuid+" cpu"].Volume, again[uuid+" cpu"].Volume,
			got[uuid+"-vda disk.device.read.bytes"].Volume, again[uuid+"-vda disk.device.read.bytes"].Volume)
	}

	// libvirtd goes away: polls fail at once with ErrUnavailable, and
	// succeed again once it is back and the backoff has passed.
	t0 = time.Now()
	g.stopDaemon()
	t.Logf("libvirtd stopped after %v", time.Since(t0))
	start := time.Now()
	_, err = pollErr(t, p, time.Now())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("poll with libvirtd gone: %v, want ErrUnavailable", err)
	}
	if _, err := pollErr(t, p, time.Now()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("second poll with libvirtd gone: %v", err)
	}
	t.Logf("two polls with libvirtd gone took %v", time.Since(start))
	t0 = time.Now()
	d = startDaemon(t, filepath.Join(dir, "lv"))
	t.Logf("libvirtd answered again after %v", time.Since(t0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, err := pollErr(t, p, time.Now())
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) || ctx.Err() != nil {
			t.Fatalf("poll after libvirtd came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("polled again after %v", time.Since(t0))
	if n := counterValue(t, set, `vigil_libvirt_connects_total{uri="`+d.uri+`"}`); n != 2 {
		t.Errorf("%d connections opened, want 2", n)
	}
	if n := counterValue(t, set, `vigil_libvirt_disconnects_total{uri="`+d.uri+`"}`); n == 0 {
		t.Error("the lost connection was not counted")
	}
}
