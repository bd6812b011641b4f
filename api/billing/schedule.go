package billing

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Period is the length of a scheduled export's periods, in UTC.
type Period int

// The schedules billing.schedule names.
const (
	Hourly Period = iota + 1
	Daily
	Monthly
)

// ParsePeriod reads "hourly", "daily" or "monthly".
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "hourly":
		return Hourly, nil
	case "daily":
		return Daily, nil
	case "monthly":
		return Monthly, nil
	}
	return 0, fmt.Errorf("unknown billing schedule %q (hourly, daily or monthly)", s)
}

// String returns the schedule's name.
func (p Period) String() string {
	switch p {
	case Hourly:
		return "hourly"
	case Daily:
		return "daily"
	case Monthly:
		return "monthly"
	}
	return "unknown"
}

// Start returns the start of the period holding t.
func (p Period) Start(t time.Time) time.Time {
	t = t.UTC()
	switch p {
	case Hourly:
		return t.Truncate(time.Hour)
	case Daily:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case Monthly:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	panic(fmt.Sprintf("BUG: period %d", int(p)))
}

// Next returns the start of the period after the one starting at start.
func (p Period) Next(start time.Time) time.Time {
	switch p {
	case Hourly:
		return start.Add(time.Hour)
	case Daily:
		return start.AddDate(0, 0, 1)
	case Monthly:
		return start.AddDate(0, 1, 0)
	}
	panic(fmt.Sprintf("BUG: period %d", int(p)))
}

// FileName is the name an export of [from, to) for project ("" for all)
// in format f is written under: billing-<from>-<to>[-<project>]<ext>,
// times as 20060102T150405Z. Characters of the project other than
// letters, digits, '.', '_' and '-' become '_'.
func FileName(from, to time.Time, project string, f Format) string {
	const layout = "20060102T150405Z"
	name := "billing-" + from.UTC().Format(layout) + "-" + to.UTC().Format(layout)
	if project != "" {
		name += "-" + strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
				return r
			}
			return '_'
		}, project)
	}
	return name + f.Extension()
}

// ScheduleConfig configures a Scheduler; the keys billing.schedule,
// billing.dir and their siblings of vigil's configuration fill it.
type ScheduleConfig struct {
	Period Period
	// Dir receives the files; it must exist.
	Dir string
	// Formats written for each period; empty means FOCUS only.
	Formats []Format
	// Delay is how long after a period ends it is exported, so that late
	// measures (within the archive policies' back windows) are in.
	Delay time.Duration
	// Since, when set, is the first period exported; periods from it on
	// missing from Dir are exported, gaps included. Zero: from the period
	// after the newest one in Dir, or the last closed period when Dir
	// holds none.
	Since time.Time
	// Project restricts the exports to one project; empty exports all.
	Project string
}

// MaxCatchUp bounds the periods one Catchup writes, so that a Since far
// in the past with an hourly schedule cannot hold the scheduler for long;
// the next run goes on from where it stopped.
const MaxCatchUp = 1000

const tmpPrefix = ".tmp-"

// Scheduler writes every closed period to a directory, once.
type Scheduler struct {
	src Source
	cfg *Config
	sc  ScheduleConfig
	now func() time.Time
	log *slog.Logger
}

// NewScheduler returns a scheduler; Run starts it. now nil means
// time.Now; log nil discards.
func NewScheduler(src Source, cfg *Config, sc ScheduleConfig, now func() time.Time, log *slog.Logger) (*Scheduler, error) {
	switch sc.Period {
	case Hourly, Daily, Monthly:
	default:
		return nil, fmt.Errorf("billing schedule: unknown period %d", int(sc.Period))
	}
	if cfg == nil {
		return nil, errors.New("billing schedule: no rating configuration")
	}
	if sc.Dir == "" {
		return nil, errors.New("billing schedule: billing.dir is empty")
	}
	st, err := os.Stat(sc.Dir)
	if err != nil {
		return nil, fmt.Errorf("billing schedule: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("billing schedule: %s is not a directory", sc.Dir)
	}
	if sc.Delay < 0 {
		return nil, fmt.Errorf("billing schedule: delay %v is negative", sc.Delay)
	}
	if len(sc.Formats) == 0 {
		sc.Formats = []Format{FormatFOCUS}
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{src: src, cfg: cfg, sc: sc, now: now, log: log}, nil
}

// Run exports what is due, then sleeps until the next period is due,
// until ctx is cancelled. A failed export is retried a minute later.
// Temporary files an earlier process left behind are removed first.
func (s *Scheduler) Run(ctx context.Context) error {
	s.removeTemps()
	for {
		wait := time.Minute
		if _, err := s.Catchup(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("billing export failed; retrying in a minute", "err", err)
		} else {
			now := s.now()
			due := s.sc.Period.Next(s.sc.Period.Start(now.Add(-s.sc.Delay))).Add(s.sc.Delay)
			wait = max(due.Sub(now), time.Second)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// Catchup writes every closed period that is due and missing, oldest
// first, and returns how many periods it wrote. It stops at the first
// failure, having written the periods before it.
func (s *Scheduler) Catchup(ctx context.Context) (int, error) {
	p := s.sc.Period
	now := s.now().UTC()
	closedEnd := p.Start(now.Add(-s.sc.Delay))
	var start time.Time
	switch {
	case !s.sc.Since.IsZero():
		start = p.Start(s.sc.Since)
	default:
		latest, ok, err := s.latest()
		if err != nil {
			return 0, err
		}
		if ok {
			start = p.Next(latest)
		} else {
			start = p.Start(closedEnd.Add(-time.Nanosecond))
		}
	}
	written := 0
	for t := start; !p.Next(t).After(closedEnd) && written < MaxCatchUp; t = p.Next(t) {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		did, err := s.exportPeriod(ctx, t, p.Next(t), now)
		if err != nil {
			return written, err
		}
		if did {
			written++
		}
	}
	return written, nil
}

// latest returns the start of the newest period of this schedule in Dir.
func (s *Scheduler) latest() (time.Time, bool, error) {
	ents, err := os.ReadDir(s.sc.Dir)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("cannot list %s: %w", s.sc.Dir, err)
	}
	var best time.Time
	found := false
	for _, e := range ents {
		from, ok := s.parseName(e.Name())
		if ok && (!found || from.After(best)) {
			best, found = from, true
		}
	}
	return best, found, nil
}

// parseName reads the period start of a file this scheduler writes.
func (s *Scheduler) parseName(name string) (time.Time, bool) {
	const layout = "20060102T150405Z"
	if !strings.HasPrefix(name, "billing-") || len(name) < len("billing-")+2*len(layout)+1 {
		return time.Time{}, false
	}
	rest := name[len("billing-"):]
	from, err1 := time.Parse(layout, rest[:len(layout)])
	to, err2 := time.Parse(layout, rest[len(layout)+1:2*len(layout)+1])
	if err1 != nil || err2 != nil || rest[len(layout)] != '-' {
		return time.Time{}, false
	}
	p := s.sc.Period
	if !p.Start(from).Equal(from) || !p.Next(from).Equal(to) {
		return time.Time{}, false
	}
	for _, f := range s.sc.Formats {
		if name == FileName(from, to, s.sc.Project, f) {
			return from, true
		}
	}
	return time.Time{}, false
}

// exportPeriod writes the formats of [from, to) missing from Dir, and
// reports whether it wrote any.
func (s *Scheduler) exportPeriod(ctx context.Context, from, to, now time.Time) (bool, error) {
	var missing []Format
	for _, f := range s.sc.Formats {
		_, err := os.Stat(filepath.Join(s.sc.Dir, FileName(from, to, s.sc.Project, f)))
		if errors.Is(err, os.ErrNotExist) {
			missing = append(missing, f)
		} else if err != nil {
			return false, fmt.Errorf("cannot check for the export of %s: %w", from.Format(time.RFC3339), err)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	rep, err := Rate(ctx, s.src, s.cfg, Query{From: from, To: to, Project: s.sc.Project, Now: now})
	if err != nil {
		return false, fmt.Errorf("cannot rate %s to %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	for _, f := range missing {
		name := FileName(from, to, s.sc.Project, f)
		if err := writeAtomic(s.sc.Dir, name, func(w io.Writer) error { return rep.Write(w, f) }); err != nil {
			return false, err
		}
		s.log.Info("billing period exported", "file", name, "lines", len(rep.Lines), "total", decText(&rep.Total))
	}
	return true, nil
}

// writeAtomic writes name in dir so that it appears whole or not at all:
// into a temporary file of the same directory, synced, renamed over name,
// and the directory synced so that the rename survives a crash.
func writeAtomic(dir, name string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("cannot create a temporary file for %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if err = write(bw); err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("cannot rename %s to %s: %w", tmp, name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", dir, err)
	}
	return nil
}

// removeTemps deletes the temporary files of writes a crash interrupted.
func (s *Scheduler) removeTemps() {
	ents, err := os.ReadDir(s.sc.Dir)
	if err != nil {
		s.log.Warn("cannot list the billing directory", "dir", s.sc.Dir, "err", err)
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix+"billing-") {
			if err := os.Remove(filepath.Join(s.sc.Dir, e.Name())); err != nil {
				s.log.Warn("cannot remove a temporary billing file", "file", e.Name(), "err", err)
			}
		}
	}
}
