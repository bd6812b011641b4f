package pipeline

import (
	"fmt"
	"time"
)

// Type is a meter type as Ceilometer defines it.
type Type uint8

// The three meter types. The zero value is invalid so that an unset type is
// caught by Validate.
const (
	Gauge      Type = 1 // a point-in-time value
	Delta      Type = 2 // the change since the previous sample
	Cumulative Type = 3 // a monotonically increasing counter
)

// String returns Ceilometer's name of the type.
func (t Type) String() string {
	switch t {
	case Gauge:
		return "gauge"
	case Delta:
		return "delta"
	case Cumulative:
		return "cumulative"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// ParseType parses Ceilometer's name of a meter type.
func ParseType(s string) (Type, error) {
	switch s {
	case "gauge":
		return Gauge, nil
	case "delta":
		return Delta, nil
	case "cumulative":
		return Cumulative, nil
	}
	return 0, fmt.Errorf("unknown meter type %q: want gauge, delta or cumulative", s)
}

// Sample is one measurement of one meter on one resource, with Ceilometer's
// fields. ResourceType is a hint from the producer (a poller knows its
// resources are hosts); when it is empty the store maps the meter name to a
// resource type as Ceilometer's gnocchi_resources.yaml does.
type Sample struct {
	Name         string
	Type         Type
	Unit         string
	Volume       float64
	UserID       string
	ProjectID    string
	ResourceID   string
	ResourceType string
	Timestamp    time.Time
	Source       string
	// Metadata is the resource metadata: it becomes the resource's
	// attributes. It is shared, not copied, by batches built from it.
	Metadata map[string]any
}

// Validate reports the first field that makes s unusable.
func (s *Sample) Validate() error {
	switch {
	case s.Name == "":
		return fmt.Errorf("sample has no name")
	case s.ResourceID == "":
		return fmt.Errorf("sample %q has no resource_id", s.Name)
	case s.Type < Gauge || s.Type > Cumulative:
		return fmt.Errorf("sample %q has invalid type %d", s.Name, s.Type)
	case s.Timestamp.IsZero():
		return fmt.Errorf("sample %q of resource %q has no timestamp", s.Name, s.ResourceID)
	}
	return nil
}
