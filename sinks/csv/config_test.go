package csv

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
)

func init() {
	// ParsePipeline wants a registered source; this one is never built.
	core.RegisterSource("csvtest", core.Factory[core.Source]{
		Doc: "test source of sinks/csv",
		New: func(context.Context, core.Env) (core.Source, error) { return nil, errors.New("not for running") },
	})
}

// buildSink parses a pipeline whose only sink has the given config section
// (indented YAML) and builds it through the registered `csv` factory.
func buildSink(t *testing.T, config string) (core.Sink, error) {
	t.Helper()
	src := "version: 1\nname: t\nsource:\n  plugin: csvtest\nsinks:\n  - plugin: csv\n    config:\n" + config
	p, err := core.ParsePipeline("pipeline.yaml", []byte(src), nil)
	if err != nil {
		return nil, err
	}
	f, ok := core.LookupSink("csv")
	if !ok {
		t.Fatal("csv sink is not registered")
	}
	return f.New(context.Background(), core.Env{Pipeline: p.Name, Config: p.Sinks[0].Config})
}

func TestFactoryDefaults(t *testing.T) {
	dir := t.TempDir()
	s, err := buildSink(t, "      path: "+dir+"\n")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fs, ok := s.(*files.Sink)
	if !ok {
		t.Fatalf("got %T, want *files.Sink", s)
	}
	if fs.Root() != dir {
		t.Errorf("root: got %s, want %s", fs.Root(), dir)
	}
	if _, ok := s.(core.CommitRequester); !ok {
		t.Error("the csv sink does not implement core.CommitRequester")
	}
	if _, ok := s.(core.SinkStats); !ok {
		t.Error("the csv sink does not implement core.SinkStats")
	}
	if _, ok := s.(core.Checker); !ok {
		t.Error("the csv sink does not implement core.Checker")
	}
}

func TestConfigDecode(t *testing.T) {
	cfg := DefaultConfig()
	src := "version: 1\nname: t\nsource:\n  plugin: csvtest\nsinks:\n  - plugin: csv\n    config:\n" +
		"      path: /lake\n      partition_by: [unit, date:ts]\n      roll: {rows: 1000, bytes: 64MiB, interval: 5m}\n" +
		"      delimiter: \"\\t\"\n      null: '\\N'\n      header: false\n"
	p, err := core.ParsePipeline("pipeline.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Sinks[0].Config.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Path:        "/lake",
		PartitionBy: []string{"unit", "date:ts"},
		Roll:        files.Roll{Rows: 1000, Bytes: 64 << 20, Interval: 5 * time.Minute},
		Delimiter:   "\t",
		Null:        `\N`,
		Header:      false,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{"every problem at once",
			"      delimiter: ab\n      partition_by: [stream, \"date:\"]\n      roll: {rows: -1}\n",
			[]string{
				"pipeline.yaml:8:7: sinks[0].config.path: required", // at the section: the key is absent
				`pipeline.yaml:8:18: sinks[0].config.delimiter: "ab" is not one character`,
				`pipeline.yaml:9:30: sinks[0].config.partition_by[1]: partition key "date:" names no column (want date:COLUMN)`,
				"pipeline.yaml:10:20: sinks[0].config.roll.rows: must not be negative, got -1",
			}},
		{"empty delimiter", "      path: x\n      delimiter: \"\"\n",
			[]string{`pipeline.yaml:9:18: sinks[0].config.delimiter: empty (want one character, e.g. "," or ";" or "\t")`}},
		{"quote delimiter", "      path: x\n      delimiter: '\"'\n",
			[]string{`pipeline.yaml:9:18: sinks[0].config.delimiter: "\"" cannot separate CSV fields`}},
		{"unknown key", "      path: x\n      delimeter: \";\"\n", []string{"delimeter"}},
		{"bad size", "      path: x\n      roll: {bytes: 12 parsecs}\n", []string{`invalid size "12 parsecs"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildSink(t, tt.config)
			if err == nil {
				t.Fatal("got no error")
			}
			var ces core.ConfigErrors
			if !errors.As(err, &ces) {
				var ce *core.ConfigError
				if !errors.As(err, &ce) {
					t.Fatalf("got %T %v, want core.ConfigErrors", err, err)
				}
				ces = core.ConfigErrors{ce}
			}
			if strings.Contains(tt.want[0], "pipeline.yaml") {
				got := make([]string, len(ces))
				for i, e := range ces {
					got[i] = e.Error()
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
				return
			}
			if !strings.Contains(err.Error(), tt.want[0]) {
				t.Errorf("got %v, want an error mentioning %s", err, tt.want[0])
			}
		})
	}
}

func TestNewSinkErrors(t *testing.T) {
	_, err := NewSink(Config{Delimiter: "\n"}, nil)
	want := "csv: path: required\ncsv: delimiter: \"\\n\" cannot separate CSV fields"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
