package sink

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// transformerBuilders maps a transformer name of pipeline.yaml to what
// builds it from its parameters.
var transformerBuilders = map[string]func(tc transformerConfig, env *buildEnv) (Stage, error){
	"rate_of_change":  buildRateOfChange,
	"unit_conversion": buildUnitConversion,
	"delta":           buildDelta,
	"accumulator":     buildAccumulator,
	"aggregator":      buildAggregator,
	"arithmetic":      buildArithmetic,
}

func transformerNames() []string {
	names := make([]string, 0, len(transformerBuilders))
	for n := range transformerBuilders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// readParams returns the parameters of a mapping by key, refusing keys not
// in allowed. A nil node reads as no parameters.
func readParams(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	out := map[string]*yaml.Node{}
	if n == nil || yamlnode.IsNull(n) {
		return out, nil
	}
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		ok := false
		for _, a := range allowed {
			if p.Key == a {
				ok = true
				break
			}
		}
		if !ok {
			return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown parameter %q: want %s", p.Key, strings.Join(allowed, ", "))
		}
		if !yamlnode.IsNull(p.Value) {
			out[p.Key] = p.Value
		}
	}
	return out, nil
}

// conversion is what Ceilometer's conversion transformers share: the
// source's unit and name/unit patterns, and the target's name, unit, type,
// scale and max.
type conversion struct {
	sourceUnit    string
	hasSourceUnit bool
	name, unit    string // target; empty keeps the sample's
	typ           pipeline.Type
	nameMap       *regexMap
	unitMap       *regexMap
	scale         *scaler // nil: the volume as it is
	max           float64
	hasMax        bool
}

// regexMap is a map_from/map_to pair: Python's re.sub(from, to, value).
type regexMap struct {
	re   *regexp.Regexp
	repl string
}

// parseConversion reads source and target as Ceilometer's
// BaseConversionTransformer and ScalingTransformer do. targetKeys lists the
// target keys the transformer takes.
func parseConversion(p map[string]*yaml.Node, path string, targetKeys ...string) (*conversion, error) {
	c := &conversion{}
	var mapFrom, mapTo map[string]*yaml.Node
	if n := p["source"]; n != nil {
		src, err := readParams(n, path+".source", "unit", "map_from")
		if err != nil {
			return nil, err
		}
		if u := src["unit"]; u != nil {
			if c.sourceUnit, err = yamlnode.ScalarString(u, path+".source.unit"); err != nil {
				return nil, err
			}
			c.hasSourceUnit = true
		}
		if m := src["map_from"]; m != nil {
			if mapFrom, err = readParams(m, path+".source.map_from", "name", "unit"); err != nil {
				return nil, err
			}
		}
	}
	if n := p["target"]; n != nil {
		tgt, err := readParams(n, path+".target", targetKeys...)
		if err != nil {
			return nil, err
		}
		if v := tgt["name"]; v != nil {
			if c.name, err = yamlnode.ScalarString(v, path+".target.name"); err != nil {
				return nil, err
			}
		}
		if v := tgt["unit"]; v != nil {
			if c.unit, err = yamlnode.ScalarString(v, path+".target.unit"); err != nil {
				return nil, err
			}
		}
		if v := tgt["type"]; v != nil {
			s, err := yamlnode.ScalarString(v, path+".target.type")
			if err != nil {
				return nil, err
			}
			if c.typ, err = pipeline.ParseType(s); err != nil {
				return nil, yamlnode.ErrAt(v, path+".target.type", "%v", err)
			}
		}
		if v := tgt["max"]; v != nil {
			if c.max, err = yamlnode.FloatValue(v, path+".target.max"); err != nil {
				return nil, err
			}
			c.hasMax = c.max != 0 // Python: `if self.max`
		}
		if v := tgt["scale"]; v != nil {
			if c.scale, err = parseScale(v, path+".target.scale"); err != nil {
				return nil, err
			}
		}
		if m := tgt["map_to"]; m != nil {
			if mapTo, err = readParams(m, path+".target.map_to", "name", "unit"); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if c.nameMap, err = parseRegexMap(mapFrom, mapTo, "name", path); err != nil {
		return nil, err
	}
	if c.unitMap, err = parseRegexMap(mapFrom, mapTo, "unit", path); err != nil {
		return nil, err
	}
	return c, nil
}

func parseRegexMap(from, to map[string]*yaml.Node, attr, path string) (*regexMap, error) {
	fn, tn := from[attr], to[attr]
	if fn == nil || tn == nil {
		return nil, nil // Ceilometer maps only when both are given
	}
	pat, err := yamlnode.ScalarString(fn, path+".source.map_from."+attr)
	if err != nil {
		return nil, err
	}
	repl, err := yamlnode.ScalarString(tn, path+".target.map_to."+attr)
	if err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, yamlnode.ErrAt(fn, path+".source.map_from."+attr, "cannot compile regular expression %q: %v", pat, err)
	}
	return &regexMap{re: re, repl: pythonReplacement(repl)}, nil
}

// pythonReplacement turns a re.sub replacement (\1, \g<1>, \g<name>) into
// Go's template syntax, escaping Go's '$'.
func pythonReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString("${" + s[i+1:j] + "}")
			i = j - 1
		case c == '\\' && i+2 < len(s) && s[i+1] == 'g' && s[i+2] == '<':
			end := strings.IndexByte(s[i+3:], '>')
			if end < 0 {
				b.WriteByte(c)
				continue
			}
			b.WriteString("${" + s[i+3:i+3+end] + "}")
			i += 3 + end
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// mapped applies Ceilometer's _map: the regex mapping when it yields
// something, else the target value, else the sample's own.
func (c *conversion) mapped(m *regexMap, target, own string) string {
	if m != nil {
		if out := m.re.ReplaceAllString(own, m.repl); out != "" {
			return out
		}
	}
	if target != "" {
		return target
	}
	return own
}

// convert returns s with the target's name, unit and type, volume v capped
// at max.
func (c *conversion) convert(s *pipeline.Sample, v float64) pipeline.Sample {
	out := *s
	out.Name = c.mapped(c.nameMap, c.name, s.Name)
	out.Unit = c.mapped(c.unitMap, c.unit, s.Unit)
	if c.typ != 0 {
		out.Type = c.typ
	}
	if c.hasMax && v > c.max {
		v = c.max
	}
	out.Volume = v
	return out
}

// scaler is a target's scale: a factor, or an expression over the sample.
type scaler struct {
	factor float64
	prog   *vm.Program // nil for a factor
	pool   sync.Pool   // of *scaleRun
	src    string
}

type scaleRun struct {
	vm  vm.VM
	env sampleEnv
}

func parseScale(n *yaml.Node, path string) (*scaler, error) {
	n = yamlnode.Resolve(n)
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		f, err := yamlnode.FloatValue(n, path)
		if err != nil {
			return nil, err
		}
		if f == 0 {
			return nil, nil // Python: `if scale` is false for 0
		}
		return &scaler{factor: f}, nil
	}
	src, err := yamlnode.ScalarString(n, path)
	if err != nil {
		return nil, err
	}
	prog, err := compilePython(src, &sampleEnv{})
	if err != nil {
		return nil, yamlnode.ErrAt(n, path, "%v", err)
	}
	s := &scaler{prog: prog, src: src}
	s.pool.New = func() any { return new(scaleRun) }
	return s, nil
}

// eval returns the scale expression's value for s, or the volume times the
// factor.
func (sc *scaler) eval(s *pipeline.Sample) (float64, error) {
	if sc.prog == nil {
		return s.Volume * sc.factor, nil
	}
	r := sc.pool.Get().(*scaleRun)
	r.env.set(s)
	v, err := r.vm.Run(sc.prog, &r.env)
	r.env = sampleEnv{}
	sc.pool.Put(r)
	if err != nil {
		return 0, fmt.Errorf("cannot evaluate scale %q for %s of %s: %w", sc.src, s.Name, s.ResourceID, err)
	}
	f, err := toFloat(v)
	if err != nil {
		return 0, fmt.Errorf("cannot evaluate scale %q for %s of %s: %w", sc.src, s.Name, s.ResourceID, err)
	}
	return f, nil
}

// factorOf returns the scale of a rate: the expression's value, or the
// factor (Ceilometer multiplies a numeric factor by the volume as well,
// which no configuration means).
func (sc *scaler) factorOf(s *pipeline.Sample) (float64, error) {
	if sc == nil {
		return 1, nil
	}
	if sc.prog == nil {
		return sc.factor, nil
	}
	return sc.eval(s)
}

// scaled returns the converted volume of s for unit_conversion and the
// aggregator: the expression's value, the volume times the factor, or the
// volume.
func (c *conversion) scaled(s *pipeline.Sample) (float64, error) {
	if c.scale == nil {
		return s.Volume, nil
	}
	return c.scale.eval(s)
}

// unitConversion is Ceilometer's ScalingTransformer: samples whose unit is
// the source unit (all when none is given) get the target's name, unit,
// type and scaled volume; others pass unchanged.
type unitConversion struct {
	conv *conversion
	drop dropCounters
}

func buildUnitConversion(tc transformerConfig, env *buildEnv) (Stage, error) {
	p, err := readParams(tc.params, tc.path+".parameters", "source", "target")
	if err != nil {
		return nil, err
	}
	conv, err := parseConversion(p, tc.path+".parameters", "name", "unit", "type", "scale", "max", "map_to")
	if err != nil {
		return nil, err
	}
	return &unitConversion{conv: conv, drop: env.dropCounters(tc.name)}, nil
}

func (u *unitConversion) Process(_ context.Context, dst, src []pipeline.Sample) ([]pipeline.Sample, error) {
	for i := range src {
		s := &src[i]
		if u.conv.hasSourceUnit && s.Unit != u.conv.sourceUnit {
			dst = append(dst, *s)
			continue
		}
		v, err := u.conv.scaled(s)
		if err != nil {
			u.drop.evalError(err)
			continue
		}
		dst = append(dst, u.conv.convert(s, v))
	}
	return dst, nil
}
