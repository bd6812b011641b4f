// Package host is the pollster of the local machine: it reads procfs, sysfs
// and, where the kernel allows, hardware performance counters, and reports
// them under Ceilometer's hardware.* meter names on host resources.
package host
