package sink

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// arithmetic is Ceilometer's arithmetic transformer: an expression over
// several meters of one resource, such as `$(memory.usage) / $(memory) *
// 100`. `$(name)` is that meter's volume and `$(name).field` a field of its
// sample (`$(cpu).resource_metadata.cpu_number`). It keeps the latest
// sample of each meter the expression names, per resource; when a batch
// leaves a resource with all of them, it emits one sample named by the
// target, with the first-named meter's unit, type, user, project and
// metadata unless the target says otherwise, stamped with the newest of
// the samples' timestamps, and forgets that resource. It passes nothing
// else on, as in Ceilometer. A result that is not a finite number (a
// division by zero) is dropped and counted.
type arithmetic struct {
	conv   *conversion
	meters map[string]int // meter name → index in the expression's _m
	names  []string
	prog   *vm.Program
	src    string
	drop   dropCounters
	now    func() time.Time

	mu        sync.Mutex
	cache     map[string]*arithResource // by resource id; guarded by mu
	touched   []string                  // resources changed by the current call; guarded by mu
	run       arithRun                  // guarded by mu
	lastSweep time.Time                 // guarded by mu
}

type arithResource struct {
	samples []pipeline.Sample // by meter index; Name == "" when absent
	have    int
	seen    time.Time
	touched bool
}

// arithEnv is the expression's namespace: _m[i] is the i-th named meter.
type arithEnv struct {
	M []*sampleEnv `expr:"_m"`
}

type arithRun struct {
	vm   vm.VM
	env  arithEnv
	envs []sampleEnv
}

// meterRef matches Ceilometer's meter references.
var meterRef = regexp.MustCompile(`\$\(([\w.\-]+)\)`)

// maxArithmeticMeters bounds the meters one expression may name.
const maxArithmeticMeters = 64

// parseArithmetic rewrites `$(name)` references into _m[i] (with .volume
// unless a field follows) and returns the meter names in order of first
// use.
func parseArithmetic(src string) (string, []string, error) {
	index := map[string]int{}
	var names []string
	var err error
	var b []byte
	last := 0
	for _, m := range meterRef.FindAllStringSubmatchIndex(src, -1) {
		name := src[m[2]:m[3]]
		i, ok := index[name]
		if !ok {
			if len(names) == maxArithmeticMeters {
				err = fmt.Errorf("expression names more than %d meters", maxArithmeticMeters)
				break
			}
			i = len(names)
			index[name] = i
			names = append(names, name)
		}
		b = append(b, src[last:m[0]]...)
		b = fmt.Appendf(b, "_m[%d]", i)
		if m[1] >= len(src) || src[m[1]] != '.' {
			b = append(b, ".volume"...)
		}
		last = m[1]
	}
	b = append(b, src[last:]...)
	return string(b), names, err
}

func buildArithmetic(tc transformerConfig, env *buildEnv) (Stage, error) {
	path := tc.path + ".parameters"
	p, err := readParams(tc.params, path, "target")
	if err != nil {
		return nil, err
	}
	conv, err := parseConversion(p, path, "name", "unit", "type", "expr")
	if err != nil {
		return nil, err
	}
	tn := p["target"]
	if tn == nil {
		return nil, yamlnode.ErrAt(yamlnode.Resolve(tc.params), path+".target", "required: the name and expr of the new meter")
	}
	tp, err := readParams(tn, path+".target", "name", "unit", "type", "expr")
	if err != nil {
		return nil, err
	}
	en := tp["expr"]
	if en == nil {
		return nil, yamlnode.ErrAt(yamlnode.Resolve(tn), path+".target.expr", "required")
	}
	if conv.name == "" {
		return nil, yamlnode.ErrAt(yamlnode.Resolve(tn), path+".target.name", "required")
	}
	src, err := yamlnode.ScalarString(en, path+".target.expr")
	if err != nil {
		return nil, err
	}
	translated, names, err := parseArithmetic(src)
	if err != nil {
		return nil, yamlnode.ErrAt(en, path+".target.expr", "%v", err)
	}
	if len(names) == 0 {
		return nil, yamlnode.ErrAt(en, path+".target.expr", "the expression names no meter: write $(meter.name)")
	}
	prog, err := compilePython(translated, &arithEnv{})
	if err != nil {
		return nil, yamlnode.ErrAt(en, path+".target.expr", "%v", err)
	}
	a := &arithmetic{
		conv: conv, meters: map[string]int{}, names: names, prog: prog, src: src,
		drop: env.dropCounters(tc.name), now: env.now, cache: map[string]*arithResource{},
	}
	for i, n := range names {
		a.meters[n] = i
	}
	a.run.envs = make([]sampleEnv, len(names))
	a.run.env.M = make([]*sampleEnv, len(names))
	for i := range a.run.envs {
		a.run.env.M[i] = &a.run.envs[i]
	}
	return a, nil
}

func (a *arithmetic) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweep(now)
	for i := range src {
		s := &src[i]
		mi, ok := a.meters[s.Name]
		if !ok {
			continue
		}
		r := a.cache[s.ResourceID]
		if r == nil {
			r = &arithResource{samples: make([]pipeline.Sample, len(a.names))}
			a.cache[s.ResourceID] = r
		}
		r.seen = now
		cur := &r.samples[mi]
		switch {
		case cur.Name == "":
			r.have++
		case s.Timestamp.Before(cur.Timestamp):
			a.drop.outOfOrder.Inc()
			continue // keep the newer sample
		}
		*cur = *s
		if !r.touched {
			r.touched = true
			a.touched = append(a.touched, s.ResourceID)
		}
	}
	for _, id := range a.touched {
		r := a.cache[id]
		r.touched = false
		if r.have < len(a.names) {
			continue
		}
		if out, ok := a.compute(r); ok {
			dst = append(dst, out)
		}
		// Ceilometer forgets the resource; clearing it does the same and
		// keeps its memory for the next round.
		clear(r.samples)
		r.have = 0
	}
	clear(a.touched)
	a.touched = a.touched[:0]
	return dst, nil
}

// compute evaluates the expression over a complete resource; mu must be
// held.
func (a *arithmetic) compute(r *arithResource) (pipeline.Sample, bool) {
	ts := r.samples[0].Timestamp
	for i := range r.samples {
		a.run.envs[i].set(&r.samples[i])
		if r.samples[i].Timestamp.After(ts) {
			ts = r.samples[i].Timestamp
		}
	}
	v, err := a.run.vm.Run(a.prog, &a.run.env)
	for i := range a.run.envs {
		a.run.envs[i] = sampleEnv{}
	}
	ref := &r.samples[0]
	if err == nil {
		var f float64
		if f, err = toFloat(v); err == nil {
			out := a.conv.convert(ref, f)
			out.Timestamp = ts
			return out, true
		}
	}
	a.drop.evalError(fmt.Errorf("cannot evaluate %q for resource %s: %w", a.src, ref.ResourceID, err))
	return pipeline.Sample{}, false
}

// sweep forgets resources that have waited cacheIdle for their other
// meters; mu must be held.
func (a *arithmetic) sweep(now time.Time) {
	if now.Sub(a.lastSweep) < sweepEvery {
		return
	}
	a.lastSweep = now
	for id, r := range a.cache {
		if now.Sub(r.seen) > cacheIdle {
			delete(a.cache, id)
			if r.have > 0 {
				a.drop.incomplete.Inc()
			}
		}
	}
}
