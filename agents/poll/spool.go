package poll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// spool is the agent's bounded on-disk queue of batches the bus did not
// take: one file per batch, named by a sequence number so that a restarted
// agent replays them in the order they were polled. A file is written to a
// temporary name, synced and renamed, so a crash leaves either the whole
// batch or nothing. Past maxBytes the oldest files are dropped, and their
// samples counted, so that an agent cut off for long keeps its newest data
// and never fills the disk.
//
// File layout (little endian):
//
//	magic "VSP1" | crc32c of the rest uint32 | samples uint32 | msgID length uint16 | msgID | batch (wire encoding)
//
// A spool is not safe for concurrent use: the scheduler's publishing
// goroutine owns it.
type spool struct {
	dir      string
	maxBytes int64
	entries  []spoolEntry // ascending seq
	bytes    int64
	next     uint64
}

type spoolEntry struct {
	seq     uint64
	size    int64
	samples int
}

const (
	spoolMagic  = "VSP1"
	spoolSuffix = ".batch"
	spoolHeader = 4 + 4 + 4 + 2
)

var spoolTable = crc32.MakeTable(crc32.Castagnoli)

// errSpoolCorrupt marks a spooled file that cannot be read back; the
// caller drops it and counts its samples as lost.
var errSpoolCorrupt = errors.New("corrupt spool file")

// openSpool opens (creating) dir and indexes the batches a previous run
// left there. Half-written temporary files are removed.
func openSpool(dir string, maxBytes int64) (*spool, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("spool %s: max bytes must be > 0, got %d", dir, maxBytes)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create spool directory %s: %w", dir, err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list spool directory %s: %w", dir, err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes}
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name))
			continue
		}
		base, ok := strings.CutSuffix(name, spoolSuffix)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(base, 10, 64)
		if err != nil {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return nil, fmt.Errorf("cannot stat spool file %s: %w", name, err)
		}
		samples, err := readSpoolSamples(filepath.Join(dir, name))
		if err != nil {
			samples = 0 // counted as it is dropped on replay
		}
		s.entries = append(s.entries, spoolEntry{seq: seq, size: info.Size(), samples: samples})
		s.bytes += info.Size()
		s.next = max(s.next, seq+1)
	}
	slices.SortFunc(s.entries, func(a, b spoolEntry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return s, nil
}

func readSpoolSamples(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var h [spoolHeader]byte
	if _, err := f.Read(h[:]); err != nil {
		return 0, err
	}
	if string(h[:4]) != spoolMagic {
		return 0, errSpoolCorrupt
	}
	return int(binary.LittleEndian.Uint32(h[8:12])), nil
}

func (s *spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, spoolSuffix))
}

// len returns the number of spooled batches.
func (s *spool) len() int { return len(s.entries) }

// size returns the bytes the spooled batches take.
func (s *spool) size() int64 { return s.bytes }

// samples returns how many samples the spooled batches hold.
func (s *spool) samples() int {
	n := 0
	for _, e := range s.entries {
		n += e.samples
	}
	return n
}

// push appends one encoded batch of n samples with its message id and
// returns how many samples it dropped (oldest first) to stay within
// maxBytes. A batch larger than maxBytes on its own is dropped whole.
func (s *spool) push(batch []byte, msgID string, n int) (dropped int, err error) {
	if len(msgID) > 0xffff {
		return 0, fmt.Errorf("spool: message id of %d bytes is too long", len(msgID))
	}
	buf := make([]byte, spoolHeader, spoolHeader+len(msgID)+len(batch))
	copy(buf, spoolMagic)
	binary.LittleEndian.PutUint32(buf[8:], uint32(n))
	binary.LittleEndian.PutUint16(buf[12:], uint16(len(msgID)))
	buf = append(buf, msgID...)
	buf = append(buf, batch...)
	binary.LittleEndian.PutUint32(buf[4:], crc32.Checksum(buf[8:], spoolTable))
	size := int64(len(buf))
	if size > s.maxBytes {
		return n, nil
	}
	for s.bytes+size > s.maxBytes && len(s.entries) > 0 {
		d, err := s.dropOldest()
		dropped += d
		if err != nil {
			return dropped, err
		}
	}
	seq := s.next
	final := s.path(seq)
	tmp := final + ".tmp"
	if err := writeSynced(tmp, buf); err != nil {
		_ = os.Remove(tmp)
		return dropped, fmt.Errorf("cannot write spool file %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return dropped, fmt.Errorf("cannot rename spool file %s: %w", tmp, err)
	}
	s.next++
	s.entries = append(s.entries, spoolEntry{seq: seq, size: size, samples: n})
	s.bytes += size
	return dropped, nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// peek reads the oldest batch. A file that cannot be read back whole
// returns an error wrapping errSpoolCorrupt; the caller pops it.
func (s *spool) peek() (batch []byte, msgID string, samples int, err error) {
	if len(s.entries) == 0 {
		return nil, "", 0, errors.New("BUG: peek on an empty spool")
	}
	e := s.entries[0]
	path := s.path(e.seq)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", 0, fmt.Errorf("cannot read spool file %s: %w", path, err)
	}
	if len(b) < spoolHeader || string(b[:4]) != spoolMagic {
		return nil, "", 0, fmt.Errorf("%w %s: %d bytes, bad header", errSpoolCorrupt, path, len(b))
	}
	if crc32.Checksum(b[8:], spoolTable) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, "", 0, fmt.Errorf("%w %s: checksum mismatch", errSpoolCorrupt, path)
	}
	n := int(binary.LittleEndian.Uint32(b[8:]))
	idLen := int(binary.LittleEndian.Uint16(b[12:]))
	if spoolHeader+idLen > len(b) {
		return nil, "", 0, fmt.Errorf("%w %s: message id runs past the end", errSpoolCorrupt, path)
	}
	return b[spoolHeader+idLen:], string(b[spoolHeader : spoolHeader+idLen]), n, nil
}

// pop removes the oldest batch.
func (s *spool) pop() error {
	if len(s.entries) == 0 {
		return nil
	}
	e := s.entries[0]
	if err := os.Remove(s.path(e.seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove spool file %s: %w", s.path(e.seq), err)
	}
	s.entries = s.entries[1:]
	s.bytes -= e.size
	return nil
}

func (s *spool) dropOldest() (int, error) {
	n := s.entries[0].samples
	return n, s.pop()
}
