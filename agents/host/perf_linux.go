//go:build linux

package host

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// perfEvents are the hardware events of the perf.* meters, in their order.
var perfEvents = [4]uint64{
	unix.PERF_COUNT_HW_CPU_CYCLES,
	unix.PERF_COUNT_HW_INSTRUCTIONS,
	unix.PERF_COUNT_HW_CACHE_REFERENCES,
	unix.PERF_COUNT_HW_CACHE_MISSES,
}

// perfCounters count the hardware events system-wide: one counter per
// event per CPU, summed on read. It is not safe for concurrent use.
type perfCounters struct {
	fds [][len(perfEvents)]int
	buf [24]byte
}

// openPerf opens the counters on cpus. It fails where the kernel refuses
// them: no PMU in the VM (ENOENT), perf_event_paranoid or a container's
// seccomp profile (EACCES, EPERM).
func openPerf(cpus []int) (*perfCounters, error) {
	if len(cpus) == 0 {
		return nil, fmt.Errorf("no online CPU listed")
	}
	p := &perfCounters{fds: make([][len(perfEvents)]int, len(cpus))}
	for i := range p.fds {
		for k := range p.fds[i] {
			p.fds[i][k] = -1
		}
	}
	for i, cpu := range cpus {
		for k, ev := range perfEvents {
			attr := unix.PerfEventAttr{
				Type:        unix.PERF_TYPE_HARDWARE,
				Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
				Config:      ev,
				Read_format: unix.PERF_FORMAT_TOTAL_TIME_ENABLED | unix.PERF_FORMAT_TOTAL_TIME_RUNNING,
			}
			fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
			if err != nil {
				p.close()
				return nil, fmt.Errorf("cannot open hardware event %d on CPU %d: %w", ev, cpu, err)
			}
			p.fds[i][k] = fd
		}
	}
	return p, nil
}

// read returns each event's count summed over CPUs, scaled up where the
// kernel multiplexed the counter.
func (p *perfCounters) read() ([len(perfEvents)]float64, error) {
	var out [len(perfEvents)]float64
	for i := range p.fds {
		for k, fd := range p.fds[i] {
			n, err := unix.Read(fd, p.buf[:])
			if err != nil || n != len(p.buf) {
				return out, fmt.Errorf("cannot read hardware event %d: %d bytes: %w", perfEvents[k], n, err)
			}
			val := binary.NativeEndian.Uint64(p.buf[0:])
			enabled := binary.NativeEndian.Uint64(p.buf[8:])
			running := binary.NativeEndian.Uint64(p.buf[16:])
			v := float64(val)
			if running > 0 && running < enabled {
				v = v * float64(enabled) / float64(running)
			}
			out[k] += v
		}
	}
	return out, nil
}

func (p *perfCounters) close() {
	for i := range p.fds {
		for k, fd := range p.fds[i] {
			if fd >= 0 {
				unix.Close(fd)
				p.fds[i][k] = -1
			}
		}
	}
}
