package index

// builtinResourceTypes are the types a new index is created with: generic,
// the types ceilometer-upgrade creates in Gnocchi (Ceilometer 19, with its
// later attribute additions folded in) and vigil's container type for the
// cAdvisor agent.
func builtinResourceTypes() []ResourceType {
	str := func(required bool) AttributeSpec {
		return AttributeSpec{Type: TypeString, Required: required, MinLength: intp(0), MaxLength: intp(255)}
	}
	strN := func(required bool, n int) AttributeSpec {
		s := str(required)
		s.MaxLength = intp(n)
		return s
	}
	id := func(required bool) AttributeSpec { return AttributeSpec{Type: TypeUUID, Required: required} }
	when := AttributeSpec{Type: TypeDatetime}
	lo, hi := 0.0, 4294967295.0
	none := map[string]AttributeSpec{}
	types := []ResourceType{
		{Name: "generic", Attributes: none},
		{Name: "image", Attributes: map[string]AttributeSpec{
			"name": str(true), "container_format": str(true), "disk_format": str(true)}},
		{Name: "instance", Attributes: map[string]AttributeSpec{
			"flavor_id": str(true), "image_ref": str(false), "host": str(true), "display_name": str(true),
			"server_group": str(false), "flavor_name": str(true), "launched_at": when, "created_at": when,
			"deleted_at": when, "availability_zone": str(false)}},
		{Name: "instance_disk", Attributes: map[string]AttributeSpec{"name": str(true), "instance_id": id(true)}},
		{Name: "instance_network_interface", Attributes: map[string]AttributeSpec{"name": str(true), "instance_id": id(true)}},
		{Name: "volume", Attributes: map[string]AttributeSpec{
			"display_name": str(false), "volume_type": str(false), "image_id": id(false), "instance_id": id(false)}},
		{Name: "swift_account", Attributes: none},
		{Name: "ceph_account", Attributes: none},
		{Name: "network", Attributes: none},
		{Name: "identity", Attributes: none},
		{Name: "ipmi", Attributes: none},
		{Name: "stack", Attributes: none},
		{Name: "loadbalancer", Attributes: none},
		{Name: "host", Attributes: map[string]AttributeSpec{"host_name": str(true)}},
		{Name: "host_network_interface", Attributes: map[string]AttributeSpec{"host_name": str(true), "device_name": str(false)}},
		{Name: "host_disk", Attributes: map[string]AttributeSpec{"host_name": str(true), "device_name": str(false)}},
		{Name: "nova_compute", Attributes: map[string]AttributeSpec{"host_name": str(true)}},
		{Name: "manila_share", Attributes: map[string]AttributeSpec{
			"name": str(false), "host": str(true), "protocol": str(false), "availability_zone": str(false), "status": str(true)}},
		{Name: "switch", Attributes: map[string]AttributeSpec{"controller": str(true)}},
		{Name: "switch_port", Attributes: map[string]AttributeSpec{
			"switch": strN(true, 64), "port_number_on_switch": {Type: TypeNumber, Min: &lo, Max: &hi},
			"neutron_port_id": str(false), "controller": str(true)}},
		{Name: "port", Attributes: map[string]AttributeSpec{"controller": str(true)}},
		{Name: "switch_table", Attributes: map[string]AttributeSpec{"switch": strN(true, 64), "controller": str(true)}},
		{Name: "volume_provider", Attributes: none},
		{Name: "volume_provider_pool", Attributes: map[string]AttributeSpec{"provider": str(true)}},
		{Name: "ipmi_sensor", Attributes: map[string]AttributeSpec{"node": str(true)}},
		// A container as the cAdvisor agent sees it; Kubernetes fields stay
		// null outside a cluster.
		{Name: "container", Attributes: map[string]AttributeSpec{
			"host": str(false), "name": str(false), "container_name": str(false), "image": str(false),
			"namespace": str(false), "pod": str(false)}},
	}
	for i := range types {
		types[i].State = "active"
	}
	return types
}
