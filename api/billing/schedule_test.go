package billing

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the scheduler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestPeriods(t *testing.T) {
	at := time.Date(2024, 2, 29, 13, 45, 10, 5, time.UTC)
	for _, tc := range []struct {
		p           Period
		start, next time.Time
	}{
		{Hourly, time.Date(2024, 2, 29, 13, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 14, 0, 0, 0, time.UTC)},
		{Daily, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
		{Monthly, time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if s := tc.p.Start(at); !s.Equal(tc.start) || !tc.p.Next(s).Equal(tc.next) {
			t.Errorf("%s: start %v next %v", tc.p, s, tc.p.Next(s))
		}
		if p, err := ParsePeriod(tc.p.String()); err != nil || p != tc.p {
			t.Errorf("ParsePeriod(%s) = %v, %v", tc.p, p, err)
		}
	}
	if _, err := ParsePeriod("weekly"); err == nil {
		t.Error("weekly accepted")
	}
}

// TestSchedulerCatchup runs a daily schedule across a downtime: each
// closed day is written once, what exists is skipped, a gap is filled
// when Since asks for it, and the open day waits.
func TestSchedulerCatchup(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	cfg := loadTestConfig(t, "rating.yaml")
	dir := t.TempDir()
	clk := &clock{t: day(4, 0, 30)}
	sc := ScheduleConfig{Period: Daily, Dir: dir, Formats: []Format{FormatFOCUS, FormatJSON}, Delay: time.Hour}
	s, err := NewScheduler(e.src, cfg, sc, clk.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// An empty directory starts with the last closed day: the 3rd is not
	// due until 01:00 on the 4th, so the 2nd.
	n, err := s.Catchup(ctx)
	if err != nil || n != 1 {
		t.Fatalf("first run: %d periods, %v", n, err)
	}
	want := []string{FileName(day(2, 0, 0), day(3, 0, 0), "", FormatFOCUS), FileName(day(2, 0, 0), day(3, 0, 0), "", FormatJSON)}
	slices.Sort(want)
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if n, err := s.Catchup(ctx); err != nil || n != 0 {
		t.Fatalf("second run: %d periods, %v", n, err)
	}
	// Down for a week: the run after it writes the 3rd to the 10th.
	clk.set(day(11, 1, 0))
	if n, err := s.Catchup(ctx); err != nil || n != 8 {
		t.Fatalf("catch-up: %d periods, %v", n, err)
	}
	if got := len(listDir(t, dir)); got != 18 {
		t.Fatalf("%d files, want 18", got)
	}
	// The files are the exports of their day.
	rep, err := Rate(ctx, e.src, cfg, Query{From: day(10, 0, 0), To: day(11, 0, 0), Now: day(11, 1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, FormatFOCUS); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(dir, FileName(day(10, 0, 0), day(11, 0, 0), "", FormatFOCUS)))
	if !bytes.Equal(got, buf.Bytes()) {
		t.Errorf("the file of the 10th is not its export")
	}
	if !strings.Contains(string(got), "vm-resized") {
		t.Errorf("the 10th has no line of vm-resized")
	}
	// A file already there is never rewritten.
	old := filepath.Join(dir, FileName(day(5, 0, 0), day(6, 0, 0), "", FormatJSON))
	if err := os.WriteFile(old, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A missing one is rewritten only when Since reaches back to it.
	gone := filepath.Join(dir, FileName(day(4, 0, 0), day(5, 0, 0), "", FormatFOCUS))
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Catchup(ctx); err != nil || n != 0 {
		t.Fatalf("run without Since: %d periods, %v", n, err)
	}
	sc.Since = day(1, 0, 0)
	s2, err := NewScheduler(e.src, cfg, sc, clk.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s2.Catchup(ctx); err != nil || n != 2 { // the 1st, and the 4th's FOCUS file
		t.Fatalf("run with Since: %d periods, %v", n, err)
	}
	if _, err := os.Stat(gone); err != nil {
		t.Errorf("the missing file is not rewritten: %v", err)
	}
	if b := readFile(t, old); string(b) != "kept" {
		t.Errorf("an existing file was rewritten: %q", b)
	}
}

// TestSchedulerAtomic checks that a failed export leaves neither the file
// nor a temporary one, that the next run writes it, and that Run removes
// the temporary files a crash left.
func TestSchedulerAtomic(t *testing.T) {
	e := newEnv(t, "sqlite")
	marchData(e)
	dir := t.TempDir()
	clk := &clock{t: day(11, 0, 0)}
	// The price list starts on the 10th: rating the 9th fails.
	bad := mustConfig(t, `currency: EUR
services:
  - {name: vm, measure: instance_hours}
prices:
  - from: 2024-03-09T12:00:00Z
    services: {vm: [{price: 1}]}
`)
	sc := ScheduleConfig{Period: Daily, Dir: dir, Since: day(9, 0, 0)}
	s, err := NewScheduler(e.src, bad, sc, clk.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Catchup(context.Background())
	if err == nil || n != 0 || !strings.Contains(err.Error(), "before the first price list") {
		t.Fatalf("catch-up: %d periods, error %v", n, err)
	}
	if files := listDir(t, dir); len(files) != 0 {
		t.Fatalf("a failed export left %v", files)
	}
	// A write that fails half-way leaves nothing either.
	err = writeAtomic(dir, "billing-x.csv", func(w io.Writer) error {
		if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
			return err
		}
		return os.ErrDeadlineExceeded
	})
	if err == nil {
		t.Fatal("a failing write succeeded")
	}
	if files := listDir(t, dir); len(files) != 0 {
		t.Fatalf("a failed write left %v", files)
	}
	// With prices from the 1st, the next run writes both days.
	good := loadTestConfig(t, "rating.yaml")
	s, err = NewScheduler(e.src, good, sc, clk.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, tmpPrefix+FileName(day(8, 0, 0), day(9, 0, 0), "", FormatFOCUS)+"-123")
	if err := os.WriteFile(stale, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files := listDir(t, dir)
		if len(files) == 2 && !slices.Contains(files, filepath.Base(stale)) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("files %v after 20 s", files)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestNewSchedulerErrors(t *testing.T) {
	cfg := mustConfig(t, minimalConfig)
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  *Config
		sc   ScheduleConfig
	}{
		{"no period", cfg, ScheduleConfig{Dir: t.TempDir()}},
		{"no config", nil, ScheduleConfig{Period: Daily, Dir: t.TempDir()}},
		{"no dir", cfg, ScheduleConfig{Period: Daily}},
		{"missing dir", cfg, ScheduleConfig{Period: Daily, Dir: filepath.Join(t.TempDir(), "nope")}},
		{"dir is a file", cfg, ScheduleConfig{Period: Daily, Dir: file}},
		{"negative delay", cfg, ScheduleConfig{Period: Daily, Dir: t.TempDir(), Delay: -time.Second}},
	} {
		if _, err := NewScheduler(nil, tc.cfg, tc.sc, nil, nil); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestFileName(t *testing.T) {
	got := FileName(march, april, "p/../x y", FormatFOCUS)
	if got != "billing-20240301T000000Z-20240401T000000Z-p_.._x_y.focus.csv" {
		t.Errorf("FileName = %q", got)
	}
}
