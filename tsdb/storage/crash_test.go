package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The crash test runs this test binary again as a writer (crashChildEnv
// names its directory), kills it with SIGKILL while it commits, and checks
// what it reported committed.
const (
	crashChildEnv  = "STORAGE_CRASH_CHILD_DIR"
	crashFirstEnv  = "STORAGE_CRASH_CHILD_FIRST"
	crashMetrics   = 8
	crashSplitSize = 6 << 10
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		first, err := strconv.ParseUint(os.Getenv(crashFirstEnv), 10, 64)
		if err == nil {
			err = crashChild(dir, first)
		}
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// crashMetric is the metric that commit seq writes.
func crashMetric(seq uint64) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(seq % crashMetrics)})
}

// crashBatch writes commit seq: two splits of its own and the unaggregated
// window of its metric, which later commits overwrite.
func crashBatch(b Batch, seq uint64) error {
	m := crashMetric(seq)
	return errors.Join(
		b.PutSplit(m, sec, int64(seq)*3600*sec, value(seq, crashSplitSize)),
		b.PutSplit(m, 60*sec, -int64(seq)*3600*sec, value(seq<<1, crashSplitSize/2)),
		b.PutUnaggregated(m, append(strconv.AppendUint(nil, seq, 10), append([]byte{' '}, value(seq<<2, 300)...)...)),
	)
}

// crashChild commits batches first, first+1, … until it is killed,
// reporting each on stdout once Commit returned.
func crashChild(dir string, first uint64) error {
	s, err := OpenPebble(dir, PebbleOptions{MemTableBytes: 2 << 20, Logger: quietLogger()})
	if err != nil {
		return err
	}
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	for seq := first; ; seq++ {
		b := s.NewBatch()
		if err := crashBatch(b, seq); err != nil {
			return err
		}
		if err := b.Commit(ctx, true); err != nil {
			return err
		}
		b.Close()
		fmt.Fprintf(out, "committed %d\n", seq)
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

func TestCrashKeepsCommitted(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	next := uint64(1)
	for round := range 4 {
		// Kill after a random number of reported commits, so that the kill
		// lands at different points of the WAL and of flushes.
		killAfter := 20 + r.IntN(400)
		last := runAndKill(t, dir, next, killAfter)
		if last < next {
			t.Fatalf("round %d: the writer reported no commit", round)
		}
		next = checkCrashed(t, dir, last) + 1
		t.Logf("round %d: killed after commit %d; %d commits on disk", round, last, next-1)
	}
}

// runAndKill starts a writer at first and kills it after it reported n
// commits; it returns the last commit reported.
func runAndKill(t *testing.T, dir string, first uint64, n int) uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashFirstEnv+"="+strconv.FormatUint(first, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	timer := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var last uint64
	sc := bufio.NewScanner(stdout)
	for count := 0; sc.Scan(); {
		seq, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "committed "), 10, 64)
		if err != nil {
			t.Fatalf("writer said %q", sc.Text())
		}
		if seq != first+uint64(count) {
			t.Fatalf("writer reported %d, want %d", seq, first+uint64(count))
		}
		last = seq
		if count++; count == n {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("writer ended before it was killed: %v\n%s", err, stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("writer did not die of SIGKILL: %v\n%s", err, stderr.String())
	}
	return last
}

// checkCrashed reopens dir and checks every commit up to last, and any
// commit past it that made it to disk, whole. It returns the last commit
// found.
func checkCrashed(t *testing.T, dir string, last uint64) uint64 {
	t.Helper()
	ctx := context.Background()
	s := openTest(t, dir, PebbleOptions{MemTableBytes: 2 << 20})
	defer closeTest(t, s)
	found := uint64(0)
	for seq := uint64(1); ; seq++ {
		m := crashMetric(seq)
		a, errA := s.GetSplit(ctx, m, sec, int64(seq)*3600*sec, nil)
		b, errB := s.GetSplit(ctx, m, 60*sec, -int64(seq)*3600*sec, nil)
		if seq > last && errors.Is(errA, ErrNotFound) && errors.Is(errB, ErrNotFound) {
			break
		}
		// A batch is atomic: both splits or neither, and whole.
		if errA != nil || errB != nil {
			t.Fatalf("commit %d (last reported %d): splits read %v, %v", seq, last, errA, errB)
		}
		if !bytes.Equal(a, value(seq, crashSplitSize)) || !bytes.Equal(b, value(seq<<1, crashSplitSize/2)) {
			t.Fatalf("commit %d: a split is not the value written", seq)
		}
		found = seq
	}
	// Each metric's window is the one of its latest commit on disk.
	for i := range uint64(crashMetrics) {
		seq := found - (found+crashMetrics-i)%crashMetrics
		if seq == 0 || seq > found {
			continue
		}
		raw, err := s.GetUnaggregated(ctx, crashMetric(seq), nil)
		want := append(strconv.AppendUint(nil, seq, 10), append([]byte{' '}, value(seq<<2, 300)...)...)
		if err != nil || !bytes.Equal(raw, want) {
			t.Fatalf("window of metric %d: %q…, %v; want the one of commit %d", i, raw[:min(len(raw), 10)], err, seq)
		}
	}
	starts, err := s.Splits(ctx, crashMetric(1), sec, math.MinInt64, math.MaxInt64)
	if err != nil || len(starts) != int((found+crashMetrics-1)/crashMetrics) {
		t.Fatalf("metric 1 lists %d splits, %v; want %d", len(starts), err, (found+crashMetrics-1)/crashMetrics)
	}
	return found
}
