// Package pipelines_test checks the example pipeline files in this directory: each
// loads without error against the built-in plugins and validates against the
// pipeline JSON Schema, and pipeline.schema.json is the schema the registry
// generates (regenerate it with `go test ./pipelines -update`).
package pipelines_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/etl-toolkit/etl/core"
	// The built-in plugins, as cmd/etl links them.
	_ "github.com/etl-toolkit/etl/core/reorder"
	_ "github.com/etl-toolkit/etl/core/siunits"
	_ "github.com/etl-toolkit/etl/sinks/csv"
	_ "github.com/etl-toolkit/etl/sinks/discard"
	_ "github.com/etl-toolkit/etl/sinks/flight"
	_ "github.com/etl-toolkit/etl/sinks/parquet"
	_ "github.com/etl-toolkit/etl/sources/asi"
	_ "github.com/etl-toolkit/etl/sources/azumio"
	_ "github.com/etl-toolkit/etl/sources/generate"
)

var update = flag.Bool("update", false, "rewrite pipeline.schema.json from core.PipelineSchema()")

const schemaFile = "pipeline.schema.json"

// pipelineFiles returns the example pipelines; there must be some.
func pipelineFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("got no pipelines/*.yaml, want the example pipelines (at least quickstart.yaml)")
	}
	return files
}

func TestSchemaFileIsGenerated(t *testing.T) {
	want, err := core.PipelineSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./pipelines -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from core.PipelineSchema(); regenerate it with go test ./pipelines -update", schemaFile)
	}
}

func TestPipelinesLoad(t *testing.T) {
	for _, file := range pipelineFiles(t) {
		t.Run(file, func(t *testing.T) {
			p, err := core.LoadPipeline(file)
			if err != nil {
				t.Fatalf("got errors:\n%v", err)
			}
			if p.Name == "" || len(p.Sinks) == 0 {
				t.Errorf("got pipeline %q with %d sinks, want a name and at least one sink", p.Name, len(p.Sinks))
			}
		})
	}
}

func TestPipelinesMatchSchema(t *testing.T) {
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (generate it with go test ./pipelines -update)", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(core.SchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile(core.SchemaURL)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	for _, file := range pipelineFiles(t) {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			j, err := yaml.YAMLToJSON(src)
			if err != nil {
				t.Fatalf("YAML to JSON: %v", err)
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
			if err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(inst); err != nil {
				t.Errorf("does not match %s:\n%v", schemaFile, err)
			}
		})
	}
}
