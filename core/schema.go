package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
)

// Option is one option of a component's config, as `etl plugins` prints it.
type Option struct {
	// Name is the option's path in the config section: "path", "roll.max_rows",
	// "columns[].type" (a field of every list element), "fields.<key>.from" (a field
	// of every map value).
	Name string
	// Type is "string", "integer", "number", "boolean", "duration", "timestamp",
	// "object", "any", "list of T" or "map of T".
	Type string
	// Doc is the option's `doc` tag.
	Doc string
	// Default is the option's `default` tag, as written ("" if none).
	Default string
}

// Options lists the options of v, a component's config struct (or a pointer to
// one), flattened in declaration order: an option holding a struct, or a list or map
// of structs, comes before its own fields. Option names are the yaml tags, as Decode
// reads them. It returns nil for nil or for a type that is not a struct.
func Options(v any) []Option {
	if v == nil {
		return nil
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == configType || t == timeType {
		return nil
	}
	var out []Option
	appendOptions(&out, t, "", map[reflect.Type]bool{})
	return out
}

func appendOptions(out *[]Option, t reflect.Type, prefix string, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return // a recursive type lists its fields once
	}
	visiting[t] = true
	defer delete(visiting, t)
	for _, f := range structFields(t).list {
		name := joinPath(prefix, f.name)
		*out = append(*out, Option{Name: name, Type: typeName(f.typ), Doc: f.doc, Default: f.def})
		et, suffix := f.typ, ""
		for {
			et = derefType(et)
			if isLeafType(et) {
				break
			}
			switch et.Kind() {
			case reflect.Slice, reflect.Array:
				et, suffix = et.Elem(), suffix+"[]"
				continue
			case reflect.Map:
				et, suffix = et.Elem(), suffix+".<key>"
				continue
			}
			break
		}
		if et.Kind() == reflect.Struct && !isLeafType(et) {
			appendOptions(out, et, name+suffix, visiting)
		}
	}
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// isLeafType reports whether values of t are scalars or opaque to Options and the
// schema. A struct that decodes itself through a goccy/go-yaml unmarshaler is not:
// its fields are still taken to be its options.
func isLeafType(t reflect.Type) bool {
	return t == configType || t == durationType || t == timeType ||
		(yamlUnmarshaler(t) && t.Kind() != reflect.Struct) ||
		reflect.PointerTo(t).Implements(textUnmarshalerType)
}

// typeName names t for people reading `etl plugins`.
func typeName(t reflect.Type) string {
	t = derefType(t)
	switch {
	case t == configType:
		return "any"
	case t == durationType:
		return "duration"
	case t == timeType:
		return "timestamp"
	case yamlUnmarshaler(t) && t.Kind() != reflect.Struct:
		return "any"
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return "string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.Struct:
		return "object"
	}
	return "any"
}

// SchemaURL is the $id of the pipeline file's JSON Schema.
const SchemaURL = "https://github.com/etl-toolkit/etl/pipelines/pipeline.schema.json"

// PipelineSchema returns a JSON Schema (draft 2020-12) of pipeline files, generated
// from the registry: the top-level keys, and for every registered plugin the schema
// of its `config` section, generated from its Factory.Options struct (yaml tags name
// the properties, `doc` tags describe them, `default` tags give their defaults, and
// unknown keys are not allowed), chosen by the entry's `plugin` with if/then.
// Wherever an integer, number, boolean or duration is expected, a string holding a
// ${VAR} reference is allowed too, since it is substituted before decoding.
//
// The output is deterministic (keys sorted, indented, ending in a newline), so it
// can be checked in and compared.
func PipelineSchema() ([]byte, error) {
	g := schemaGen{defs: map[string]any{
		"env": map[string]any{
			"description": "a string with ${VAR} or ${VAR:-default} references, substituted from the environment when the file is loaded",
			"type":        "string",
			"pattern":     `\$\{[A-Za-z_][A-Za-z0-9_]*(:-.*)?\}`,
		},
		"duration": map[string]any{
			"description": "a Go duration such as 30s, 5m or 1h30m",
			"anyOf": []any{
				map[string]any{"type": "string", "pattern": `^[-+]?(0|([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`},
				map[string]any{"$ref": "#/$defs/env"},
			},
		},
	}}
	g.kind("source", Sources(), func(name string) (string, any) {
		f, _ := LookupSource(name)
		return f.Doc, f.Options
	})
	g.kind("transform", Transforms(), func(name string) (string, any) {
		f, _ := LookupTransform(name)
		return f.Doc, f.Options
	})
	g.kind("sink", Sinks(), func(name string) (string, any) {
		f, _ := LookupSink(name)
		return f.Doc, f.Options
	})
	schema := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaURL,
		"title":                "etl pipeline file",
		"description":          "A pipeline: one source, optional transforms and one or more sinks, with where its state lives and when it commits.",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"version", "name", "source", "sinks"},
		"properties": map[string]any{
			"version": map[string]any{
				"description": "the pipeline file format's version; must be 1",
				"const":       1,
			},
			"name": map[string]any{
				"description": "the pipeline's name; it names state keys and files",
				"anyOf": []any{
					map[string]any{"type": "string", "pattern": "^[A-Za-z0-9._-]+$"},
					map[string]any{"$ref": "#/$defs/env"},
				},
			},
			"state": map[string]any{
				"description": "directory of the state store",
				"type":        "string",
				"minLength":   1,
				"default":     DefaultState,
			},
			"concurrency": map[string]any{
				"description": "how many units are read at once",
				"default":     DefaultConcurrency,
				"anyOf": []any{
					map[string]any{"type": "integer", "minimum": 1, "maximum": MaxConcurrency},
					map[string]any{"$ref": "#/$defs/env"},
				},
			},
			"tick": map[string]any{
				"description": "how often, in a run with live units, transforms that release rows on processing time (reorder) are ticked: their release's resolution (1ms to 1m)",
				"default":     DefaultTick.String(),
				"$ref":        "#/$defs/duration",
			},
			"commit": map[string]any{
				"description":          "when the runner commits besides the end of the run and the sinks' own rolls",
				"type":                 "object",
				"additionalProperties": false,
				"properties": map[string]any{
					"interval": map[string]any{
						"description": "commit at least this often while a run goes on (at least 1s)",
						"default":     DefaultCommitEvery.String(),
						"$ref":        "#/$defs/duration",
					},
					"rows": map[string]any{
						"description": "commit after this many rows since the last commit (0: no row limit)",
						"default":     0,
						"anyOf": []any{
							map[string]any{"type": "integer", "minimum": 0},
							map[string]any{"$ref": "#/$defs/env"},
						},
					},
				},
			},
			"dead_letter": map[string]any{
				"description":          "where rejected rows go",
				"type":                 "object",
				"additionalProperties": false,
				"properties": map[string]any{
					"path": map[string]any{
						"description": "JSON Lines file of rejected rows (default STATE/NAME.deadletter.jsonl)",
						"type":        "string",
						"minLength":   1,
					},
				},
			},
			"source": map[string]any{"$ref": "#/$defs/source"},
			"transforms": map[string]any{
				"description": "transforms applied in order to every batch",
				"type":        "array",
				"items":       map[string]any{"$ref": "#/$defs/transform"},
			},
			"sinks": map[string]any{
				"description": "where the batches are written; every sink gets every batch",
				"type":        "array",
				"minItems":    1,
				"items":       map[string]any{"$ref": "#/$defs/sink"},
			},
		},
		"$defs": g.defs,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(schema); err != nil {
		return nil, fmt.Errorf("core: pipeline schema: %w", err)
	}
	return b.Bytes(), nil
}

type schemaGen struct {
	defs     map[string]any
	visiting map[reflect.Type]bool
}

// kind adds the definition of a plugin entry of one kind ("source", "transform",
// "sink") and one definition per registered plugin's config.
func (g *schemaGen) kind(kind string, names []string, lookup func(string) (doc string, options any)) {
	external := map[string]any{"type": "string", "pattern": "^" + ExternalPrefix + ".+"}
	plugin := map[string]any{
		"description": fmt.Sprintf("a registered %s, or %sPATH for an external plugin executable", kind, ExternalPrefix),
		"anyOf":       []any{external},
	}
	if len(names) > 0 {
		plugin["anyOf"] = []any{map[string]any{"enum": names}, external}
	}
	var cases []any
	for _, name := range names {
		doc, opts := lookup(name)
		def := kind + "." + name
		config := map[string]any{}
		if opts != nil {
			config = g.typ(reflect.TypeOf(opts))
		}
		if doc != "" {
			config["description"] = doc
		}
		g.defs[def] = config
		cases = append(cases, map[string]any{
			"if": map[string]any{
				"properties": map[string]any{"plugin": map[string]any{"const": name}},
				"required":   []string{"plugin"},
			},
			"then": map[string]any{
				"properties": map[string]any{"config": map[string]any{
					"anyOf": []any{map[string]any{"type": "null"}, map[string]any{"$ref": "#/$defs/" + pointerEscape(def)}},
				}},
			},
		})
	}
	entry := map[string]any{
		"description":          fmt.Sprintf("a %s plugin and its options", kind),
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"plugin"},
		"properties": map[string]any{
			"plugin": plugin,
			"config": map[string]any{"description": "the plugin's options"},
		},
	}
	if len(cases) > 0 {
		entry["allOf"] = cases
	}
	g.defs[kind] = entry
}

// pointerEscape escapes a name for a JSON Pointer (RFC 6901) and a URI fragment.
func pointerEscape(s string) string {
	s = strings.ReplaceAll(s, "~", "~0")
	s = strings.ReplaceAll(s, "/", "~1")
	return strings.ReplaceAll(s, "%", "%25")
}

// typ returns the schema of values of Go type t, as Decode reads them.
//
// Hand-written rather than taken from a reflection library (such as
// invopop/jsonschema) because it must follow Decode's own rules, which such a
// library does not know: `doc` and `default` tags, durations as strings, ${VAR}
// references in place of numbers, Config fields left open.
func (g *schemaGen) typ(t reflect.Type) map[string]any {
	t = derefType(t)
	env := map[string]any{"$ref": "#/$defs/env"}
	switch {
	case t == configType:
		return map[string]any{}
	case t == durationType:
		return map[string]any{"$ref": "#/$defs/duration"}
	case t == timeType:
		return map[string]any{"type": "string"}
	case yamlUnmarshaler(t) && t.Kind() == reflect.Struct:
		return g.structure(t, false)
	case yamlUnmarshaler(t):
		return map[string]any{}
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		return map[string]any{"type": []string{"string", "number", "boolean"}}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, env}}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s := map[string]any{"type": "integer"}
		if t.Bits() < 64 {
			lo, hi := intRange(t)
			s["minimum"], s["maximum"] = lo, hi
		}
		return map[string]any{"anyOf": []any{s, env}}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s := map[string]any{"type": "integer", "minimum": 0}
		if t.Bits() < 64 {
			s["maximum"] = uint64(1)<<t.Bits() - 1
		}
		return map[string]any{"anyOf": []any{s, env}}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "number"}, env}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typ(t.Elem())}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.typ(t.Elem()), "minItems": t.Len(), "maxItems": t.Len()}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typ(t.Elem())}
	case reflect.Struct:
		return g.structure(t, true)
	}
	return map[string]any{}
}

// structure returns the schema of a struct: an object with its options as
// properties and no others. With typed false, the properties' values are left
// open, for a struct that decodes itself (and may accept other shapes, such as sizes
// with units for an integer field).
func (g *schemaGen) structure(t reflect.Type, typed bool) map[string]any {
	if g.visiting == nil {
		g.visiting = map[reflect.Type]bool{}
	}
	if g.visiting[t] {
		return map[string]any{"type": "object"} // a recursive type is described once
	}
	g.visiting[t] = true
	defer delete(g.visiting, t)
	props := map[string]any{}
	for _, f := range structFields(t).list {
		s := map[string]any{}
		if typed {
			s = g.typ(f.typ)
		}
		if f.doc != "" {
			s["description"] = f.doc
		}
		if f.defSet {
			s["default"] = defaultValue(f.typ, f.def)
		}
		props[f.name] = s
	}
	return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
}

// defaultValue turns a `default` tag into a JSON value: the text itself for
// string-like options, else the tag read as YAML (so `default:"[stream]"` is a list).
func defaultValue(t reflect.Type, def string) any {
	t = derefType(t)
	if t.Kind() == reflect.String || isLeafType(t) {
		return def
	}
	var v any
	if err := yaml.Unmarshal([]byte(def), &v); err != nil {
		return def
	}
	return v
}
