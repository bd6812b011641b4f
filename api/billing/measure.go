package billing

import (
	"sort"
	"strings"

	"github.com/vigil-telemetry/vigil/tsdb/archive"
)

// Measure is how a service's usage is measured over a period.
type Measure int

// The measures. The domain ones are presets of the three bases (lifetime,
// gauge, counter) with the resource type, metric, unit, category and unit
// factor of the meter they read; the last three are the bases themselves,
// for which the configuration names everything.
const (
	MeasureInstanceHours Measure = iota + 1
	MeasureVCPUHours
	MeasureMemoryGBHours
	MeasureVolumeGBHours
	MeasureImageGBHours
	MeasureNetworkGB
	MeasureContainerCoreHours
	MeasureContainerMemoryGBHours
	MeasureLifetimeHours
	MeasureGaugeHours
	MeasureCounter
)

// basis is what a measure integrates.
type basis int

const (
	// lifetimeBasis: the hours a resource existed (or, with a presence
	// metric, reported), times a multiplier from its flavor.
	lifetimeBasis basis = iota + 1
	// gaugeBasis: the integral of a gauge over time, in value-hours.
	gaugeBasis
	// counterBasis: the increase of a cumulative counter, or the sum of
	// increments already aggregated by a rate or sum method.
	counterBasis
)

// flavorPart is which figure of a flavor multiplies the hours.
type flavorPart int

const (
	noFlavor flavorPart = iota
	flavorVCPUs
	flavorMemoryGB
)

type measureSpec struct {
	name         string
	basis        basis
	resourceType string
	metric       string
	unit         string
	category     string
	factor       string
	flavor       flavorPart
}

const gib = "1/1073741824"

var measureSpecs = map[Measure]measureSpec{
	MeasureInstanceHours:          {"instance_hours", lifetimeBasis, "instance", "", "Hours", "Compute", "1", noFlavor},
	MeasureVCPUHours:              {"vcpu_hours", lifetimeBasis, "instance", "", "vCPU-Hours", "Compute", "1", flavorVCPUs},
	MeasureMemoryGBHours:          {"memory_gb_hours", lifetimeBasis, "instance", "", "GB-Hours", "Compute", "1", flavorMemoryGB},
	MeasureVolumeGBHours:          {"volume_gb_hours", gaugeBasis, "volume", "volume.size", "GB-Hours", "Storage", "1", noFlavor},
	MeasureImageGBHours:           {"image_gb_hours", gaugeBasis, "image", "image.size", "GB-Hours", "Storage", gib, noFlavor},
	MeasureNetworkGB:              {"network_gb", counterBasis, "instance_network_interface", "network.outgoing.bytes", "GB", "Networking", gib, noFlavor},
	MeasureContainerCoreHours:     {"container_core_hours", counterBasis, "container", "container.cpu", "Core-Hours", "Compute", "1/3600000000000", noFlavor},
	MeasureContainerMemoryGBHours: {"container_memory_gb_hours", gaugeBasis, "container", "container.memory.usage", "GB-Hours", "Compute", gib, noFlavor},
	MeasureLifetimeHours:          {"lifetime_hours", lifetimeBasis, "", "", "Hours", "Other", "1", noFlavor},
	MeasureGaugeHours:             {"gauge_hours", gaugeBasis, "", "", "", "Other", "1", noFlavor},
	MeasureCounter:                {"counter", counterBasis, "", "", "", "Other", "1", noFlavor},
}

// String returns the measure's name as the configuration spells it.
func (m Measure) String() string {
	if s, ok := measureSpecs[m]; ok {
		return s.name
	}
	return "unknown"
}

func parseMeasure(s string) (Measure, bool) {
	for m, spec := range measureSpecs {
		if spec.name == s {
			return m, true
		}
	}
	return 0, false
}

func measureNames() string {
	names := make([]string, 0, len(measureSpecs))
	for _, s := range measureSpecs {
		names = append(names, s.name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// methodPreference is the order in which a method of the metric's policy
// is chosen when the service names none: the one that reads the basis
// most exactly first.
func methodPreference(b basis, presenceValues bool) []archive.Method {
	switch b {
	case gaugeBasis:
		return []archive.Method{{Kind: archive.Mean}, {Kind: archive.Last}, {Kind: archive.Max}, {Kind: archive.Median}}
	case counterBasis:
		// last is the counter at the end of each bucket, so the
		// differences are exact; rate:sum holds the differences already;
		// max and mean follow the counter more loosely.
		return []archive.Method{{Kind: archive.Last}, {Kind: archive.Sum, Rate: true}, {Kind: archive.Max}, {Kind: archive.Mean}}
	}
	m := []archive.Method{{Kind: archive.Last}, {Kind: archive.Mean}, {Kind: archive.Max}, {Kind: archive.Min}, {Kind: archive.First}}
	if !presenceValues {
		m = append(m, archive.Method{Kind: archive.Count})
	}
	return m
}

// counterIncrements reports whether method m yields increments (a rate
// method, or sum over a delta meter) rather than levels of a cumulative
// counter.
func counterIncrements(m archive.Method) bool { return m.Rate || m.Kind == archive.Sum }

// counterMethodValid reports whether m can measure a counter.
func counterMethodValid(m archive.Method) bool {
	switch m.Kind {
	case archive.Count, archive.Std:
		return false
	}
	return true
}

// FOCUS 1.x ServiceCategory values.
var focusCategories = []string{
	"AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
	"Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
	"Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
	"Storage", "Web", "Other",
}
