package ipmi

import (
	"math"
	"testing"

	"github.com/bougou/go-ipmi/pkg/command/sensor"
	"github.com/bougou/go-ipmi/pkg/types"
)

// fullSDR packs a full sensor record as a BMC sends it.
func fullSDR(number uint8, name string, st types.SensorType, unit types.SensorUnitType, m int16, rexp int8, lin types.LinearizationFunc) []byte {
	f := &types.SDRFull{
		GeneratorID:            0x0020,
		SensorNumber:           types.SensorNumber(number),
		SensorEntityID:         0x07,
		SensorType:             st,
		SensorEventReadingType: types.EventReadingTypeThreshold,
		SensorUnit:             types.SensorUnit{BaseUnit: unit},
		LinearizationFunc:      lin,
		ReadingFactors:         types.ReadingFactors{M: m, R_Exp: rexp},
		IDStringTypeLength:     types.TypeLength(0xC0 | byte(len(name))),
		IDStringBytes:          []byte(name),
	}
	return f.Pack(uint16(number))
}

// FuzzSensorRecord feeds arbitrary SDR records and Get Sensor Reading
// replies through parsing (go-ipmi's, guarded as the pollster guards it),
// the sensor definition and the conversion: whatever a BMC sends, no
// panic, and a value that comes out is a finite number.
func FuzzSensorRecord(f *testing.F) {
	f.Add(fullSDR(1, "CPU Temp", types.SensorTypeTemperature, types.SensorUnitType_DegreesC, 1, 0, types.LinearizationFunc_Linear), []byte{0x2d, 0xc0, 0x00})
	f.Add(fullSDR(4, "12V Rail", types.SensorTypeVoltage, types.SensorUnitType_Volts, 6, -2, types.LinearizationFunc_Linear), []byte{0xc8, 0xc0})
	f.Add(fullSDR(2, "Fan 1", types.SensorTypeFan, types.SensorUnitType_RPM, 60, 0, types.LinearizationFunc_1X), []byte{0x00, 0x80})
	f.Add(fullSDR(3, "Odd", types.SensorTypeCurrent, types.SensorUnitType_Watts, 2, 0, types.LinearizationFunc_LN), []byte{0x00, 0xe0, 0x00})
	f.Add([]byte{0, 0, 0x51, 0x01, 0x00}, []byte{})
	f.Fuzz(func(t *testing.T, record, reading []byte) {
		var sdr *types.SDR
		if guard(func() (err error) {
			sdr, err = types.ParseSDR(record, 0xffff)
			return err
		}) != nil {
			return
		}
		d, err := defineSensor("node", sdr)
		if err != nil || d == nil {
			return
		}
		if d.id == "" || d.meter.name == "" || len(d.name) > maxNameLen {
			t.Fatalf("bad definition %+v", d)
		}
		var res sensor.GetSensorReadingResponse
		if guard(func() error { return res.Unpack(reading) }) != nil {
			return
		}
		v, err := d.value(&res, nil)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("value %v from raw %#x", v, res.Reading)
		}
	})
}
