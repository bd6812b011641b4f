package sink

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// filePublisher is the file:// publisher: one JSON object per line
// (FORMATS.md), appended to the file. With max_bytes and backup_count both
// above zero the file rotates as Python's RotatingFileHandler does: a line
// that would take it past max_bytes first renames path.N-1 to path.N, ...,
// path to path.1, dropping what was path.<backup_count>. Ceilometer writes
// Python reprs unless `json` is given; this publisher always writes JSON
// and accepts `json` for compatibility. With sync=true each batch is
// fsynced before Process returns; otherwise a nil error means the lines are
// written to the operating system.
type filePublisher struct {
	path        string
	maxBytes    int64
	backupCount int
	sync        bool
	met         publishCounters

	mu   sync.Mutex
	f    *os.File // guarded by mu; nil until the first write
	size int64    // guarded by mu
	buf  []byte   // guarded by mu
}

func buildFile(u *url.URL, _ string, env *buildEnv) (Stage, error) {
	path := u.Path
	if u.Host != "" {
		path = u.Host + u.Path // file://relative/path, as Python's urlparse leaves it
	}
	if u.Opaque != "" {
		path = u.Opaque
	}
	if path == "" {
		return nil, errors.New("no file path: write file:///path/to/file")
	}
	o, err := newURLOptions(u)
	if err != nil {
		return nil, err
	}
	p := &filePublisher{path: filepath.Clean(path), met: env.publishCounters("file")}
	if s, ok := o.get("max_bytes"); ok {
		if p.maxBytes, err = strconv.ParseInt(s, 10, 64); err != nil || p.maxBytes < 0 {
			return nil, fmt.Errorf("max_bytes: %q is not a size in bytes", s)
		}
	}
	if s, ok := o.get("backup_count"); ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			return nil, fmt.Errorf("backup_count: %q is not a count in [0, 1000]", s)
		}
		p.backupCount = n
	}
	o.get("json")
	if s, ok := o.get("sync"); ok {
		b, ok := yamlnode.ParseBool(s)
		if !ok {
			return nil, fmt.Errorf("sync: %q is not a boolean", s)
		}
		p.sync = b
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *filePublisher) rotating() bool { return p.maxBytes > 0 && p.backupCount > 0 }

func (p *filePublisher) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	if len(src) == 0 {
		return dst, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.write(src); err != nil {
		p.met.errors.Inc()
		return dst, fmt.Errorf("cannot write %d samples to %s: %w", len(src), p.path, err)
	}
	p.met.samples.Add(len(src))
	return dst, nil
}

// write appends one line per sample, rotating between lines; mu must be
// held.
func (p *filePublisher) write(src []pipeline.Sample) error {
	if err := p.open(); err != nil {
		return err
	}
	p.buf = p.buf[:0]
	for i := range src {
		start := len(p.buf)
		p.buf = AppendSampleJSON(p.buf, &src[i])
		p.buf = append(p.buf, '\n')
		line := int64(len(p.buf) - start)
		if p.rotating() && p.size+int64(start)+line >= p.maxBytes && p.size+int64(start) > 0 {
			if err := p.flush(p.buf[:start]); err != nil {
				return err
			}
			p.buf = append(p.buf[:0], p.buf[start:]...)
			if err := p.rotate(); err != nil {
				return err
			}
		}
	}
	return p.flush(p.buf)
}

func (p *filePublisher) flush(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := p.f.Write(b)
	p.size += int64(n)
	if err != nil {
		return err
	}
	if p.sync {
		return p.f.Sync()
	}
	return nil
}

func (p *filePublisher) open() error {
	if p.f != nil {
		return nil
	}
	f, err := os.OpenFile(p.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	p.f, p.size = f, st.Size()
	return nil
}

func (p *filePublisher) rotate() error {
	if err := p.f.Close(); err != nil {
		return err
	}
	p.f = nil
	for i := p.backupCount - 1; i >= 1; i-- {
		from := p.path + "." + strconv.Itoa(i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, p.path+"."+strconv.Itoa(i+1)); err != nil {
				return err
			}
		}
	}
	if err := os.Rename(p.path, p.path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return p.open()
}

// Close closes the file.
func (p *filePublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}
