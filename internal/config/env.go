package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment override.
//
// The naming rule: TRAILWATCH_ followed by the setting's YAML path in upper
// case with every '.' as '_', e.g. kafka.brokers is TRAILWATCH_KAFKA_BROKERS
// and detect.min_sigma.api_calls is TRAILWATCH_DETECT_MIN_SIGMA_API_CALLS.
// Lists are comma-separated. Every scalar or list-of-scalars setting has one;
// lists of structures (detect.suppress) do not. Values are parsed like the
// YAML file, so "5m" is a duration and "true" a bool. The SASL password is
// not a setting: it is read from kafka.sasl.password_env.
const EnvPrefix = "TRAILWATCH_"

// EnvNames lists every environment override with its YAML path, sorted.
func EnvNames() map[string]string {
	out := map[string]string{}
	walkEnv(reflect.TypeOf(Config{}), nil, func(path []string, _ reflect.Type) {
		out[envName(path)] = strings.Join(path, ".")
	})
	return out
}

func envName(path []string) string {
	return EnvPrefix + strings.ToUpper(strings.Join(path, "_"))
}

var durationType = reflect.TypeOf(time.Duration(0))

func walkEnv(t reflect.Type, path []string, fn func([]string, reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		p := append(append([]string(nil), path...), tag)
		ft := f.Type
		switch {
		case ft == durationType:
			fn(p, ft)
		case ft.Kind() == reflect.Struct:
			walkEnv(ft, p, fn)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			// lists of structures have no override
		default:
			fn(p, ft)
		}
	}
}

// ApplyEnv overlays the environment overrides found by lookup onto c and
// validates. An override that does not parse is an error naming the
// variable.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	type hit struct {
		name, val string
		path      []string
		list      bool
	}
	var hits []hit
	walkEnv(reflect.TypeOf(Config{}), nil, func(path []string, t reflect.Type) {
		name := envName(path)
		if v, ok := lookup(name); ok {
			hits = append(hits, hit{name: name, val: v, path: path, list: t.Kind() == reflect.Slice})
		}
	})
	sort.Slice(hits, func(i, j int) bool { return hits[i].name < hits[j].name })
	for _, h := range hits {
		val := scalar(h.val)
		if h.list {
			items := []any{}
			for _, s := range strings.Split(h.val, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, scalar(s))
				}
			}
			val = items
		}
		doc := val
		for i := len(h.path) - 1; i >= 0; i-- {
			doc = map[string]any{h.path[i]: doc}
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, h.name, err)
		}
		if err := decodeStrict(b, c); err != nil {
			return fmt.Errorf("%w: %s=%q: %v", ErrInvalid, h.name, h.val, err)
		}
	}
	return c.Validate()
}

// scalar reads an environment value as YAML would read it in the file
// (so "2" is a number and "true" a bool), keeping anything that is not a
// plain scalar as a string.
func scalar(v string) any {
	var x any
	if err := yaml.Unmarshal([]byte(v), &x); err != nil {
		return v
	}
	switch x.(type) {
	case string, int, int64, uint64, float64, bool:
		return x
	}
	return v
}

func decodeStrict(b []byte, c *Config) error {
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	return dec.Decode(c)
}
