package core_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/etl-toolkit/etl/core"
)

func TestOptions(t *testing.T) {
	got := core.Options(testSinkOptions{})
	want := []core.Option{
		{Name: "path", Type: "string", Doc: "where to write (required)"},
		{Name: "compression", Type: "string", Doc: "none, snappy, zstd or gzip", Default: "zstd"},
		{Name: "level", Type: "string", Doc: "log level: debug, info or warn", Default: "info"},
		{Name: "columns", Type: "list of object", Doc: "columns to write"},
		{Name: "columns[].name", Type: "string", Doc: "column name"},
		{Name: "columns[].type", Type: "string", Doc: "int64, float64 or string"},
		{Name: "roll", Type: "object", Doc: "when to start a new file"},
		{Name: "roll.rows", Type: "integer", Doc: "rows per file (0: no limit)"},
		{Name: "roll.every", Type: "duration", Doc: "age of a file (0: no limit)"},
		{Name: "fields", Type: "map of object", Doc: "per-field overrides"},
		{Name: "fields.<key>.from", Type: "string", Doc: "source field"},
		{Name: "fields.<key>.unit", Type: "string", Doc: "unit of the values"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", formatOptions(got), formatOptions(want))
	}
}

func TestOptionsTypes(t *testing.T) {
	got := map[string]string{}
	for _, o := range core.Options(&kinds{}) {
		got[o.Name] = o.Type
	}
	want := map[string]string{
		"s": "string", "i": "integer", "i8": "integer", "u16": "integer", "f": "number",
		"f32": "number", "b": "boolean", "d": "duration", "t": "timestamp",
		"list": "list of string", "pair": "list of integer", "map": "map of integer",
		"by_int": "map of string", "ptr": "object", "ptr.attempts": "integer",
		"ptr.backoff": "duration", "any": "any", "level": "string",
		"cols": "list of object", "cols[].name": "string", "cols[].type": "string",
		"sub": "any", "roll": "object", "roll.rows": "integer", "extra": "string",
		"named": "map of object", "named.<key>.rows": "integer", "named.<key>.every": "duration",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, v := range []any{nil, 3, "x", core.Config{}} {
		if got := core.Options(v); got != nil {
			t.Errorf("Options(%#v): got %v, want nil", v, got)
		}
	}
}

func formatOptions(opts []core.Option) string {
	var b strings.Builder
	for _, o := range opts {
		b.WriteString("\t" + o.Name + " | " + o.Type + " | " + o.Doc + " | " + o.Default + "\n")
	}
	return b.String()
}

// compileSchema compiles a pipeline schema with the JSON Schema validator, which
// also checks it against the draft 2020-12 meta-schema.
func compileSchema(t *testing.T, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(core.SchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(core.SchemaURL)
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

// yamlInstance converts a pipeline file to the JSON value a schema validates.
func yamlInstance(t *testing.T, src []byte) any {
	t.Helper()
	j, err := yaml.YAMLToJSON(src)
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	return v
}

func TestPipelineSchema(t *testing.T) {
	raw, err := core.PipelineSchema()
	if err != nil {
		t.Fatal(err)
	}
	again, err := core.PipelineSchema()
	if err != nil || !bytes.Equal(raw, again) {
		t.Errorf("got a different schema on the second call (err %v)", err)
	}
	schema := compileSchema(t, raw)

	full, err := os.ReadFile(filepath.Join("testdata", "pipelines", "good", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(yamlInstance(t, full)); err != nil {
		t.Errorf("good/full.yaml: %v", err)
	}

	const base = "version: 1\nname: s\nsource: {plugin: test-src}\nsinks: [{plugin: test-sink, config: {path: x}}]\n"
	tests := []struct {
		name  string
		src   string
		valid bool
	}{
		{"minimal", base, true},
		{"env in an integer", strings.Replace(base, "name: s", "name: s\nconcurrency: ${N:-4}", 1), true},
		{"env in a name", strings.Replace(base, "name: s", "name: ${NAME}", 1), true},
		{"external plugin", strings.Replace(base, "test-src", "external:./bin/x", 1), true},
		{"null config", strings.Replace(base, "{plugin: test-src}", "{plugin: test-src, config: null}", 1), true},
		{"config duration", strings.Replace(base, "{plugin: test-src}", "{plugin: test-src, config: {timeout: 1m30s}}", 1), true},
		{"plugin without options", strings.Replace(base, "sinks: [", "sinks: [{plugin: test-sink-noopts}, ", 1), true},
		{"unknown top-level key", base + "sink: []\n", false},
		{"version 2", strings.Replace(base, "version: 1", "version: 2", 1), false},
		{"bad name", strings.Replace(base, "name: s", "name: a b", 1), false},
		{"concurrency 0", base + "concurrency: 0\n", false},
		{"concurrency word", base + "concurrency: many\n", false},
		{"missing sinks", "version: 1\nname: s\nsource: {plugin: test-src}\n", false},
		{"empty sinks", strings.Replace(base, "sinks: [{plugin: test-sink, config: {path: x}}]", "sinks: []", 1), false},
		{"unknown plugin", strings.Replace(base, "test-src", "nope", 1), false},
		{"external without path", strings.Replace(base, "test-src", "'external:'", 1), false},
		{"unknown config key", strings.Replace(base, "{path: x}", "{pth: x}", 1), false},
		{"nested unknown key", strings.Replace(base, "{path: x}", "{path: x, roll: {size: 1}}", 1), false},
		{"wrong kind in config", strings.Replace(base, "{plugin: test-src}", "{plugin: test-src, config: {rate: fast}}", 1), false},
		{"bad duration", strings.Replace(base, "{plugin: test-src}", "{plugin: test-src, config: {timeout: 5}}", 1), false},
		{"options given to a plugin without any", strings.Replace(base, "sinks: [", "sinks: [{plugin: test-sink-noopts, config: {a: 1}}, ", 1), false},
		{"int8 range", base + "transforms: [{plugin: test-map, config: {priority: 300}}]\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := schema.Validate(yamlInstance(t, []byte(tt.src)))
			if got := err == nil; got != tt.valid {
				t.Errorf("got valid %v, want %v (%v)\n%s", got, tt.valid, err, tt.src)
			}
		})
	}
}

func TestPipelineSchemaPluginConfig(t *testing.T) {
	raw, err := core.PipelineSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(s.Defs["source.test-src"], &got); err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal([]byte(`{
		"description": "test source",
		"type": "object",
		"additionalProperties": false,
		"properties": {
			"endpoint": {"type": "string", "description": "base URL of the API", "default": "http://127.0.0.1:8080"},
			"timeout": {"$ref": "#/$defs/duration", "description": "per-request timeout", "default": "30s"},
			"types": {"type": "array", "items": {"type": "string"}, "description": "record types to read", "default": ["steps"]},
			"retry": {
				"type": "object",
				"additionalProperties": false,
				"description": "retry policy",
				"properties": {
					"attempts": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/env"}], "description": "tries per request", "default": 3},
					"backoff": {"$ref": "#/$defs/duration", "description": "first wait between tries", "default": "1s"}
				}
			},
			"rate": {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/env"}], "description": "requests per second (0: unlimited)"},
			"live": {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/env"}], "description": "read until cancelled", "default": false}
		}
	}`), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("got\n%s", g)
	}
}
