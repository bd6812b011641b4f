package host

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The parsers below are pure functions of a procfs file's bytes, so that
// they can be tested on recorded files and fuzzed. They never keep data.

// cpuTimes are the aggregate "cpu" line of /proc/stat, in USER_HZ ticks.
// User and Nice include guest time, as the kernel reports them.
type cpuTimes struct {
	User, Nice, System, Idle, IOWait, IRQ, SoftIRQ, Steal uint64
}

func (c cpuTimes) total() uint64 {
	return c.User + c.Nice + c.System + c.Idle + c.IOWait + c.IRQ + c.SoftIRQ + c.Steal
}

// parseStat returns the aggregate CPU times of /proc/stat. Kernels before
// 2.6.11 have fewer columns; the missing ones are zero.
func parseStat(data []byte) (cpuTimes, error) {
	var c cpuTimes
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		rest, ok := bytes.CutPrefix(line, []byte("cpu "))
		if !ok {
			continue
		}
		dst := [...]*uint64{&c.User, &c.Nice, &c.System, &c.Idle, &c.IOWait, &c.IRQ, &c.SoftIRQ, &c.Steal}
		n := 0
		for f := range fieldsSeq(rest) {
			if n == len(dst) {
				break
			}
			v, err := parseUint(f)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("line %d: cpu column %d: %w", lineNo, n+1, err)
			}
			*dst[n] = v
			n++
		}
		if n < 4 {
			return cpuTimes{}, fmt.Errorf("line %d: cpu line has %d columns, want at least 4", lineNo, n)
		}
		return c, nil
	}
	return cpuTimes{}, fmt.Errorf("no aggregate cpu line")
}

// loadAvg is /proc/loadavg's three load averages.
type loadAvg struct {
	Load1, Load5, Load15 float64
}

func parseLoadavg(data []byte) (loadAvg, error) {
	var l loadAvg
	dst := [...]*float64{&l.Load1, &l.Load5, &l.Load15}
	n := 0
	line, _ := nextLine(data)
	for f := range fieldsSeq(line) {
		if n == len(dst) {
			break
		}
		v, err := strconv.ParseFloat(string(f), 64)
		if err != nil || v < 0 || v != v {
			return loadAvg{}, fmt.Errorf("load average %d: %q is not a load", n+1, f)
		}
		*dst[n] = v
		n++
	}
	if n < len(dst) {
		return loadAvg{}, fmt.Errorf("%d load averages, want 3", n)
	}
	return l, nil
}

// memInfo holds the /proc/meminfo lines the memory meters need, in KB.
type memInfo struct {
	TotalKB, FreeKB, AvailableKB, BuffersKB, CachedKB, SwapTotalKB, SwapFreeKB uint64
	// HasAvailable is false on kernels before 3.14, which lack MemAvailable.
	HasAvailable bool
}

// availKB is the memory available for new work without swapping.
func (m memInfo) availKB() uint64 {
	if m.HasAvailable {
		return m.AvailableKB
	}
	return min(m.TotalKB, m.FreeKB+m.BuffersKB+m.CachedKB)
}

func parseMeminfo(data []byte) (memInfo, error) {
	var m memInfo
	var hasTotal bool
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		key, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "MemTotal":
			dst, hasTotal = &m.TotalKB, true
		case "MemFree":
			dst = &m.FreeKB
		case "MemAvailable":
			dst, m.HasAvailable = &m.AvailableKB, true
		case "Buffers":
			dst = &m.BuffersKB
		case "Cached":
			dst = &m.CachedKB
		case "SwapTotal":
			dst = &m.SwapTotalKB
		case "SwapFree":
			dst = &m.SwapFreeKB
		default:
			continue
		}
		rest = bytes.TrimSpace(rest)
		rest = bytes.TrimSuffix(rest, []byte(" kB"))
		v, err := parseUint(bytes.TrimSpace(rest))
		if err != nil {
			return memInfo{}, fmt.Errorf("line %d (%s): %w", lineNo, key, err)
		}
		*dst = v
	}
	if !hasTotal {
		return memInfo{}, fmt.Errorf("no MemTotal line")
	}
	return m, nil
}

// vmStat holds the paging counters of /proc/vmstat, in 1 KB blocks.
type vmStat struct {
	PgpgIn, PgpgOut uint64
}

func parseVmstat(data []byte) (vmStat, error) {
	var v vmStat
	var found int
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		key, val, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "pgpgin":
			dst = &v.PgpgIn
		case "pgpgout":
			dst = &v.PgpgOut
		default:
			continue
		}
		n, err := parseUint(bytes.TrimSpace(val))
		if err != nil {
			return vmStat{}, fmt.Errorf("line %d (%s): %w", lineNo, key, err)
		}
		*dst = n
		found++
	}
	if found < 2 {
		return vmStat{}, fmt.Errorf("no pgpgin and pgpgout lines")
	}
	return v, nil
}

// ipStats are the IP-MIB counters of /proc/net/snmp the datagram meters use.
type ipStats struct {
	InReceives, OutRequests uint64
}

// parseNetSNMP reads the "Ip:" header and value lines of /proc/net/snmp.
func parseNetSNMP(data []byte) (ipStats, error) {
	var header []byte
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		rest, ok := bytes.CutPrefix(line, []byte("Ip: "))
		if !ok {
			continue
		}
		if header == nil {
			header = rest
			continue
		}
		inIdx, outIdx := -1, -1
		k := 0
		for name := range fieldsSeq(header) {
			switch string(name) {
			case "InReceives":
				inIdx = k
			case "OutRequests":
				outIdx = k
			}
			k++
		}
		if inIdx < 0 || outIdx < 0 {
			return ipStats{}, fmt.Errorf("line %d: Ip header has no InReceives and OutRequests", lineNo)
		}
		var s ipStats
		found := 0
		k = 0
		for v := range fieldsSeq(rest) {
			var dst *uint64
			switch k {
			case inIdx:
				dst = &s.InReceives
			case outIdx:
				dst = &s.OutRequests
			}
			k++
			if dst == nil {
				continue
			}
			n, err := parseUint(v)
			if err != nil {
				return ipStats{}, fmt.Errorf("line %d (Ip column %d): %w", lineNo, k, err)
			}
			*dst = n
			found++
		}
		if found < 2 {
			return ipStats{}, fmt.Errorf("line %d: no Ip InReceives and OutRequests values", lineNo)
		}
		return s, nil
	}
	return ipStats{}, fmt.Errorf("no Ip header and value lines")
}

// netDev is one interface's line of /proc/net/dev.
type netDev struct {
	Name                       string
	RxBytes, TxBytes, TxErrors uint64
}

// parseNetDev appends the interfaces of /proc/net/dev to dst.
func parseNetDev(dst []netDev, data []byte) ([]netDev, error) {
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		if lineNo <= 2 || len(bytes.TrimSpace(line)) == 0 {
			continue // the two header lines
		}
		name, rest, ok := bytes.Cut(line, []byte(":"))
		name = bytes.TrimSpace(name)
		if !ok || len(name) == 0 {
			return dst, fmt.Errorf("line %d: no interface name", lineNo)
		}
		d := netDev{Name: string(name)}
		n := 0
		for f := range fieldsSeq(rest) {
			var p *uint64
			switch n {
			case 0:
				p = &d.RxBytes
			case 8:
				p = &d.TxBytes
			case 10:
				p = &d.TxErrors
			}
			n++
			if p == nil {
				continue
			}
			v, err := parseUint(f)
			if err != nil {
				return dst, fmt.Errorf("line %d (%s) column %d: %w", lineNo, name, n, err)
			}
			*p = v
		}
		if n < 16 {
			return dst, fmt.Errorf("line %d (%s): %d columns, want 16", lineNo, name, n)
		}
		dst = append(dst, d)
	}
	return dst, nil
}

// diskStat is one block device's line of /proc/diskstats. Sectors are
// 512 bytes whatever the device's sector size.
type diskStat struct {
	Name                                       string
	Reads, SectorsRead, Writes, SectorsWritten uint64
}

// parseDiskstats appends the devices of /proc/diskstats to dst.
func parseDiskstats(dst []diskStat, data []byte) ([]diskStat, error) {
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		var d diskStat
		n := 0
		for f := range fieldsSeq(line) {
			var p *uint64
			switch n {
			case 2:
				d.Name = string(f)
			case 3:
				p = &d.Reads
			case 5:
				p = &d.SectorsRead
			case 7:
				p = &d.Writes
			case 9:
				p = &d.SectorsWritten
			}
			n++
			if p == nil {
				continue
			}
			v, err := parseUint(f)
			if err != nil {
				return dst, fmt.Errorf("line %d (%s) column %d: %w", lineNo, d.Name, n, err)
			}
			*p = v
		}
		if n == 0 {
			continue
		}
		if n < 14 {
			return dst, fmt.Errorf("line %d: %d columns, want at least 14", lineNo, n)
		}
		dst = append(dst, d)
	}
	return dst, nil
}

// mount is one line of /proc/mounts, with octal escapes decoded.
type mount struct {
	Device, Path, FSType string
}

// parseMounts appends the mounts of /proc/mounts to dst.
func parseMounts(dst []mount, data []byte) ([]mount, error) {
	for lineNo := 1; len(data) > 0; lineNo++ {
		var line []byte
		line, data = nextLine(data)
		var m mount
		n := 0
		for f := range fieldsSeq(line) {
			switch n {
			case 0:
				m.Device = unescapeMount(f)
			case 1:
				m.Path = unescapeMount(f)
			case 2:
				m.FSType = string(f)
			}
			n++
		}
		if n == 0 {
			continue
		}
		if n < 3 {
			return dst, fmt.Errorf("line %d: %d columns, want at least 3", lineNo, n)
		}
		dst = append(dst, m)
	}
	return dst, nil
}

// unescapeMount decodes the \ooo octal escapes the kernel writes for space,
// tab, newline and backslash in mount fields.
func unescapeMount(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && isOctal(b[i+1]) && isOctal(b[i+2]) && isOctal(b[i+3]) {
			v := (b[i+1]-'0')<<6 | (b[i+2]-'0')<<3 | (b[i+3] - '0')
			sb.WriteByte(v)
			i += 3
			continue
		}
		sb.WriteByte(b[i])
	}
	return sb.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// parseCPUList parses a sysfs CPU list such as "0-3,8,10-11", at most
// maxCPUs of them.
func parseCPUList(data []byte, maxCPUs int) ([]int, error) {
	var cpus []int
	s := bytes.TrimSpace(data)
	if len(s) == 0 {
		return nil, nil
	}
	for part := range bytes.SplitSeq(s, []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a, err := parseUint(lo)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = parseUint(hi); err != nil {
				return nil, fmt.Errorf("cpu list %q: %w", s, err)
			}
		}
		if b < a || b >= uint64(maxCPUs) {
			return nil, fmt.Errorf("cpu list %q: range %d-%d is out of 0-%d", s, a, b, maxCPUs-1)
		}
		for c := a; c <= b; c++ {
			if len(cpus) == maxCPUs {
				return nil, fmt.Errorf("cpu list %q names more than %d CPUs", s, maxCPUs)
			}
			cpus = append(cpus, int(c))
		}
	}
	return cpus, nil
}

// nextLine splits data at its first newline.
func nextLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i], data[i+1:]
	}
	return data, nil
}

// fieldsSeq yields the fields of line separated by spaces or tabs, without
// allocating.
func fieldsSeq(line []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		i := 0
		for i < len(line) {
			for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
				i++
			}
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			if j > i && !yield(line[i:j]) {
				return
			}
			i = j
		}
	}
}

// parseUint parses a decimal counter.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, fmt.Errorf("empty number")
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a counter", b)
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, fmt.Errorf("%q overflows 64 bits", b)
		}
		v = v*10 + d
	}
	return v, nil
}
