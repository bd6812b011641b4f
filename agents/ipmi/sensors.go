package ipmi

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/bougou/go-ipmi/pkg/command/sensor"
	"github.com/bougou/go-ipmi/pkg/types"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// meter is a meter's name and type; sensor meters take their unit from
// the sensor.
type meter struct {
	name string
	unit string
	typ  pipeline.Type
}

// Resource types, as ceilometer-upgrade creates them in Gnocchi.
const (
	typeNode   = "ipmi"
	typeSensor = "ipmi_sensor"
)

// SampleSource is the sample source of every IPMI sample: Ceilometer's
// default, which its IPMI pollsters kept.
const SampleSource = "openstack"

var (
	mTemperature = meter{"hardware.ipmi.temperature", "", pipeline.Gauge}
	mFan         = meter{"hardware.ipmi.fan", "", pipeline.Gauge}
	mVoltage     = meter{"hardware.ipmi.voltage", "", pipeline.Gauge}
	mCurrent     = meter{"hardware.ipmi.current", "", pipeline.Gauge}

	mNodePower       = meter{"hardware.ipmi.node.power", "W", pipeline.Gauge}
	mNodeInletTemp   = meter{"hardware.ipmi.node.temperature", "C", pipeline.Gauge}
	mNodeOutletTemp  = meter{"hardware.ipmi.node.outlet_temperature", "C", pipeline.Gauge}
	sensorTypeMeters = map[types.SensorType]meter{
		types.SensorTypeTemperature: mTemperature,
		types.SensorTypeFan:         mFan,
		types.SensorTypeVoltage:     mVoltage,
		types.SensorTypeCurrent:     mCurrent,
	}
)

// allMeters lists every meter the pollster can produce.
var allMeters = []meter{mTemperature, mFan, mVoltage, mCurrent, mNodePower, mNodeInletTemp, mNodeOutletTemp}

// The entity ids of an inlet air sensor (IPMI 2.0 and DCMI).
const (
	entityAirInlet     types.EntityID = 0x37
	entityAirInletDCMI types.EntityID = 0x40
)

// maxNameLen bounds a sensor name: the SDR allows 16 bytes, a BMC may
// send anything.
const maxNameLen = 64

// sensorDef is a sensor as the SDR describes it: how to ask for its
// reading and how to turn the raw byte into a value.
type sensorDef struct {
	number uint8
	owner  uint8 // IPMB address of the controller that owns it
	lun    uint8
	name   string
	id     string // resource id
	meter  meter
	unit   string
	conv   types.Sensor // reading factors, linearization, data format
	watts  bool         // counts to the node's power without DCMI
	inlet  bool
	outlet bool
}

// defineSensor turns one SDR into a sensor to poll, or says why it is
// not one: only full records of analog threshold sensors of the four
// types carry readings Ceilometer reported.
func defineSensor(node string, sdr *types.SDR) (*sensorDef, error) {
	if sdr == nil || sdr.RecordHeader == nil {
		return nil, fmt.Errorf("empty SDR")
	}
	if sdr.RecordHeader.RecordType != types.SDRRecordTypeFullSensor || sdr.Full == nil {
		return nil, nil
	}
	f := sdr.Full
	m, ok := sensorTypeMeters[f.SensorType]
	if !ok || !f.SensorEventReadingType.IsThreshold() || !f.SensorUnit.IsAnalog() {
		return nil, nil
	}
	name := sensorName(f.IDStringBytes)
	if name == "" {
		name = fmt.Sprintf("sensor %d", f.SensorNumber)
	}
	d := &sensorDef{
		number: uint8(f.SensorNumber),
		owner:  f.GeneratorID.OwnerID(),
		lun:    f.GeneratorID.LUN(),
		name:   name,
		id:     node + "-" + sensorID(name, uint8(f.SensorNumber)),
		meter:  m,
		unit:   unitOf(f.SensorUnit),
	}
	d.conv.HasAnalogReading = true
	d.conv.SensorUnit = f.SensorUnit
	d.conv.Threshold.ReadingFactors = f.ReadingFactors
	d.conv.Threshold.LinearizationFunc = f.LinearizationFunc
	lower := strings.ToLower(name)
	d.watts = f.SensorUnit.BaseUnit == types.SensorUnitType_Watts && f.SensorUnit.ModifierRelation == types.SensorModifierRelation_None
	if f.SensorType == types.SensorTypeTemperature && f.SensorUnit.BaseUnit == types.SensorUnitType_DegreesC {
		d.inlet = f.SensorEntityID == entityAirInlet || f.SensorEntityID == entityAirInletDCMI || strings.Contains(lower, "inlet")
		d.outlet = !d.inlet && (strings.Contains(lower, "outlet") || strings.Contains(lower, "exhaust"))
	}
	return d, nil
}

// sensorName cleans an SDR id string: NUL padding off, invalid UTF-8
// replaced, bounded.
func sensorName(b []byte) string {
	s := strings.TrimRight(string(b), "\x00")
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	if len(s) > maxNameLen {
		s = s[:maxNameLen]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// sensorID is Ceilometer's transformation of ipmitool's "Sensor ID"
// ("<name> (0x<number>)"): lower case, spaces to '_'.
func sensorID(name string, number uint8) string {
	return strings.ReplaceAll(strings.ToLower(fmt.Sprintf("%s (%#x)", name, number)), " ", "_")
}

// unitOf is Ceilometer's unit of a reading: the last word of ipmitool's
// unit, with Watts and Volts as W and V.
func unitOf(u types.SensorUnit) string {
	switch u.BaseUnit {
	case types.SensorUnitType_DegreesC:
		return "C"
	case types.SensorUnitType_DegreesF:
		return "F"
	case types.SensorUnitType_Volts:
		return "V"
	case types.SensorUnitType_Watts:
		return "W"
	case types.SensorUnitType_Amps:
		return "Amps"
	case types.SensorUnitType_RPM:
		return "RPM"
	}
	s := u.BaseUnit.String()
	return s[strings.LastIndexByte(s, ' ')+1:]
}

// errNoReading marks a sensor that has no reading now.
type errNoReading struct{ why string }

func (e errNoReading) Error() string { return "no reading: " + e.why }

// value converts a Get Sensor Reading response for d, or says why there
// is no usable value. factors, when not nil, are the reading factors the
// BMC gave for this raw reading (non-linear sensors).
func (d *sensorDef) value(res *sensor.GetSensorReadingResponse, factors *types.ReadingFactors) (float64, error) {
	switch {
	case res.ReadingUnavailable:
		return 0, errNoReading{"reading unavailable"}
	case res.SensorScanningDisabled:
		return 0, errNoReading{"scanning disabled"}
	}
	conv := d.conv
	if factors != nil {
		conv.Threshold.ReadingFactors = *factors
	}
	v := conv.ConvertReading(res.Reading)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("sensor %q: raw reading %#x converts to %v", d.name, res.Reading, v)
	}
	return v, nil
}
