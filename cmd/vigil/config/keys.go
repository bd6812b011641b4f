package config

import (
	"reflect"
	"strings"
)

// leaf is one key that the environment can set: a scalar, a list of
// strings or a list of targets.
type leaf struct {
	path  string // a.b_c
	env   string // VIGIL_A_B_C
	index []int  // field index path from Config
	field reflect.StructField
}

// leaves lists the keys of Config in declaration order.
func leaves() []leaf {
	var out []leaf
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			p := join(path, yamlKey(f))
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, p, idx)
				continue
			}
			out = append(out, leaf{path: p, env: envName(p), index: idx, field: f})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// envName is the variable that sets the key at path.
func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_").Replace(path))
}
