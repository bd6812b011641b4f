package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// grpcClientPlugin is the client half of a go-plugin gRPC service, as
// Grafana's plugin manager holds it.
type grpcClientPlugin[T any] struct {
	goplugin.NetRPCUnsupportedPlugin
	newClient func(grpc.ClientConnInterface) T
}

func (p *grpcClientPlugin[T]) GRPCServer(*goplugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("client side only")
}

func (p *grpcClientPlugin[T]) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return p.newClient(c), nil
}

// gnocchi answers the four calls a health check and a metric query make,
// with Gnocchi's JSON, and checks the noauth identity headers.
func gnocchi(t *testing.T) *httptest.Server {
	now := time.Now().UTC().Truncate(time.Minute)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/" && r.Header.Get("X-User-Id") != "grafana" {
			w.WriteHeader(401)
			io.WriteString(w, `{"code": 401, "description": "Authentication required", "title": "Unauthorized"}`)
			return
		}
		policy := `{"name": "low", "back_window": 0, "aggregation_methods": ["mean", "max"], "definition": [{"granularity": "0:01:00", "points": 1440, "timespan": "1 day, 0:00:00"}]}`
		switch r.URL.Path {
		case "/":
			io.WriteString(w, `{"build": "4.4.2", "versions": [{"id": "v1.0", "status": "CURRENT", "updated": "2015-03-19"}]}`)
		case "/v1/archive_policy":
			io.WriteString(w, "["+policy+"]")
		case "/v1/metric/m1":
			io.WriteString(w, `{"id": "m1", "name": "cpu", "unit": "ns", "creator": "admin", "resource": null, "archive_policy": `+policy+`}`)
		case "/v1/metric/m1/measures":
			var out [][3]any
			for i := 10; i > 0; i-- {
				out = append(out, [3]any{now.Add(-time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05+00:00"), 60.0, float64(i)})
			}
			json.NewEncoder(w).Encode(out)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"code": 404, "description": "not found"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestLaunchedByGrafana builds the plugin executable and starts it as
// Grafana does: go-plugin's handshake (magic cookie, protocol version 2)
// over gRPC; then calls CheckHealth and QueryData on it.
func TestLaunchedByGrafana(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin executable")
	}
	bin := filepath.Join(t.TempDir(), "gpx_vigil-datasource")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	api := gnocchi(t)

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GF_VERSION=11.6.0", "GF_PLUGIN_VERSION=test")
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion:  grpcplugin.ProtocolVersion,
			MagicCookieKey:   grpcplugin.MagicCookieKey,
			MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		Plugins: map[string]goplugin.Plugin{
			"diagnostics": &grpcClientPlugin[pluginv2.DiagnosticsClient]{newClient: pluginv2.NewDiagnosticsClient},
			"data":        &grpcClientPlugin[pluginv2.DataClient]{newClient: pluginv2.NewDataClient},
			"resource":    &grpcClientPlugin[pluginv2.ResourceClient]{newClient: pluginv2.NewResourceClient},
		},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Error}),
		StartTimeout:     30 * time.Second,
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("handshake with the plugin: %v", err)
	}
	dispense := func(name string) any {
		raw, err := rpc.Dispense(name)
		if err != nil {
			t.Fatalf("dispense %s: %v", name, err)
		}
		return raw
	}
	diag := dispense("diagnostics").(pluginv2.DiagnosticsClient)
	dataClient := dispense("data").(pluginv2.DataClient)

	pctx := &pluginv2.PluginContext{
		OrgId:    1,
		PluginId: "vigil-metering-datasource",
		DataSourceInstanceSettings: &pluginv2.DataSourceInstanceSettings{
			Uid: "vigil", Name: "vigil", Url: api.URL, LastUpdatedMS: 1,
			JsonData: []byte(`{"authMode": "noauth", "userId": "grafana", "roles": "admin"}`),
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	health, err := diag.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pctx})
	if err != nil {
		t.Fatalf("CheckHealth over gRPC: %v", err)
	}
	if health.Status != pluginv2.CheckHealthResponse_OK || health.Message != "vigil 4.4.2 (API v1.0): connected as grafana (admin), 1 archive policies" {
		t.Fatalf("health %v %q", health.Status, health.Message)
	}

	now := time.Now()
	resp, err := dataClient.QueryData(ctx, &pluginv2.QueryDataRequest{
		PluginContext: pctx,
		Queries: []*pluginv2.DataQuery{{
			RefId: "A", MaxDataPoints: 1000, IntervalMS: 60000,
			TimeRange: &pluginv2.TimeRange{FromEpochMS: now.Add(-time.Hour).UnixMilli(), ToEpochMS: now.UnixMilli()},
			Json:      []byte(`{"queryType": "metric", "metricId": "m1", "aggregation": "max"}`),
		}},
	})
	if err != nil {
		t.Fatalf("QueryData over gRPC: %v", err)
	}
	r := resp.Responses["A"]
	if r == nil || r.Error != "" {
		t.Fatalf("response %v", r)
	}
	frames, err := data.UnmarshalArrowFrames(r.Frames)
	if err != nil {
		t.Fatalf("decode frames: %v", err)
	}
	if len(frames) != 1 || frames[0].Rows() != 10 {
		t.Fatalf("frames %v, want one of 10 rows", frames)
	}
	if v := frames[0].Fields[1].At(0).(float64); v != 10 {
		t.Fatalf("first value %v, want 10", v)
	}
	if u := frames[0].Fields[1].Config.Unit; u != "ns" {
		t.Fatalf("unit %q, want ns", u)
	}

	// A refused credential is the health check's answer, not a crash.
	pctx.DataSourceInstanceSettings.JsonData = []byte(`{"authMode": "noauth", "userId": "nobody"}`)
	pctx.DataSourceInstanceSettings.LastUpdatedMS = 2
	health, err = diag.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: pctx})
	if err != nil || health.Status != pluginv2.CheckHealthResponse_ERROR {
		t.Fatalf("health with a refused user: %v %v", health, err)
	}
	client.Kill()
	if !client.Exited() {
		t.Fatal("the plugin did not exit when killed")
	}
}
