package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline"
	"github.com/vigil-telemetry/vigil/pipeline/yamlnode"
)

// DefaultPipelineYAML is Ceilometer's packaged pipeline.yaml: every meter to
// the gnocchi:// publisher, which here is the sample bus.
const DefaultPipelineYAML = `---
sources:
  - name: meter_source
    meters: ["*"]
    sinks: [meter_sink]
sinks:
  - name: meter_sink
    publishers: ["gnocchi://"]
`

// MaxPipelineFileBytes bounds a pipeline.yaml file.
const MaxPipelineFileBytes = 1 << 20

// fileConfig is a parsed pipeline.yaml, validated but not yet built.
type fileConfig struct {
	sources []sourceConfig
	sinks   []sinkConfig
}

type sourceConfig struct {
	name   string
	meters []string
	filter *pipeline.MeterFilter
	sinks  []string
	line   int
}

type sinkConfig struct {
	name         string
	transformers []transformerConfig
	publishers   []publisherConfig
	line         int
}

type transformerConfig struct {
	name   string
	params *yaml.Node // nil when absent
	path   string     // for messages: sinks[i] ("name").transformers[j]
	line   int
}

type publisherConfig struct {
	url  string
	path string
	line int
}

// parseConfig parses and validates a pipeline.yaml as Ceilometer does, and
// more strictly: unknown keys are errors, so that a typo does not silently
// disable a sink. The keys interval, resources and discovery of sources,
// left from the years when pipeline.yaml also configured polling, are
// accepted and ignored.
func parseConfig(data []byte) (*fileConfig, error) {
	if len(data) > MaxPipelineFileBytes {
		return nil, fmt.Errorf("pipeline file is %d bytes, the limit is %d", len(data), MaxPipelineFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("pipeline file is empty: want sources and sinks")
		}
		return nil, fmt.Errorf("cannot parse pipeline file: %w", err)
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, errors.New("pipeline file holds more than one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	top, err := yamlnode.Pairs(root, "pipeline")
	if err != nil {
		return nil, err
	}
	var srcN, sinkN *yaml.Node
	for _, p := range top {
		switch p.Key {
		case "sources":
			srcN = p.Value
		case "sinks":
			sinkN = p.Value
		default:
			return nil, yamlnode.ErrAt(p.KeyNode, "pipeline", "unknown key %q: want sources and sinks", p.Key)
		}
	}
	if srcN == nil || yamlnode.IsNull(srcN) {
		return nil, yamlnode.ErrAt(root, "sources", "required")
	}
	if sinkN == nil || yamlnode.IsNull(sinkN) {
		return nil, yamlnode.ErrAt(root, "sinks", "required")
	}
	cfg := &fileConfig{}
	if cfg.sinks, err = parseSinks(sinkN); err != nil {
		return nil, err
	}
	if cfg.sources, err = parseSources(srcN); err != nil {
		return nil, err
	}
	sinkNames := make(map[string]bool, len(cfg.sinks))
	for _, s := range cfg.sinks {
		sinkNames[s.name] = true
	}
	for i, src := range cfg.sources {
		for j, name := range src.sinks {
			if !sinkNames[name] {
				return nil, &yamlnode.Error{Line: src.line, Path: fmt.Sprintf("sources[%d] (%q).sinks[%d]", i, src.name, j),
					Msg: fmt.Sprintf("dangling sink %q: no sink has that name", name)}
			}
		}
	}
	return cfg, nil
}

func parseSources(n *yaml.Node) ([]sourceConfig, error) {
	n = yamlnode.Resolve(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, yamlnode.ErrAt(n, "sources", "want a non-empty list, got %s", yamlnode.Describe(n))
	}
	out := make([]sourceConfig, 0, len(n.Content))
	seen := map[string]bool{}
	for i, sn := range n.Content {
		path := fmt.Sprintf("sources[%d]", i)
		ps, err := yamlnode.Pairs(sn, path)
		if err != nil {
			return nil, err
		}
		src := sourceConfig{line: yamlnode.Resolve(sn).Line}
		var metersN, sinksN *yaml.Node
		for _, p := range ps {
			switch p.Key {
			case "name":
				if src.name, err = yamlnode.ScalarString(p.Value, path+".name"); err != nil {
					return nil, err
				}
			case "meters":
				metersN = p.Value
			case "sinks":
				sinksN = p.Value
			case "interval", "resources", "discovery":
				// polling keys of old pipeline files; polling.yaml owns them now
			case "events":
				return nil, yamlnode.ErrAt(p.KeyNode, path, "events belong in event_pipeline.yaml; this file selects meters")
			default:
				return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want name, meters and sinks", p.Key)
			}
		}
		if src.name == "" {
			return nil, yamlnode.ErrAt(sn, path+".name", "required")
		}
		path = fmt.Sprintf("sources[%d] (%q)", i, src.name)
		if seen[src.name] {
			return nil, yamlnode.ErrAt(sn, path+".name", "duplicated source name")
		}
		seen[src.name] = true
		if metersN == nil || yamlnode.IsNull(metersN) {
			return nil, yamlnode.ErrAt(sn, path+".meters", "no meter specified")
		}
		if src.meters, err = yamlnode.StringList(metersN, path+".meters"); err != nil {
			return nil, err
		}
		if len(src.meters) == 0 {
			return nil, yamlnode.ErrAt(metersN, path+".meters", "no meter specified")
		}
		if src.filter, err = pipeline.NewMeterFilter(src.meters); err != nil {
			return nil, yamlnode.ErrAt(metersN, path+".meters", "%v", err)
		}
		if sinksN == nil || yamlnode.IsNull(sinksN) {
			return nil, yamlnode.ErrAt(sn, path+".sinks", "no sink defined in source")
		}
		if src.sinks, err = yamlnode.StringList(sinksN, path+".sinks"); err != nil {
			return nil, err
		}
		if len(src.sinks) == 0 {
			return nil, yamlnode.ErrAt(sinksN, path+".sinks", "no sink defined in source")
		}
		dup := map[string]bool{}
		for j, s := range src.sinks {
			if dup[s] {
				return nil, yamlnode.ErrAt(sinksN, fmt.Sprintf("%s.sinks[%d]", path, j), "sink %q listed twice", s)
			}
			dup[s] = true
		}
		out = append(out, src)
	}
	return out, nil
}

func parseSinks(n *yaml.Node) ([]sinkConfig, error) {
	n = yamlnode.Resolve(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, yamlnode.ErrAt(n, "sinks", "want a non-empty list, got %s", yamlnode.Describe(n))
	}
	out := make([]sinkConfig, 0, len(n.Content))
	seen := map[string]bool{}
	for i, sn := range n.Content {
		path := fmt.Sprintf("sinks[%d]", i)
		ps, err := yamlnode.Pairs(sn, path)
		if err != nil {
			return nil, err
		}
		sk := sinkConfig{line: yamlnode.Resolve(sn).Line}
		var transN, pubN *yaml.Node
		for _, p := range ps {
			switch p.Key {
			case "name":
				if sk.name, err = yamlnode.ScalarString(p.Value, path+".name"); err != nil {
					return nil, err
				}
			case "transformers":
				transN = p.Value
			case "publishers":
				pubN = p.Value
			default:
				return nil, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want name, transformers and publishers", p.Key)
			}
		}
		if sk.name == "" {
			return nil, yamlnode.ErrAt(sn, path+".name", "required")
		}
		path = fmt.Sprintf("sinks[%d] (%q)", i, sk.name)
		if seen[sk.name] {
			return nil, yamlnode.ErrAt(sn, path+".name", "duplicated sink name")
		}
		seen[sk.name] = true
		if transN != nil && !yamlnode.IsNull(transN) {
			tn := yamlnode.Resolve(transN)
			if tn.Kind != yaml.SequenceNode {
				return nil, yamlnode.ErrAt(tn, path+".transformers", "want a list, got %s", yamlnode.Describe(tn))
			}
			for j, t := range tn.Content {
				tc, err := parseTransformer(t, fmt.Sprintf("%s.transformers[%d]", path, j))
				if err != nil {
					return nil, err
				}
				sk.transformers = append(sk.transformers, tc)
			}
		}
		if pubN == nil || yamlnode.IsNull(pubN) {
			return nil, yamlnode.ErrAt(sn, path+".publishers", "no publisher specified")
		}
		pn := yamlnode.Resolve(pubN)
		if pn.Kind != yaml.SequenceNode || len(pn.Content) == 0 {
			return nil, yamlnode.ErrAt(pn, path+".publishers", "want a non-empty list of publisher URLs, got %s", yamlnode.Describe(pn))
		}
		for j, p := range pn.Content {
			ppath := fmt.Sprintf("%s.publishers[%d]", path, j)
			u, err := yamlnode.ScalarString(p, ppath)
			if err != nil {
				return nil, err
			}
			u = strings.TrimSpace(u)
			if u == "" {
				return nil, yamlnode.ErrAt(p, ppath, "empty publisher URL")
			}
			if !strings.Contains(u, "://") {
				u += "://" // as Ceilometer does: "gnocchi" means "gnocchi://"
			}
			sk.publishers = append(sk.publishers, publisherConfig{url: u, path: ppath, line: yamlnode.Resolve(p).Line})
		}
		out = append(out, sk)
	}
	return out, nil
}

func parseTransformer(n *yaml.Node, path string) (transformerConfig, error) {
	ps, err := yamlnode.Pairs(n, path)
	if err != nil {
		return transformerConfig{}, err
	}
	tc := transformerConfig{path: path, line: yamlnode.Resolve(n).Line}
	for _, p := range ps {
		switch p.Key {
		case "name":
			if tc.name, err = yamlnode.ScalarString(p.Value, path+".name"); err != nil {
				return tc, err
			}
		case "parameters":
			if !yamlnode.IsNull(p.Value) {
				tc.params = p.Value
			}
		default:
			return tc, yamlnode.ErrAt(p.KeyNode, path, "unknown key %q: want name and parameters", p.Key)
		}
	}
	if tc.name == "" {
		return tc, yamlnode.ErrAt(n, path+".name", "required")
	}
	if _, ok := transformerBuilders[tc.name]; !ok {
		return tc, yamlnode.ErrAt(n, path+".name", "unknown transformer %q: want one of %s", tc.name, strings.Join(transformerNames(), ", "))
	}
	return tc, nil
}
