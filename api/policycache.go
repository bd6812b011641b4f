package api

import (
	"context"
	"sync"
	"time"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// policyTTL is how long a read of an archive policy serves reads of
// measures. Policies change rarely and only in their retention; a change
// made through this process is seen at once, one made through another
// API process within policyTTL.
const policyTTL = 5 * time.Second

// policyCache keeps the archive policies the reads of measures need, so
// that the hot read path makes one index query (the metric) instead of
// two. It is safe for concurrent use.
type policyCache struct {
	mu sync.Mutex // guards by
	by map[string]cachedPolicy
}

type cachedPolicy struct {
	p  *archive.Policy
	at time.Time
}

// get returns policy name from the cache or the index. The policy returned
// is shared: callers must not modify it.
func (s *Server) cachedPolicy(ctx context.Context, name string) (*archive.Policy, error) {
	c := &s.policies
	now := time.Now()
	c.mu.Lock()
	e, ok := c.by[name]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < policyTTL {
		return e.p, nil
	}
	p, err := s.d.Index.ArchivePolicy(ctx, name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.by == nil {
		c.by = map[string]cachedPolicy{}
	}
	c.by[name] = cachedPolicy{p: &p, at: now}
	c.mu.Unlock()
	return &p, nil
}

// forgetPolicy drops a policy this process changed or deleted.
func (s *Server) forgetPolicy(name string) {
	s.policies.mu.Lock()
	delete(s.policies.by, name)
	s.policies.mu.Unlock()
}
