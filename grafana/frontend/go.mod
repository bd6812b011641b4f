// This file only keeps the Go tooling out of node_modules (some npm
// packages ship Go sources): a directory with its own go.mod is not part
// of the vigil module, so ./... does not reach into it.
module vigil.invalid/grafana-frontend

go 1.26
