package billing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/google/uuid"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
	"github.com/vigil-telemetry/vigil/tsdb/index"
	"github.com/vigil-telemetry/vigil/tsdb/query"
)

// Errors callers branch on.
var (
	// ErrInvalidPeriod: the period asked for is empty, reversed or out of
	// range.
	ErrInvalidPeriod = errors.New("invalid period")
	// ErrUnrated: there is usage that no rate prices (no price list in
	// effect yet, no rate matching the resource, a flavor missing from the
	// flavors table). Rating refuses to guess a number.
	ErrUnrated = errors.New("usage without a price")
	// ErrUnknownMetric: resources of a service exist but no metric of the
	// service's name exists anywhere, which is a misspelt meter rather
	// than a period without data.
	ErrUnknownMetric = errors.New("unknown metric")
	// ErrUnknownResourceType: a service names a resource type the index
	// does not have.
	ErrUnknownResourceType = errors.New("unknown resource type")
)

// MaxPeriod is the longest period one rating covers.
const MaxPeriod = 366 * 24 * time.Hour

const hourNS = int64(time.Hour)

// maxQuantity bounds a line's quantity, so that with its 12 places at
// most and a price of at most 30+30 digits every product and sum of a
// bill stays exact in the 100 digits of the exact context.
var maxQuantity = apd.New(1, 24)

// Query is what Rate rates.
type Query struct {
	// From and To bound the period, To exclusive.
	From, To time.Time
	// Project restricts the rating to one project; empty rates them all.
	Project string
	// Now is when the rating runs: usage is counted up to it at most, so
	// that a period still open is rated up to now, never into the future.
	Now time.Time
}

// Line is one priced line item: the usage of one resource for one
// service over one charge period, at one unit price.
type Line struct {
	ProjectID          string
	UserID             string
	Service            *Service
	ResourceID         uuid.UUID
	OriginalResourceID string
	ResourceType       string
	// ResourceName is the display_name or name attribute, if any.
	ResourceName string
	// Zone is the availability_zone attribute, if any.
	Zone       string
	Start, End time.Time
	// Quantity is in Service.Unit, rounded to the quantity places.
	Quantity apd.Decimal
	// UnitPrice is the rate's price, or its tier's.
	UnitPrice apd.Decimal
	// Cost is Quantity × UnitPrice rounded once to the cost places.
	Cost apd.Decimal
	// PriceList is when the price list that priced the line took effect.
	PriceList time.Time
	// Rate is the name of the rate that matched.
	Rate string
	// Tier is the 1-based tier of a tiered rate, 0 for a flat price.
	Tier int
	// Multiplier is the flavor figure that multiplied the hours (vCPUs,
	// GB of memory), "" for none.
	Multiplier string
	// Tags are the resource's attributes (the latest revision of the
	// charge period) as text.
	Tags map[string]string
}

// Report is a rated period: its lines, sorted by project, service,
// resource, charge start and tier, and their total.
type Report struct {
	From, To time.Time
	// Until is when the usage counted ends: To, or the rating's Now when
	// that is earlier.
	Until     time.Time
	Project   string
	Generated time.Time
	Lines     []Line
	Total     apd.Decimal
	cfg       *Config
}

// Config returns the configuration the report was rated with.
func (r *Report) Config() *Config { return r.cfg }

// Rate rates the usage of q's period from src with cfg's prices.
func Rate(ctx context.Context, src Source, cfg *Config, q Query) (*Report, error) {
	from, to := q.From.UTC(), q.To.UTC()
	if from.Before(time.Unix(0, 0)) || to.Year() > 9999 {
		return nil, fmt.Errorf("%w: %s to %s is outside 1970 to 9999", ErrInvalidPeriod, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: from %s is not before to %s", ErrInvalidPeriod, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if to.Sub(from) > MaxPeriod {
		return nil, fmt.Errorf("%w: %s to %s is longer than %d days", ErrInvalidPeriod, from.Format(time.RFC3339), to.Format(time.RFC3339), MaxPeriod/(24*time.Hour))
	}
	now := q.Now.UTC()
	if now.IsZero() {
		now = time.Now().UTC()
	}
	until := to
	if now.Before(until) {
		until = now
	}
	rep := &Report{From: from, To: to, Until: until, Project: q.Project, Generated: now, cfg: cfg}
	mustExact(exact.Quantize(&rep.Total, &rep.Total, -cfg.Rounding.Places))
	if !until.After(from) {
		rep.Until = from
		return rep, nil
	}
	r := &rater{src: src, cfg: cfg, from: from.UnixNano(), to: until.UnixNano(), fromT: from, toT: until,
		now: now.UnixNano(), project: q.Project, policies: map[string]*archive.Policy{}, byType: map[string][]Resource{}}
	var pending []pendingLine
	for _, s := range cfg.Services {
		ls, err := r.service(ctx, s)
		if err != nil {
			return nil, err
		}
		pending = append(pending, ls...)
	}
	lines, err := priceLines(cfg, pending)
	if err != nil {
		return nil, err
	}
	for i := range lines {
		mustExact(exact.Add(&rep.Total, &rep.Total, &lines[i].Cost))
	}
	if err := roundTo(&rep.Total, &rep.Total, cfg.Rounding.Places, cfg.Rounding.Mode); err != nil {
		return nil, err
	}
	rep.Lines = lines
	return rep, nil
}

// rater rates one period.
type rater struct {
	src      Source
	cfg      *Config
	from, to int64 // Unix ns of the period, to capped at now
	fromT    time.Time
	toT      time.Time
	now      int64
	project  string
	policies map[string]*archive.Policy
	byType   map[string][]Resource
	buf      []byte
}

// span is [from, to) in Unix ns.
type span struct{ from, to int64 }

func (s span) empty() bool { return s.from >= s.to }

func intersect(a, b span) span { return span{max(a.from, b.from), min(a.to, b.to)} }

// piece is a part of a resource's life priced one way.
type piece struct {
	span
	rev  int // the latest revision of the piece
	rate *Mapping
	mult *apd.Decimal
	mtxt string
	proj string
	user string
}

// pendingLine is a line measured but not priced yet.
type pendingLine struct {
	Line
	rate *Mapping
}

func (r *rater) service(ctx context.Context, s *Service) ([]pendingLine, error) {
	res, err := r.resources(ctx, s.ResourceType)
	if errors.Is(err, index.ErrNotFound) {
		return nil, fmt.Errorf("%w: service %s (line %d) bills resource type %s, which does not exist: %w",
			ErrUnknownResourceType, s.Name, s.line, s.ResourceType, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot rate service %s: %w", s.Name, err)
	}
	if s.Metric != "" && len(res) > 0 {
		found := false
		for i := range res {
			if _, ok := res[i].Metrics[s.Metric]; ok {
				found = true
				break
			}
		}
		if !found {
			ok, err := r.src.HasMetric(ctx, s.Metric)
			if err != nil {
				return nil, fmt.Errorf("cannot rate service %s: %w", s.Name, err)
			}
			if !ok {
				return nil, fmt.Errorf("%w: service %s (line %d) reads metric %s, but no metric of that name exists while %d resources of type %s do",
					ErrUnknownMetric, s.Name, s.line, s.Metric, len(res), s.ResourceType)
			}
		}
	}
	var out []pendingLine
	for i := range res {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ls, err := r.resource(ctx, s, &res[i])
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

// resources lists the resources of type typ once for every service that
// bills it, with the metrics all of them read.
func (r *rater) resources(ctx context.Context, typ string) ([]Resource, error) {
	if res, ok := r.byType[typ]; ok {
		return res, nil
	}
	rq := ResourceQuery{Type: typ, From: r.fromT, To: r.toT, Project: r.project}
	for _, s := range r.cfg.Services {
		if s.ResourceType == typ && s.Metric != "" && !slices.Contains(rq.Metrics, s.Metric) {
			rq.Metrics = append(rq.Metrics, s.Metric)
		}
	}
	res, err := r.src.Resources(ctx, rq)
	if err != nil {
		return nil, err
	}
	r.byType[typ] = res
	return res, nil
}

func tsOr(t time.Time, zero int64) int64 {
	if t.IsZero() {
		return zero
	}
	return t.UnixNano()
}

func (r *rater) resource(ctx context.Context, s *Service, res *Resource) ([]pendingLine, error) {
	life := intersect(span{tsOr(res.StartedAt, math.MinInt64), tsOr(res.EndedAt, math.MaxInt64)}, span{r.from, r.to})
	if life.empty() {
		return nil, nil
	}
	var pieces []piece
	for ri := range res.Revisions {
		rev := &res.Revisions[ri]
		seg := intersect(span{tsOr(rev.Start, math.MinInt64), tsOr(rev.End, math.MaxInt64)}, life)
		if seg.empty() {
			continue
		}
		for seg.from < seg.to {
			li := r.cfg.priceListAt(seg.from)
			if li < 0 {
				return nil, fmt.Errorf("%w: service %s: resource %s has usage at %s, before the first price list (from %s, line %d)",
					ErrUnrated, s.Name, res.OriginalResourceID, time.Unix(0, seg.from).UTC().Format(time.RFC3339),
					r.cfg.PriceLists[0].From.Format(time.RFC3339), r.cfg.PriceLists[0].line)
			}
			end := seg.to
			if li+1 < len(r.cfg.PriceLists) {
				end = min(end, r.cfg.PriceLists[li+1].From.UnixNano())
			}
			pl := r.cfg.PriceLists[li]
			rates := pl.Rates[s.Name]
			var rate *Mapping
			for _, rt := range rates {
				if rt.matches(rev.Attributes) {
					rate = rt
					break
				}
			}
			if rate == nil {
				return nil, fmt.Errorf("%w: service %s: resource %s (%s) matches no rate of the price list from %s (line %d)",
					ErrUnrated, s.Name, res.OriginalResourceID, describeAttrs(rates, rev.Attributes), pl.From.Format(time.RFC3339), pl.line)
			}
			mult, mtxt, err := r.multiplier(s, res, rev)
			if err != nil {
				return nil, err
			}
			p := piece{span: span{seg.from, end}, rev: ri, rate: rate, mult: mult, mtxt: mtxt, proj: rev.ProjectID, user: rev.UserID}
			// A mapping a later price list inherits unchanged is one
			// price: the line goes on across the lists.
			if n := len(pieces); n > 0 {
				q := &pieces[n-1]
				if q.to == p.from && q.rate == p.rate && q.mtxt == p.mtxt && q.proj == p.proj {
					q.to, q.rev, q.user = p.to, p.rev, p.user
					seg.from = end
					continue
				}
			}
			pieces = append(pieces, p)
			seg.from = end
		}
	}
	if len(pieces) == 0 {
		return nil, nil
	}
	var ser *series
	if s.Metric != "" {
		ref, ok := res.Metrics[s.Metric]
		if !ok {
			return nil, nil // never reported: nothing measured
		}
		var err error
		ser, err = r.series(ctx, s, res, ref, life)
		if err != nil {
			return nil, err
		}
	}
	out := make([]pendingLine, 0, len(pieces))
	for _, p := range pieces {
		num, den, err := r.measure(s, p, ser)
		if err != nil {
			return nil, fmt.Errorf("cannot measure service %s of resource %s: %w", s.Name, res.OriginalResourceID, err)
		}
		if num.IsZero() {
			continue
		}
		var q, d apd.Decimal
		mustExact(exact.Mul(&d, apd.New(den, 0), &s.FactorDen))
		_, err1 := exact.Mul(&q, &num, &s.FactorNum)
		_, err2 := divide.Quo(&q, &q, &d)
		if err := errors.Join(err1, err2); err != nil || q.Cmp(maxQuantity) >= 0 {
			return nil, fmt.Errorf("service %s of resource %s: quantity %s is out of range (at most %s): %w",
				s.Name, res.OriginalResourceID, q.Text('g'), maxQuantity.Text('g'), err)
		}
		if err := roundTo(&q, &q, r.cfg.Rounding.QuantityPlaces, r.cfg.Rounding.Mode); err != nil {
			return nil, err
		}
		if q.IsZero() {
			continue
		}
		rev := &res.Revisions[p.rev]
		rt := p.rate
		l := pendingLine{rate: rt, Line: Line{
			ProjectID:          p.proj,
			UserID:             p.user,
			Service:            s,
			ResourceID:         res.ID,
			OriginalResourceID: res.OriginalResourceID,
			ResourceType:       res.Type,
			ResourceName:       attrString(rev.Attributes, "display_name", "name"),
			Zone:               attrString(rev.Attributes, "availability_zone"),
			Start:              time.Unix(0, p.from).UTC(),
			End:                time.Unix(0, p.to).UTC(),
			PriceList:          rt.from,
			Rate:               rt.Name,
			Multiplier:         p.mtxt,
			Tags:               tags(rev.Attributes),
		}}
		l.Quantity.Set(&q)
		out = append(out, l)
	}
	return out, nil
}

// multiplier is the flavor figure of a vCPU or memory measure (1 for the
// others).
func (r *rater) multiplier(s *Service, res *Resource, rev *Revision) (*apd.Decimal, string, error) {
	if s.spec.flavor == noFlavor {
		return apd.New(1, 0), "", nil
	}
	name, _ := attrText(rev.Attributes[s.FlavorAttribute])
	fl, ok := r.cfg.Flavors[name]
	if !ok {
		return nil, "", fmt.Errorf("%w: service %s: resource %s has %s %q, which is not in the flavors table",
			ErrUnrated, s.Name, res.OriginalResourceID, s.FlavorAttribute, name)
	}
	if s.spec.flavor == flavorVCPUs {
		return &fl.VCPUs, reduced(&fl.VCPUs), nil
	}
	var gb apd.Decimal
	mustExact(exact.Quo(&gb, &fl.RAMMB, apd.New(1024, 0)))
	return &gb, reduced(&gb), nil
}

func describeAttrs(rates []*Mapping, attrs map[string]any) string {
	seen := map[string]bool{}
	var parts []string
	for _, rt := range rates {
		for _, m := range rt.Match {
			if seen[m.Attr] {
				continue
			}
			seen[m.Attr] = true
			v, _ := attrText(attrs[m.Attr])
			parts = append(parts, fmt.Sprintf("%s=%q", m.Attr, v))
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no attributes matched"
	}
	return strings.Join(parts, ", ")
}

func attrString(attrs map[string]any, names ...string) string {
	for _, n := range names {
		if s, ok := attrs[n].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func tags(attrs map[string]any) map[string]string {
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		if v == nil {
			continue
		}
		if s, ok := attrText(v); ok {
			out[k] = s
		}
	}
	return out
}

// series is the aggregated points of one resource's metric.
type series struct {
	g  int64
	ms []query.Measure
	// first is whether the series starts with the resource's life, so
	// that a counter's first level counts from zero.
	first bool
	incr  bool // counter values are increments
}

func (r *rater) policy(ctx context.Context, name string) (*archive.Policy, error) {
	if p, ok := r.policies[name]; ok {
		return p, nil
	}
	p, err := r.src.Policy(ctx, name)
	if err != nil {
		return nil, err
	}
	r.policies[name] = &p
	return &p, nil
}

// series reads the points of metric ref that measure life: at the
// configured or chosen method and granularity, from far enough back that
// a counter has its level before the period and a carried gauge its
// value.
func (r *rater) series(ctx context.Context, s *Service, res *Resource, ref MetricRef, life span) (*series, error) {
	p, err := r.policy(ctx, ref.Policy)
	if err != nil {
		return nil, fmt.Errorf("cannot rate service %s of resource %s: %w", s.Name, res.OriginalResourceID, err)
	}
	method, err := chooseMethod(s, p)
	if err != nil {
		return nil, fmt.Errorf("service %s (line %d), metric %s of resource %s: %w", s.Name, s.line, s.Metric, res.OriginalResourceID, err)
	}
	fetchFrom := life.from
	started := tsOr(res.StartedAt, math.MinInt64)
	switch {
	case s.spec.basis == gaugeBasis && s.CarryForward:
		fetchFrom = max(started, 0)
	case s.spec.basis == counterBasis && !counterIncrements(method):
		fetchFrom = max(started, life.from-int64(24*time.Hour))
	}
	g, err := chooseGranularity(s, p, r.now-fetchFrom)
	if err != nil {
		return nil, fmt.Errorf("service %s (line %d), metric %s of resource %s: %w", s.Name, s.line, s.Metric, res.OriginalResourceID, err)
	}
	if s.spec.basis == counterBasis && !counterIncrements(method) {
		fetchFrom = max(started, min(fetchFrom, life.from-2*int64(g)))
	}
	ms, err := r.src.Measures(ctx, ref.ID, p, query.MeasuresOptions{Method: method, Granularity: g, Start: max(fetchFrom, 1), Stop: life.to})
	if err != nil {
		return nil, fmt.Errorf("cannot read metric %s of resource %s: %w", s.Metric, res.OriginalResourceID, err)
	}
	return &series{g: int64(g), ms: ms, first: started != math.MinInt64 && fetchFrom <= started, incr: counterIncrements(method)}, nil
}

func chooseMethod(s *Service, p *archive.Policy) (archive.Method, error) {
	has := func(m archive.Method) bool {
		for _, x := range p.Methods {
			if x == m {
				return true
			}
		}
		return false
	}
	if s.Method != nil {
		if !has(*s.Method) {
			return archive.Method{}, fmt.Errorf("%w: archive policy %s does not aggregate %s", query.ErrNoAggregation, p.Name, s.Method)
		}
		return *s.Method, nil
	}
	prefs := methodPreference(s.spec.basis, len(s.PresenceValues) > 0)
	for _, m := range prefs {
		if has(m) {
			return m, nil
		}
	}
	return archive.Method{}, fmt.Errorf("%w: archive policy %s has none of the methods %s measures with (%s)",
		query.ErrNoAggregation, p.Name, s.Measure, strings.Join(archive.MethodNames(prefs), ", "))
}

// chooseGranularity returns the configured granularity, or the finest of
// the policy that still holds points reaching back span ns from now.
func chooseGranularity(s *Service, p *archive.Policy, back int64) (time.Duration, error) {
	if s.Granularity != 0 {
		for _, d := range p.Definitions {
			if d.Granularity == s.Granularity {
				return d.Granularity, nil
			}
		}
		return 0, fmt.Errorf("%w: archive policy %s has no granularity %v", query.ErrNoAggregation, p.Name, s.Granularity)
	}
	if len(p.Definitions) == 0 {
		return 0, fmt.Errorf("%w: archive policy %s has no definitions", query.ErrNoAggregation, p.Name)
	}
	defs := append([]archive.Definition(nil), p.Definitions...)
	sort.Slice(defs, func(i, j int) bool { return defs[i].Granularity < defs[j].Granularity })
	for _, d := range defs {
		if int64(d.Timespan) >= back {
			return d.Granularity, nil
		}
	}
	return defs[len(defs)-1].Granularity, nil
}

// measure returns the raw quantity of piece p as num/den, before the
// service's factor: nanoseconds (times a multiplier) over an hour for
// lifetimes and presence, value-nanoseconds over an hour for gauges,
// increments times bucket overlap over the granularity for counters.
func (r *rater) measure(s *Service, p piece, ser *series) (apd.Decimal, int64, error) {
	var num apd.Decimal
	if ser == nil {
		mustExact(exact.Mul(&num, apd.New(p.to-p.from, 0), p.mult))
		return num, hourNS, nil
	}
	acc := accumulator{byValue: map[float64]int64{}}
	g := ser.g
	// The first bucket that can overlap the piece.
	lo := sort.Search(len(ser.ms), func(i int) bool { return ser.ms[i].Timestamp+g > p.from })
	switch s.spec.basis {
	case lifetimeBasis:
		var ns int64
		for i := lo; i < len(ser.ms) && ser.ms[i].Timestamp < p.to; i++ {
			if len(s.PresenceValues) > 0 && !containsFloat(s.PresenceValues, ser.ms[i].Value) {
				continue
			}
			ns += overlap(ser.ms[i].Timestamp, ser.ms[i].Timestamp+g, p.span)
		}
		mustExact(exact.Mul(&num, apd.New(ns, 0), p.mult))
		return num, hourNS, nil
	case gaugeBasis:
		if s.CarryForward {
			// Each value holds from its bucket until the next point.
			start := sort.Search(len(ser.ms), func(i int) bool { return ser.ms[i].Timestamp >= p.from }) - 1
			start = max(start, 0)
			for i := start; i < len(ser.ms) && ser.ms[i].Timestamp < p.to; i++ {
				end := int64(math.MaxInt64)
				if i+1 < len(ser.ms) {
					end = ser.ms[i+1].Timestamp
				}
				if v := ser.ms[i].Value; v > 0 {
					acc.byValue[v] += overlap(ser.ms[i].Timestamp, end, p.span)
				}
			}
		} else {
			for i := lo; i < len(ser.ms) && ser.ms[i].Timestamp < p.to; i++ {
				if v := ser.ms[i].Value; v > 0 {
					acc.byValue[v] += overlap(ser.ms[i].Timestamp, ser.ms[i].Timestamp+g, p.span)
				}
			}
		}
		num, err := acc.sum(&r.buf)
		return num, hourNS, err
	case counterBasis:
		var err error
		for i := lo; i < len(ser.ms) && ser.ms[i].Timestamp < p.to; i++ {
			ov := overlap(ser.ms[i].Timestamp, ser.ms[i].Timestamp+g, p.span)
			if ov == 0 {
				continue
			}
			if err = r.increment(&acc, ser, i, ov); err != nil {
				return num, 0, err
			}
		}
		num, err = acc.sum(&r.buf)
		return num, g, err
	}
	panic(fmt.Sprintf("BUG: service %s has basis %d", s.Name, s.spec.basis))
}

// increment adds the counter increase of bucket i, weighted by ov, to acc.
func (r *rater) increment(acc *accumulator, ser *series, i int, ov int64) error {
	v := ser.ms[i].Value
	if ser.incr {
		// A rate across a counter reset is negative and hides the new
		// level: count nothing rather than a wrong amount.
		if v > 0 {
			acc.byValue[v] += ov
		}
		return nil
	}
	if i == 0 {
		if ser.first && v > 0 {
			acc.byValue[v] += ov
		}
		return nil
	}
	prev := ser.ms[i-1].Value
	if v < prev {
		// A reset: the counter restarted from zero.
		if v > 0 {
			acc.byValue[v] += ov
		}
		return nil
	}
	if v == prev {
		return nil
	}
	const exactInt = 1 << 53
	if v == math.Trunc(v) && prev == math.Trunc(prev) && v < exactInt && prev > -exactInt {
		acc.byValue[v-prev] += ov // exact: both are integers a double holds
		return nil
	}
	var a, b apd.Decimal
	var err error
	if r.buf, err = decFromFloat(&a, v, r.buf); err != nil {
		return err
	}
	if r.buf, err = decFromFloat(&b, prev, r.buf); err != nil {
		return err
	}
	if _, err := exact.Sub(&a, &a, &b); err != nil {
		return outOfRange(&b, err)
	}
	if _, err := exact.Mul(&a, &a, apd.New(ov, 0)); err != nil {
		return outOfRange(&a, err)
	}
	if _, err := exact.Add(&acc.extra, &acc.extra, &a); err != nil {
		return outOfRange(&a, err)
	}
	return nil
}

// accumulator sums value × weight exactly; weights of equal values are
// summed first, since gauges repeat the same few values.
type accumulator struct {
	byValue map[float64]int64
	extra   apd.Decimal
}

func (a *accumulator) sum(buf *[]byte) (apd.Decimal, error) {
	var total, v, t apd.Decimal
	total.Set(&a.extra)
	for val, w := range a.byValue {
		if w == 0 {
			continue
		}
		var err error
		if *buf, err = decFromFloat(&v, val, *buf); err != nil {
			return total, err
		}
		if _, err := exact.Mul(&t, &v, apd.New(w, 0)); err != nil {
			return total, outOfRange(&v, err)
		}
		if _, err := exact.Add(&total, &total, &t); err != nil {
			return total, outOfRange(&v, err)
		}
	}
	return total, nil
}

// outOfRange is the error of a measure whose value cannot be summed
// exactly with the others (a gauge at 1e300 beside one at 1).
func outOfRange(v *apd.Decimal, err error) error {
	return fmt.Errorf("value %s is out of the range a bill can sum exactly: %w", v.Text('g'), err)
}

func overlap(from, to int64, s span) int64 {
	lo, hi := max(from, s.from), min(to, s.to)
	if hi <= lo {
		return 0
	}
	return hi - lo
}

func containsFloat(vs []float64, v float64) bool {
	for _, x := range vs {
		if x == v {
			return true
		}
	}
	return false
}

// priceLines prices the measured lines: flat rates line by line, tiered
// rates by walking each project's lines of a service in charge order and
// splitting a line where it crosses a tier boundary. Each line's cost is
// rounded once.
func priceLines(cfg *Config, pending []pendingLine) ([]Line, error) {
	type group struct{ project, service string }
	groups := map[group][]int{}
	var keys []group
	for i := range pending {
		k := group{pending[i].ProjectID, pending[i].Service.Name}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], i)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].project != keys[j].project {
			return keys[i].project < keys[j].project
		}
		return keys[i].service < keys[j].service
	})
	out := make([]Line, 0, len(pending))
	for _, k := range keys {
		idx := groups[k]
		sort.SliceStable(idx, func(a, b int) bool {
			x, y := &pending[idx[a]], &pending[idx[b]]
			if !x.Start.Equal(y.Start) {
				return x.Start.Before(y.Start)
			}
			if x.ResourceID != y.ResourceID {
				return x.ResourceID.String() < y.ResourceID.String()
			}
			return x.End.Before(y.End)
		})
		var pos apd.Decimal // quantity consumed so far in the group
		for _, i := range idx {
			pl := &pending[i]
			if pl.rate.Price != nil {
				l := pl.Line
				l.UnitPrice.Set(pl.rate.Price)
				if err := cost(cfg, &l); err != nil {
					return nil, err
				}
				out = append(out, l)
				continue
			}
			var remaining apd.Decimal
			remaining.Set(&pl.Quantity)
			for t, tier := range pl.rate.Tiers {
				if remaining.IsZero() {
					break
				}
				var take apd.Decimal
				take.Set(&remaining)
				if tier.UpTo != nil {
					if pos.Cmp(tier.UpTo) >= 0 {
						continue
					}
					var room apd.Decimal
					mustExact(exact.Sub(&room, tier.UpTo, &pos))
					if room.Cmp(&take) < 0 {
						take.Set(&room)
					}
				}
				// Tier bounds have at most the quantity's places (the
				// configuration checks it): this only sets the exponent.
				mustExact(exact.Quantize(&take, &take, -cfg.Rounding.QuantityPlaces))
				l := pl.Line
				// A copied Decimal shares its coefficient's storage:
				// give the copy its own before setting it.
				l.Quantity = apd.Decimal{}
				l.Quantity.Set(&take)
				l.UnitPrice.Set(&tier.Price)
				l.Tier = t + 1
				if err := cost(cfg, &l); err != nil {
					return nil, err
				}
				out = append(out, l)
				mustExact(exact.Add(&pos, &pos, &take))
				mustExact(exact.Sub(&remaining, &remaining, &take))
			}
			if !remaining.IsZero() {
				panic("BUG: the last tier of a rate is bounded")
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return lineLess(&out[i], &out[j]) })
	return out, nil
}

func cost(cfg *Config, l *Line) error {
	var c apd.Decimal
	mustExact(exact.Mul(&c, &l.Quantity, &l.UnitPrice))
	if err := roundTo(&l.Cost, &c, cfg.Rounding.Places, cfg.Rounding.Mode); err != nil {
		return err
	}
	return nil
}

func lineLess(a, b *Line) bool {
	if a.ProjectID != b.ProjectID {
		return a.ProjectID < b.ProjectID
	}
	if a.Service.Name != b.Service.Name {
		return a.Service.Name < b.Service.Name
	}
	if a.ResourceID != b.ResourceID {
		return a.ResourceID.String() < b.ResourceID.String()
	}
	if !a.Start.Equal(b.Start) {
		return a.Start.Before(b.Start)
	}
	return a.Tier < b.Tier
}
