// Command vigil-datasource is the backend executable of vigil's Grafana
// data source plugin. Grafana starts it and talks to it over gRPC (the
// go-plugin handshake of grafana-plugin-sdk-go); it is not meant to be run
// by hand.
package main

import (
	"os"
	"runtime/debug"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"

	"github.com/vigil-telemetry/vigil/grafana/plugin"
)

func main() {
	// A dashboard's answers are tens of megabytes that live for one
	// request: collecting at twice the live heap instead of once halves
	// the collections in the panel's latency. GOGC still overrides it.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if err := datasource.Manage(plugin.PluginID, plugin.NewDatasource, datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("the vigil data source stopped", "err", err.Error())
		os.Exit(1)
	}
}
