// Package agents holds what runs on every compute node: the polling
// scheduler (poll) and the pollsters that read hosts, VMs and containers and
// produce Ceilometer's meters as pipeline samples.
package agents
