package wire

import (
	"math"
	"testing"
	"time"

	"github.com/vigil-telemetry/vigil/pipeline"
)

func sample(res, name string, t time.Time, v float64) *pipeline.Sample {
	return &pipeline.Sample{
		Name: name, Type: pipeline.Gauge, Unit: "%", Volume: v, ResourceID: res, ResourceType: "host",
		Timestamp: t, Source: "test", Metadata: map[string]any{"host_name": res},
	}
}

func TestBuilderRoundTrip(t *testing.T) {
	b := NewBuilder("agent-1", "vigil:vigil")
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < 3; i++ {
		for _, r := range []string{"h1", "h2"} {
			for _, n := range []string{"cpu", "mem"} {
				if err := b.Add(sample(r, n, t0.Add(time.Duration(i)*time.Second), float64(i))); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if b.Len() != 12 {
		t.Fatalf("Len = %d, want 12", b.Len())
	}
	data, err := Marshal(nil, b.Batch())
	if err != nil {
		t.Fatal(err)
	}
	var got Batch
	if err := Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Resources) != 2 || len(got.Series) != 4 {
		t.Fatalf("got %d resources and %d series, want 2 and 4", len(got.Resources), len(got.Series))
	}
	for _, s := range got.Series {
		if len(s.Timestamps) != 3 || s.Timestamps[2] != t0.Add(2*time.Second).UnixNano() || s.Values[2] != 2 {
			t.Errorf("series %s of %s: %v %v", s.Name, got.Resources[*s.Resource].Id, s.Timestamps, s.Values)
		}
	}
	if string(got.Resources[0].MetadataJson) != `{"host_name":"h1"}` || got.Resources[0].Creator != "vigil:vigil" {
		t.Errorf("resource 0 = %+v", got.Resources[0])
	}
	b.Reset()
	if b.Len() != 0 || len(b.Batch().Series) != 0 {
		t.Error("Reset left points behind")
	}
}

func TestBuilderRejects(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	b := NewBuilder("p", "c")
	for name, s := range map[string]*pipeline.Sample{
		"no name":     {Type: pipeline.Gauge, ResourceID: "r", Timestamp: t0},
		"no resource": {Name: "x", Type: pipeline.Gauge, Timestamp: t0},
		"no type":     {Name: "x", ResourceID: "r", Timestamp: t0},
		"no time":     {Name: "x", Type: pipeline.Gauge, ResourceID: "r"},
		"NaN":         {Name: "x", Type: pipeline.Gauge, ResourceID: "r", Timestamp: t0, Volume: math.NaN()},
		"Inf":         {Name: "x", Type: pipeline.Gauge, ResourceID: "r", Timestamp: t0, Volume: math.Inf(1)},
	} {
		if err := b.Add(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidate(t *testing.T) {
	idx := uint32(3)
	zero := uint32(0)
	for name, b := range map[string]*Batch{
		"version":        {Version: 2},
		"empty id":       {Version: 1, Resources: []*Resource{{}}},
		"bad metadata":   {Version: 1, Resources: []*Resource{{Id: "r", MetadataJson: []byte("{")}}},
		"no target":      {Version: 1, Series: []*Series{{Name: "x"}}},
		"resource range": {Version: 1, Series: []*Series{{Name: "x", Resource: &idx}}},
		"no name":        {Version: 1, Resources: []*Resource{{Id: "r"}}, Series: []*Series{{Resource: &zero}}},
		"metric id":      {Version: 1, Series: []*Series{{MetricId: []byte{1, 2}}}},
		"columns":        {Version: 1, Series: []*Series{{MetricId: make([]byte, 16), Timestamps: []int64{1}}}},
		"nan":            {Version: 1, Series: []*Series{{MetricId: make([]byte, 16), Timestamps: []int64{1}, Values: []float64{math.NaN()}}}},
	} {
		if err := Validate(b); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	b := NewBuilder("p", "c")
	_ = b.Add(sample("h", "cpu", time.Unix(1, 0), 1))
	data, _ := Marshal(nil, b.Batch())
	f.Add(data)
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01, 0x1a, 0x02, 0x10, 0x05})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got Batch
		if err := Unmarshal(data, &got); err != nil {
			return
		}
		// A batch that validates must be safe to walk as the processor does.
		for _, s := range got.Series {
			if len(s.MetricId) == 0 {
				_ = got.Resources[*s.Resource].Id
			}
			for i := range s.Timestamps {
				_ = s.Values[i]
			}
		}
	})
}
