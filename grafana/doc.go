// Package grafana is the home of vigil's Grafana data source plugin: a
// backend on grafana-plugin-sdk-go that talks to vigil's API over HTTP, its
// query editor frontend and the provisioned dashboards.
package grafana
