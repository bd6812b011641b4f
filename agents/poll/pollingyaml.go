package poll

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// SourceSpec is one source of a Ceilometer polling.yaml file.
type SourceSpec struct {
	Name     string
	Interval time.Duration
	// Meters are the source's meter patterns; pipeline.NewMeterFilter accepts them.
	Meters []string
	// Resources are static resource URIs (snmp://host, ...), for the
	// pollsters that take their targets from the source.
	Resources []string
	// Discovery names discovery plugins; kept for pollsters that use them.
	Discovery []string
}

// Source returns the scheduler source for the spec, running pollsters.
func (sp SourceSpec) Source(pollsters []Pollster) Source {
	return Source{Name: sp.Name, Interval: sp.Interval, Pollsters: pollsters, Meters: sp.Meters}
}

// MaxPollingFileBytes bounds a polling.yaml file.
const MaxPollingFileBytes = 1 << 20

// maxIntervalSeconds bounds an interval so that it fits a time.Duration
// with room to spare.
const maxIntervalSeconds = 366 * 24 * 3600

type pollingFile struct {
	Sources []pollingSource `yaml:"sources"`
}

type pollingSource struct {
	Name      string    `yaml:"name"`
	Interval  yaml.Node `yaml:"interval"`
	Meters    []string  `yaml:"meters"`
	Resources []string  `yaml:"resources"`
	Discovery []string  `yaml:"discovery"`
}

// ParsePollingYAML parses a Ceilometer polling.yaml file and validates it
// as Ceilometer does: a non-empty `sources` list, each source with a unique
// name, a whole number of seconds > 0 as interval, and a valid non-empty
// meters list. Unknown keys are rejected so that a typo does not silently
// disable a source.
func ParsePollingYAML(data []byte) ([]SourceSpec, error) {
	if len(data) > MaxPollingFileBytes {
		return nil, fmt.Errorf("polling file is %d bytes, the limit is %d", len(data), MaxPollingFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f pollingFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("polling file has no sources")
		}
		return nil, fmt.Errorf("cannot parse polling file: %w", err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("polling file holds more than one YAML document")
	}
	if len(f.Sources) == 0 {
		return nil, fmt.Errorf("polling file has no sources")
	}
	specs := make([]SourceSpec, 0, len(f.Sources))
	seen := make(map[string]bool, len(f.Sources))
	for i, s := range f.Sources {
		where := fmt.Sprintf("sources[%d]", i)
		if s.Name == "" {
			return nil, fmt.Errorf("%s.name: required", where)
		}
		where = fmt.Sprintf("sources[%d] (%q)", i, s.Name)
		if seen[s.Name] {
			return nil, fmt.Errorf("%s.name: duplicated source name", where)
		}
		seen[s.Name] = true
		iv, err := parseInterval(&s.Interval)
		if err != nil {
			return nil, fmt.Errorf("%s.interval: %w", where, err)
		}
		if len(s.Meters) == 0 {
			return nil, fmt.Errorf("%s.meters: no meter specified", where)
		}
		if _, err := pipeline.NewMeterFilter(s.Meters); err != nil {
			return nil, fmt.Errorf("%s.meters: %w", where, err)
		}
		specs = append(specs, SourceSpec{
			Name: s.Name, Interval: iv, Meters: s.Meters, Resources: s.Resources, Discovery: s.Discovery,
		})
	}
	return specs, nil
}

// parseInterval accepts what Python's int() accepts from YAML there: an
// integer or a string holding one.
func parseInterval(n *yaml.Node) (time.Duration, error) {
	if n.Kind == 0 {
		return 0, fmt.Errorf("required")
	}
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return 0, fmt.Errorf("line %d: want a whole number of seconds, got %s", n.Line, describeNode(n))
	}
	sec, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("line %d: want a whole number of seconds, got %q", n.Line, n.Value)
	}
	if sec <= 0 || sec > maxIntervalSeconds {
		return 0, fmt.Errorf("line %d: interval value should be > 0 and at most %d seconds, got %d", n.Line, maxIntervalSeconds, sec)
	}
	return time.Duration(sec) * time.Second, nil
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%s %q", n.Tag, n.Value)
}
