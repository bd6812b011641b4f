// Package ipmi is the pollster of baseboard management controllers: it
// reads their sensors over IPMI v2.0 RMCP+ (lanplus) or v1.5 LAN and reports
// Ceilometer's IPMI meters.
//
// Per sensor, as Ceilometer's IPMI sensor pollsters (which ran ipmitool
// sdr -v type <T>) did, for every analog threshold sensor of the four
// types, with resource type ipmi_sensor and resource id
// "<node>-<sensor id>", the sensor id being ipmitool's "Sensor ID"
// ("CPU Temp (0x1)") lower-cased with spaces replaced by '_':
//
//	hardware.ipmi.temperature  gauge  C (or F)  Temperature sensors
//	hardware.ipmi.fan          gauge  RPM       Fan sensors
//	hardware.ipmi.voltage      gauge  V         Voltage sensors
//	hardware.ipmi.current      gauge  the sensor's unit (Amps, or W for the
//	                                  power sensors BMCs type as Current)
//
// Per node, with resource type ipmi and the node's name as resource id:
//
//	hardware.ipmi.node.power               gauge  W  DCMI Get Power Reading where the BMC has
//	                                                 DCMI; else the sum of its sensors in Watts
//	hardware.ipmi.node.temperature         gauge  C  the inlet sensor: entity "air inlet" or a
//	                                                 temperature sensor named "inlet"
//	hardware.ipmi.node.outlet_temperature  gauge  C  a temperature sensor named "outlet" or "exhaust"
//
// Ceilometer read the node meters from Intel Node Manager, which only Intel
// BMCs have; DCMI and the SDR carry the same quantities on every vendor's.
// The node meters appear only where their source exists. The metadata of
// every sample is {"node": <node>}.
//
// The sensor data record (SDR) repository is read once per target and
// cached (and again after Config.SDRRefresh, or after a failed poll);
// each poll opens a session, reads every cached sensor, and closes the
// session, so that no BMC session slot is held between polls. A sensor
// without a reading (not present, scanning disabled, reading unavailable,
// or refused by the BMC) is skipped and counted.
package ipmi
