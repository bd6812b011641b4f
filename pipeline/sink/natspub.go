package sink

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// NATSConn is the connection nats:// publishes on; *nats.Conn (the bus's
// Conn) satisfies it.
type NATSConn interface {
	Publish(subject string, data []byte) error
	FlushWithContext(ctx context.Context) error
	MaxPayload() int64
}

// natsFlushTimeout bounds the flush round trip when ctx has no deadline
// (the NATS client requires one).
const natsFlushTimeout = 10 * time.Second

// natsPublisher is the nats://subject publisher: each call's samples as a
// JSON list of Sample.as_dict() objects (FORMATS.md) on the subject, split
// into several messages when one would pass the server's max payload. A nil
// error means the server has received them (a flush round trip); it is core
// NATS, so a subscriber that is away misses them.
type natsPublisher struct {
	conn    NATSConn
	subject string
	met     publishCounters
}

func buildNATS(u *url.URL, raw string, env *buildEnv) (Stage, error) {
	if env.opts.NATS == nil {
		return nil, errors.New("no NATS connection to publish on")
	}
	// The subject is everything between :// and ?: url.Parse would take
	// it for a host and refuse some subject characters.
	subj := raw[strings.Index(raw, "://")+3:]
	if i := strings.IndexByte(subj, '?'); i >= 0 {
		subj = subj[:i]
	}
	if err := checkSubject(subj); err != nil {
		return nil, err
	}
	o, err := newURLOptions(u)
	if err != nil {
		return nil, err
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	return &natsPublisher{conn: env.opts.NATS, subject: subj, met: env.publishCounters("nats")}, nil
}

// checkSubject accepts a subject one can publish on: dot-separated
// non-empty tokens without wildcards or white space.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("no subject: write nats://subject.name")
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" {
			return fmt.Errorf("subject %q has an empty token", s)
		}
		if tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("subject %q holds a wildcard or white space", s)
		}
	}
	return nil
}

func (p *natsPublisher) Process(ctx context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	if len(src) == 0 {
		return dst, nil
	}
	limit := p.conn.MaxPayload()
	if limit <= 0 {
		limit = 1 << 20
	}
	var buf []byte
	rest := src
	for len(rest) > 0 {
		buf = append(buf[:0], '[')
		n := 0
		for n < len(rest) {
			mark := len(buf)
			if n > 0 {
				buf = append(buf, ',')
			}
			buf = AppendSampleJSON(buf, &rest[n])
			if int64(len(buf)+1) > limit && n > 0 {
				buf = buf[:mark]
				break
			}
			n++
		}
		buf = append(buf, ']')
		if int64(len(buf)) > limit {
			p.met.dropped.Inc()
			p.met.errors.Inc()
			return dst, fmt.Errorf("cannot publish on %s: one sample of %s is %d bytes, the server takes %d", p.subject, rest[0].ResourceID, len(buf), limit)
		}
		if err := p.conn.Publish(p.subject, buf); err != nil {
			p.met.errors.Inc()
			return dst, fmt.Errorf("cannot publish %d samples on %s: %w", n, p.subject, err)
		}
		rest = rest[n:]
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, natsFlushTimeout)
		defer cancel()
	}
	if err := p.conn.FlushWithContext(ctx); err != nil {
		p.met.errors.Inc()
		return dst, fmt.Errorf("cannot flush samples published on %s: %w", p.subject, err)
	}
	p.met.samples.Add(len(src))
	return dst, nil
}
