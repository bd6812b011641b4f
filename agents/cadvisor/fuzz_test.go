package cadvisor

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	v2 "github.com/google/cadvisor/info/v2"

	"github.com/vigil-telemetry/vigil/pipeline"
)

// replySource decodes fixed replies as the remote source decodes a
// daemon's.
type replySource struct{ stats, machine []byte }

func (f *replySource) read(_ context.Context, dst []reading, skipped []string) ([]reading, []string, error) {
	var infos map[string]v2.ContainerInfo
	if err := json.Unmarshal(f.stats, &infos); err != nil {
		return dst, skipped, err
	}
	dst, skipped = appendV2(dst, skipped, infos)
	var ms []v2.MachineStats
	if err := json.Unmarshal(f.machine, &ms); err != nil {
		return dst, skipped, err
	}
	dst = append(dst, reading{})
	if !dst[len(dst)-1].fromMachine(ms) {
		dst = dst[:len(dst)-1]
	}
	return dst, skipped, nil
}

// FuzzReply feeds arbitrary daemon replies through decoding, conversion
// and emission: whatever a daemon sends, polls return and every sample is
// valid.
func FuzzReply(f *testing.F) {
	f.Add(testdata(f, "v2.1-stats-root-recursive-count1.json"), testdata(f, "v2.1-machinestats-last2.json"))
	f.Add(testdata(f, "v2.1-stats-comptest-count3.json"), []byte(`[]`))
	f.Add([]byte(`{"/a":{"spec":{"has_cpu":true,"has_network":true,"has_filesystem":true},"stats":[null,{"cpu":{"usage":{"total":1}},"network":{"interfaces":[{}]},"filesystem":{"totalUsageBytes":3}}]}}`),
		[]byte(`[{"filesystem":[{"capacity":1},{}]}]`))
	f.Fuzz(func(t *testing.T, stats, machine []byte) {
		p, err := New(Config{Mode: ModeRemote, URL: "http://127.0.0.1:1/", Hostname: "h"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		p.src = &replySource{stats, machine}
		now := time.Unix(1e9, 0)
		for i := range 2 {
			_ = p.Poll(context.Background(), now.Add(time.Duration(i)*time.Minute), func(s *pipeline.Sample) {
				if err := s.Validate(); err != nil {
					t.Errorf("invalid sample: %v", err)
				}
				if math.IsNaN(s.Volume) || math.IsInf(s.Volume, 0) || s.Volume < 0 {
					t.Errorf("%s %s = %v", s.ResourceID, s.Name, s.Volume)
				}
			})
		}
	})
}
