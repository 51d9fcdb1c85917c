package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
)

// Throwaway plugins with typed options, registered under test-* names, so that
// pipeline files in testdata/pipelines can name them.

type testSourceOptions struct {
	Endpoint string        `yaml:"endpoint" doc:"base URL of the API" default:"http://127.0.0.1:8080"`
	Timeout  time.Duration `yaml:"timeout" doc:"per-request timeout" default:"30s"`
	Types    []string      `yaml:"types" doc:"record types to read" default:"[steps]"`
	Retry    testRetry     `yaml:"retry" doc:"retry policy"`
	Rate     float64       `yaml:"rate" doc:"requests per second (0: unlimited)"`
	Live     bool          `yaml:"live" doc:"read until cancelled" default:"false"`
}

type testRetry struct {
	Attempts int           `yaml:"attempts" doc:"tries per request" default:"3"`
	Backoff  time.Duration `yaml:"backoff" doc:"first wait between tries" default:"1s"`
}

type testTransformOptions struct {
	Scale    float64  `yaml:"scale" doc:"factor applied to every value" default:"1"`
	Fields   []string `yaml:"fields" doc:"fields to scale"`
	Priority int8     `yaml:"priority" doc:"order among transforms"`
}

type testSinkOptions struct {
	Path        string               `yaml:"path" doc:"where to write (required)"`
	Compression string               `yaml:"compression" doc:"none, snappy, zstd or gzip" default:"zstd"`
	Level       testLevel            `yaml:"level" doc:"log level: debug, info or warn" default:"info"`
	Columns     []testColumn         `yaml:"columns" doc:"columns to write"`
	Roll        testRoll             `yaml:"roll" doc:"when to start a new file"`
	Fields      map[string]testField `yaml:"fields" doc:"per-field overrides"`
}

type testColumn struct {
	Name string `yaml:"name" doc:"column name"`
	Type string `yaml:"type" doc:"int64, float64 or string"`
}

type testRoll struct {
	Rows  int64         `yaml:"rows" doc:"rows per file (0: no limit)"`
	Every time.Duration `yaml:"every" doc:"age of a file (0: no limit)"`
}

type testField struct {
	From string `yaml:"from" doc:"source field"`
	Unit string `yaml:"unit" doc:"unit of the values"`
}

// testLevel is an enum decoded through encoding.TextUnmarshaler.
type testLevel int

var testLevels = []string{"debug", "info", "warn"}

func (l *testLevel) UnmarshalText(b []byte) error {
	i := slices.Index(testLevels, string(b))
	if i < 0 {
		return fmt.Errorf("unknown level %q (want one of: %s)", b, strings.Join(testLevels, ", "))
	}
	*l = testLevel(i)
	return nil
}

func (l testLevel) String() string { return testLevels[l] }

var compressions = []string{"none", "snappy", "zstd", "gzip"}

// newTestSink decodes and checks the sink's config the way a real factory does:
// defaults first, Decode, then value checks through Errorf, all problems at once.
func newTestSink(_ context.Context, env core.Env) (core.Sink, error) {
	cfg := testSinkOptions{Compression: "zstd", Level: 1}
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	if cfg.Path == "" {
		errs.Add(env.Config.Errorf("path", "missing (where to write the files)"))
	}
	if !slices.Contains(compressions, cfg.Compression) {
		errs.Add(env.Config.Errorf("compression", "unknown value %q (want one of: %s)", cfg.Compression, strings.Join(compressions, ", ")))
	}
	for i, c := range cfg.Columns {
		if !slices.Contains([]string{"int64", "float64", "string"}, c.Type) {
			errs.Add(env.Config.Errorf(fmt.Sprintf("columns[%d].type", i), "unknown type %q (want one of: int64, float64, string)", c.Type))
		}
	}
	if cfg.Roll.Rows < 0 {
		errs.Add(env.Config.Errorf("roll.rows", "must not be negative, got %d", cfg.Roll.Rows))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return stubSink{}, nil
}

func newTestSource(_ context.Context, env core.Env) (core.Source, error) {
	cfg := testSourceOptions{Timeout: 30 * time.Second, Types: []string{"steps"}, Retry: testRetry{Attempts: 3, Backoff: time.Second}}
	var errs core.ConfigErrors
	errs.Add(env.Config.Decode(&cfg))
	if cfg.Retry.Attempts < 1 {
		errs.Add(env.Config.Errorf("retry.attempts", "must be at least 1, got %d", cfg.Retry.Attempts))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return stubSource{}, nil
}

func newTestTransform(_ context.Context, env core.Env) (core.Transform, error) {
	cfg := testTransformOptions{Scale: 1}
	if err := env.Config.Decode(&cfg); err != nil {
		return nil, err
	}
	return stubTransform{}, nil
}

type stubSource struct{}

func (stubSource) Units(context.Context) ([]string, error)                      { return nil, nil }
func (stubSource) Read(context.Context, string, core.Position, core.Emit) error { return nil }
func (stubSource) Ack(context.Context, string, core.Position) error             { return nil }
func (stubSource) Close() error                                                 { return nil }

type stubTransform struct{}

func (stubTransform) Apply(context.Context, core.Batch, core.Emit) error { return nil }
func (stubTransform) Flush(context.Context, string, core.Emit) error     { return nil }
func (stubTransform) Close() error                                       { return nil }

type stubSink struct{}

func (stubSink) Write(context.Context, core.Batch) error { return nil }
func (stubSink) Prepare(context.Context) ([]byte, error) { return nil, nil }
func (stubSink) Commit(context.Context, []byte) error    { return nil }
func (stubSink) Close() error                            { return nil }

func init() {
	core.RegisterSource("test-src", core.Factory[core.Source]{Doc: "test source", Options: testSourceOptions{}, New: newTestSource})
	core.RegisterTransform("test-map", core.Factory[core.Transform]{Doc: "test transform", Options: testTransformOptions{}, New: newTestTransform})
	core.RegisterSink("test-sink", core.Factory[core.Sink]{Doc: "test sink", Options: testSinkOptions{}, New: newTestSink})
	core.RegisterSink("test-sink-noopts", core.Factory[core.Sink]{Doc: "test sink without options", Options: struct{}{}, New: func(context.Context, core.Env) (core.Sink, error) { return stubSink{}, nil }})
}

// testEnv is the environment of the tests' pipeline files.
var testEnv = map[string]string{
	"N":       "8",
	"WORD":    "lots",
	"EMPTY":   "",
	"OUT":     "/data/out",
	"TIMEOUT": "45s",
	"YES":     "true",
	"RATE":    "2.5",
	"COLON":   "a: b # not a comment",
}

func lookupTestEnv(name string) (string, bool) {
	v, ok := testEnv[name]
	return v, ok
}

// registered fills in the registered names of each kind, which depend on what
// else the test binary registers.
func registered(s string) string {
	return strings.NewReplacer(
		"{sources}", strings.Join(core.Sources(), ", "),
		"{transforms}", strings.Join(core.Transforms(), ", "),
		"{sinks}", strings.Join(core.Sinks(), ", "),
	).Replace(s)
}

// badPipelines maps each file in testdata/pipelines/bad to the exact errors
// ParsePipeline reports for it, one line each, in order.
var badPipelines = map[string][]string{
	"empty.yaml": {
		"empty.yaml:1:1: empty pipeline file (want version, name, source and sinks)",
	},
	"comments-only.yaml": {
		"comments-only.yaml:1:1: empty pipeline file (want version, name, source and sinks)",
	},
	"not-a-mapping.yaml": {
		"not-a-mapping.yaml:1:1: want a mapping with keys version, name, state, concurrency, tick, commit, dead_letter, source, transforms, sinks, got a list",
	},
	"syntax-indent.yaml": {
		"syntax-indent.yaml:4:11: invalid YAML: mapping value is not allowed in this context",
	},
	"syntax-flow-env.yaml": {
		`syntax-flow-env.yaml:7:31: invalid YAML: ',' or '}' must be specified (inside { } and [ ] a plain ${VAR} ends at its "}": quote it, or write the collection in block style)`,
	},
	"duplicate-key.yaml": {
		`duplicate-key.yaml:3:1: invalid YAML: mapping key "name" already defined at [2:1]`,
	},
	"two-documents.yaml": {
		"two-documents.yaml:7:1: found a second YAML document (document 2); want exactly one",
	},
	"version-missing.yaml": {
		"version-missing.yaml:1:1: version: missing (want version: 1)",
	},
	"version-2.yaml": {
		"version-2.yaml:1:10: version: unsupported version 2 (want 1)",
	},
	"version-word.yaml": {
		`version-word.yaml:1:10: version: want an integer, got string "one"`,
	},
	"name-missing.yaml": {
		"name-missing.yaml:1:1: name: missing (a name is required: it names the state keys and files)",
	},
	"name-invalid.yaml": {
		`name-invalid.yaml:2:7: name: invalid name "nightly export/v2" (want letters, digits, '.', '_' and '-' only)`,
	},
	"name-list.yaml": {
		"name-list.yaml:2:7: name: want a string, got a list",
	},
	"unknown-top-key.yaml": {
		"unknown-top-key.yaml:1:1: sinks: missing (at least one sink is required)",
		"unknown-top-key.yaml:6:1: sink: unknown key (known keys: version, name, state, concurrency, tick, commit, dead_letter, source, transforms, sinks)",
	},
	"concurrency-zero.yaml": {
		"concurrency-zero.yaml:3:14: concurrency: must be between 1 and 1024, got 0",
	},
	"concurrency-too-big.yaml": {
		"concurrency-too-big.yaml:3:14: concurrency: must be between 1 and 1024, got 5000",
	},
	"concurrency-float.yaml": {
		"concurrency-float.yaml:3:14: concurrency: want an integer, got number 2.5",
	},
	"commit-interval-short.yaml": {
		"commit-interval-short.yaml:4:13: commit.interval: must be at least 1s, got 100ms",
	},
	"commit-interval-unitless.yaml": {
		`commit-interval-unitless.yaml:4:13: commit.interval: invalid duration "5" (want a Go duration like 30s, 5m or 1h30m)`,
	},
	"commit-rows-negative.yaml": {
		"commit-rows-negative.yaml:3:30: commit.rows: must not be negative, got -1",
	},
	"commit-unknown-key.yaml": {
		"commit-unknown-key.yaml:3:10: commit.every: unknown key (known keys: interval, rows)",
	},
	"dead-letter-empty.yaml": {
		"dead-letter-empty.yaml:3:21: dead_letter.path: must not be empty (leave it out for the default STATE/NAME.deadletter.jsonl)",
	},
	"dead-letter-scalar.yaml": {
		`dead-letter-scalar.yaml:3:14: dead_letter: want a mapping with keys path, got string "./rejected.jsonl"`,
	},
	"source-missing.yaml": {
		"source-missing.yaml:1:1: source: missing (a source is required)",
	},
	"source-list.yaml": {
		"source-list.yaml:4:3: source: want a mapping with keys plugin, config, got a list",
	},
	"plugin-missing.yaml": {
		"plugin-missing.yaml:4:3: source.plugin: missing (want one of: {sources}, or external:PATH)",
	},
	"source-unknown.yaml": {
		`source-unknown.yaml:4:11: source.plugin: unknown source "azumoi" (want one of: {sources}, or external:PATH)`,
	},
	"transform-unknown.yaml": {
		`transform-unknown.yaml:7:13: transforms[1].plugin: unknown transform "si-units" (want one of: {transforms}, or external:PATH)`,
	},
	"sink-unknown.yaml": {
		`sink-unknown.yaml:6:13: sinks[0].plugin: unknown sink "parqet" (want one of: {sinks}, or external:PATH)`,
	},
	"external-without-path.yaml": {
		`external-without-path.yaml:6:13: sinks[0].plugin: "external:" needs the plugin's executable, e.g. external:./bin/my-sink`,
	},
	"sinks-missing.yaml": {
		"sinks-missing.yaml:1:1: sinks: missing (at least one sink is required)",
	},
	"sinks-empty.yaml": {
		"sinks-empty.yaml:5:8: sinks: empty (at least one sink is required)",
	},
	"sinks-mapping.yaml": {
		"sinks-mapping.yaml:6:3: sinks: want a list, got a mapping",
	},
	"transforms-scalar.yaml": {
		`transforms-scalar.yaml:5:13: transforms: want a list, got string "si_units"`,
	},
	"component-unknown-key.yaml": {
		"component-unknown-key.yaml:8:5: sinks[0].options: unknown key (known keys: plugin, config)",
	},
	"config-unknown-key.yaml": {
		"config-unknown-key.yaml:9:7: sinks[0].config.pth: unknown key (known keys: path, compression, level, columns, roll, fields)",
	},
	"config-not-mapping.yaml": {
		`config-not-mapping.yaml:5:11: source.config: want a mapping with keys endpoint, timeout, types, retry, rate, live, got string "fast"`,
	},
	"config-no-options.yaml": {
		"config-no-options.yaml:8:7: sinks[0].config.path: unknown key (no options here)",
	},
	"config-wrong-kinds.yaml": {
		`config-wrong-kinds.yaml:6:14: source.config.timeout: invalid duration "fast" (want a Go duration like 30s, 5m or 1h30m)`,
		`config-wrong-kinds.yaml:7:12: source.config.types: want a list, got string "steps"`,
		`config-wrong-kinds.yaml:8:11: source.config.rate: want a number, got string "quick"`,
		`config-wrong-kinds.yaml:9:11: source.config.live: want true or false, got string "yes"`,
		`config-wrong-kinds.yaml:11:17: source.config.retry.attempts: want an integer, got string "many"`,
	},
	"config-nested-unknown.yaml": {
		"config-nested-unknown.yaml:8:7: source.config.retry.jitter: unknown key (known keys: attempts, backoff)",
	},
	"config-list-element.yaml": {
		"config-list-element.yaml:13:11: sinks[0].config.columns[1].typ: unknown key (known keys: name, type)",
	},
	"config-map-value.yaml": {
		"config-map-value.yaml:12:11: sinks[0].config.fields.calories.units: unknown key (known keys: from, unit)",
	},
	"config-text-value.yaml": {
		`config-text-value.yaml:9:14: sinks[0].config.level: unknown level "loud" (want one of: debug, info, warn)`,
	},
	"config-int8-range.yaml": {
		"config-int8-range.yaml:9:17: transforms[0].config.priority: must be between -128 and 127, got 300",
	},
	"env-unset.yaml": {
		"env-unset.yaml:9:13: sinks[0].config.path: environment variable OUT_DIR is not set (set it, or give a default: ${OUT_DIR:-default})",
	},
	"env-two-unset.yaml": {
		"env-two-unset.yaml:9:13: sinks[0].config.path: environment variables ROOT, PART are not set (set them, or give defaults: ${VAR:-default})",
	},
	"env-bad-syntax.yaml": {
		`env-bad-syntax.yaml:2:7: name: invalid variable name after "${" (want letters, digits and _, not starting with a digit)`,
		`env-bad-syntax.yaml:3:8: state: unterminated "${HOME" (want ${VAR}, ${VAR:-default} or $$ for a literal $)`,
		`env-bad-syntax.yaml:9:13: sinks[0].config.path: invalid reference "${OUT-..." (want ${VAR}, ${VAR:-default} or $$ for a literal $)`,
	},
	"env-not-a-number.yaml": {
		`env-not-a-number.yaml:3:14: concurrency: want an integer, got string "lots"`,
	},
	"env-quoted-number.yaml": {
		`env-quoted-number.yaml:3:14: concurrency: want an integer, got string "8"`,
	},
	"alias-unknown.yaml": {
		"alias-unknown.yaml:8:13: sinks[0].config: alias *sinkdefaults names no anchor &sinkdefaults before it",
	},
	"merge-not-mapping.yaml": {
		"merge-not-mapping.yaml:8:11: sinks[0].config: << merges a mapping or a list of mappings, got integer 3",
	},
}

func TestParsePipelineBadFiles(t *testing.T) {
	dir := filepath.Join("testdata", "pipelines", "bad")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(files), 30; got < want {
		t.Errorf("got %d bad pipeline files, want at least %d", got, want)
	}
	for _, f := range files {
		if _, ok := badPipelines[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expected errors in badPipelines", f)
		}
	}
	for name, want := range badPipelines {
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			p, err := core.ParsePipeline(name, src, lookupTestEnv)
			if p != nil {
				t.Errorf("got a pipeline, want none")
			}
			var errs core.ConfigErrors
			if !errors.As(err, &errs) {
				t.Fatalf("got error %v (%T), want core.ConfigErrors", err, err)
			}
			got := strings.Split(err.Error(), "\n")
			for i := range want {
				want[i] = registered(want[i])
			}
			if !slices.Equal(got, want) {
				t.Errorf("got errors\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
			if len(errs) != len(want) {
				t.Errorf("got %d ConfigErrors, want %d", len(errs), len(want))
			}
		})
	}
}

// TestParsePipelineReportsEveryProblem checks that a file with five different
// problems, at the top level, in a component and in two plugins' configs, gets
// exactly five errors at once, sorted by position.
func TestParsePipelineReportsEveryProblem(t *testing.T) {
	src := `version: 1
name: five problems
concurrency: 0
source:
  plugin: test-src
  config:
    timeout: soon
sinks:
  - plugin: test-sink
    config:
      pth: ./out
  - plugin: nowhere
`
	_, err := core.ParsePipeline("five.yaml", []byte(src), lookupTestEnv)
	var errs core.ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("got error %v, want core.ConfigErrors", err)
	}
	want := []string{
		`five.yaml:2:7: name: invalid name "five problems" (want letters, digits, '.', '_' and '-' only)`,
		"five.yaml:3:14: concurrency: must be between 1 and 1024, got 0",
		`five.yaml:7:14: source.config.timeout: invalid duration "soon" (want a Go duration like 30s, 5m or 1h30m)`,
		"five.yaml:11:7: sinks[0].config.pth: unknown key (known keys: path, compression, level, columns, roll, fields)",
		registered(`five.yaml:12:13: sinks[1].plugin: unknown sink "nowhere" (want one of: {sinks}, or external:PATH)`),
	}
	if got := len(errs); got != len(want) {
		t.Errorf("got %d errors, want %d", got, len(want))
	}
	if got := strings.Split(errs.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// buildAll runs every component's factory on p's configs, collecting every
// problem, the way the runner builds a pipeline: the factories' value checks
// (Errorf) point into the pipeline file too.
func buildAll(t *testing.T, p *core.Pipeline) error {
	t.Helper()
	ctx := context.Background()
	var errs core.ConfigErrors
	if f, ok := core.LookupSource(p.Source.Plugin); ok {
		_, err := f.New(ctx, core.Env{Pipeline: p.Name, Config: p.Source.Config})
		errs.Add(err)
	}
	for _, c := range p.Transforms {
		if f, ok := core.LookupTransform(c.Plugin); ok {
			_, err := f.New(ctx, core.Env{Pipeline: p.Name, Config: c.Config})
			errs.Add(err)
		}
	}
	for _, c := range p.Sinks {
		if f, ok := core.LookupSink(c.Plugin); ok {
			_, err := f.New(ctx, core.Env{Pipeline: p.Name, Config: c.Config})
			errs.Add(err)
		}
	}
	return errs.Err()
}

func TestFactoryChecksPointIntoTheFile(t *testing.T) {
	src := `version: 1
name: values
source:
  plugin: test-src
  config:
    retry: {attempts: 0}
sinks:
  - plugin: test-sink
    config:
      compression: zstdd
      columns:
        - {name: a, type: int64}
        - {name: b, type: decimal}
  - plugin: test-sink
`
	p, err := core.ParsePipeline("pipelines/x.yaml", []byte(src), lookupTestEnv)
	if err != nil {
		t.Fatalf("ParsePipeline: %v", err)
	}
	err = buildAll(t, p)
	want := []string{
		"pipelines/x.yaml:6:23: source.config.retry.attempts: must be at least 1, got 0",
		"pipelines/x.yaml:10:7: sinks[0].config.path: missing (where to write the files)",
		`pipelines/x.yaml:10:20: sinks[0].config.compression: unknown value "zstdd" (want one of: none, snappy, zstd, gzip)`,
		`pipelines/x.yaml:13:27: sinks[0].config.columns[1].type: unknown type "decimal" (want one of: int64, float64, string)`,
		"pipelines/x.yaml:14:5: sinks[1].config.path: missing (where to write the files)",
	}
	if err == nil {
		t.Fatal("got no error, want factory errors")
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestParsePipelineDefaults(t *testing.T) {
	src := "version: 1\nname: minimal\nsource: {plugin: test-src}\nsinks: [{plugin: test-sink, config: {path: ./out}}]\n"
	p, err := core.ParsePipeline("minimal.yaml", []byte(src), lookupTestEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := core.Pipeline{
		File:        "minimal.yaml",
		Version:     1,
		Name:        "minimal",
		State:       ".etl-state",
		DeadLetter:  filepath.Join(".etl-state", "minimal.deadletter.jsonl"),
		Concurrency: 4,
		Commit:      core.CommitPolicy{Interval: time.Minute},
	}
	got := *p
	got.Source, got.Sinks = core.Component{}, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got, want := p.Source.Plugin, "test-src"; got != want {
		t.Errorf("got source plugin %q, want %q", got, want)
	}
	if !p.Source.Config.IsZero() {
		t.Errorf("got a source config, want an absent one")
	}
	if p.Transforms != nil {
		t.Errorf("got transforms %v, want none", p.Transforms)
	}
	// An absent config decodes to the defaults, and its errors point at the component.
	opts := testSourceOptions{Endpoint: "http://default"}
	if err := p.Source.Config.Decode(&opts); err != nil || opts.Endpoint != "http://default" {
		t.Errorf("got %+v, %v, want defaults kept and no error", opts, err)
	}
	if got, want := p.Source.Config.Errorf("endpoint", "unreachable").Error(), "minimal.yaml:3:9: source.config.endpoint: unreachable"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadPipeline(t *testing.T) {
	file := filepath.Join("testdata", "pipelines", "good", "full.yaml")
	t.Setenv("ETL_TEST_OUT", "/tmp/lake")
	t.Setenv("ETL_TEST_CONCURRENCY", "16")
	p, err := core.LoadPipeline(file)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"File", p.File, file},
		{"Name", p.Name, "azumio-nightly"},
		{"State", p.State, "./state"},
		{"Concurrency", p.Concurrency, 16},
		{"Commit", p.Commit, core.CommitPolicy{Interval: 30 * time.Second, Rows: 100000}},
		{"DeadLetter", p.DeadLetter, "./state/rejected.jsonl"},
		{"Source.Plugin", p.Source.Plugin, "test-src"},
		{"Source.Path", p.Source.Path, "source"},
		{"Source.Config.Path", p.Source.Config.Path(), "source.config"},
		{"len(Transforms)", len(p.Transforms), 2},
		{"Transforms[1].Plugin", p.Transforms[1].Plugin, "external:./bin/enrich"},
		{"Transforms[1].Path", p.Transforms[1].Path, "transforms[1]"},
		{"len(Sinks)", len(p.Sinks), 2},
		{"Sinks[1].Path", p.Sinks[1].Path, "sinks[1]"},
		{"Sinks[1].Config.Path", p.Sinks[1].Config.Path(), "sinks[1].config"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := buildAll(t, p); err != nil {
		t.Errorf("building the components: %v", err)
	}
	sink := testSinkOptions{Compression: "zstd"}
	if err := p.Sinks[0].Config.Decode(&sink); err != nil {
		t.Fatal(err)
	}
	wantSink := testSinkOptions{
		Path:        "/tmp/lake/azumio",
		Compression: "zstd",
		Level:       2,
		Columns:     []testColumn{{"user", "string"}, {"steps", "int64"}},
		Roll:        testRoll{Rows: 1000000, Every: 5 * time.Minute},
		Fields:      map[string]testField{"calories": {From: "kcal", Unit: "kcal"}},
	}
	if !reflect.DeepEqual(sink, wantSink) {
		t.Errorf("sinks[0] config: got %+v, want %+v", sink, wantSink)
	}
	// The merge key gave sinks[1] the anchored columns and its own path.
	var sink1 testSinkOptions
	if err := p.Sinks[1].Config.Decode(&sink1); err != nil {
		t.Fatal(err)
	}
	if got, want := sink1.Columns, wantSink.Columns; !reflect.DeepEqual(got, want) {
		t.Errorf("sinks[1] columns: got %v, want %v", got, want)
	}
	if got, want := sink1.Path, "/tmp/lake/backup"; got != want {
		t.Errorf("sinks[1] path: got %q, want %q", got, want)
	}
}

func TestLoadPipelineMissingFile(t *testing.T) {
	_, err := core.LoadPipeline(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "core: ") {
		t.Errorf("got %q, want it prefixed by core:", err)
	}
}

func TestInterpolation(t *testing.T) {
	tests := []struct {
		name  string
		value string // YAML text of source.config.<key>
		key   string
		want  any // the decoded testSourceOptions field
	}{
		{"plain variable", "${OUT}", "endpoint", "/data/out"},
		{"inside text", "http://${OUT}/v1", "endpoint", "http:///data/out/v1"},
		{"default when unset", "${NOPE:-http://localhost}", "endpoint", "http://localhost"},
		{"default when empty", "${EMPTY:-fallback}", "endpoint", "fallback"},
		{"set wins over default", "${OUT:-x}", "endpoint", "/data/out"},
		{"nested default", "${NOPE:-${OUT}/x}", "endpoint", "/data/out/x"},
		{"unused default may name unset variables", "${OUT:-${NOPE}}", "endpoint", "/data/out"},
		{"empty default", "a${NOPE:-}b", "endpoint", "ab"},
		{"dollar escape", "$${OUT}", "endpoint", "${OUT}"},
		{"lone dollar kept", "cost$5 and $HOME", "endpoint", "cost$5 and $HOME"},
		{"quoted stays quoted", `"${COLON}"`, "endpoint", "a: b # not a comment"},
		{"plain value is not re-parsed", "${COLON}", "endpoint", "a: b # not a comment"},
		{"single quoted", `'${OUT}'`, "endpoint", "/data/out"},
		{"block scalar", "|\n      ${OUT}\n      next", "endpoint", "/data/out\nnext\n"},
		{"duration", "${TIMEOUT}", "timeout", 45 * time.Second},
		{"duration default", "${NOPE:-2m}", "timeout", 2 * time.Minute},
		{"bool", "${YES}", "live", true},
		{"float", "${RATE}", "rate", 2.5},
		{"integer into float", "${N}", "rate", 8.0},
		{"empty plain keeps the default", "${EMPTY}", "timeout", 30 * time.Second},
		{"list element", "[\"${OUT}\", x]", "types", []string{"/data/out", "x"}},
		{"block list", "\n      - ${N}\n      - b", "types", []string{"8", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fmt.Sprintf("version: 1\nname: env\nsource:\n  plugin: test-src\n  config:\n    %s: %s\nsinks: [{plugin: test-sink-noopts}]\n", tt.key, tt.value)
			p, err := core.ParsePipeline("env.yaml", []byte(src), lookupTestEnv)
			if err != nil {
				t.Fatalf("ParsePipeline:\n%v\nfile:\n%s", err, src)
			}
			opts := testSourceOptions{Timeout: 30 * time.Second}
			if err := p.Source.Config.Decode(&opts); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			v := reflect.ValueOf(opts)
			var got any
			for i := range v.NumField() {
				if strings.HasPrefix(string(v.Type().Field(i).Tag), `yaml:"`+tt.key+`"`) {
					got = v.Field(i).Interface()
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestInterpolationTypesTopLevel(t *testing.T) {
	src := "version: ${ONE}\nname: ${NAME:-nightly}\nstate: ${STATE:-}\nconcurrency: ${N}\ncommit:\n  interval: ${EVERY}\n  rows: ${ROWS:-0}\nsource: {plugin: \"${SRC}\"}\nsinks: [{plugin: test-sink-noopts}]\n"
	env := map[string]string{"ONE": "1", "N": "12", "EVERY": "90s", "SRC": "external:./bin/src"}
	p, err := core.ParsePipeline("top.yaml", []byte(src), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	got := []any{p.Version, p.Name, p.State, p.Concurrency, p.Commit.Interval, p.Commit.Rows, p.Source.Plugin}
	want := []any{1, "nightly", ".etl-state", 12, 90 * time.Second, int64(0), "external:./bin/src"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParsePipelineNilLookupEnv(t *testing.T) {
	src := "version: 1\nname: x\nsource: {plugin: test-src, config: {endpoint: \"${HOME}\"}}\nsinks: [{plugin: test-sink-noopts}]\n"
	_, err := core.ParsePipeline("nil.yaml", []byte(src), nil)
	want := "nil.yaml:3:47: source.config.endpoint: environment variable HOME is not set (set it, or give a default: ${HOME:-default})"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestInterpolationInKeys(t *testing.T) {
	src := "version: 1\nname: keys\nsource: {plugin: test-src}\nsinks:\n  - plugin: test-sink\n    config:\n      path: ./out\n      fields:\n        ${COLUMN:-calories}: {from: kcal}\n        raw_$${N}: {from: x}\n"
	p, err := core.ParsePipeline("keys.yaml", []byte(src), lookupTestEnv)
	if err != nil {
		t.Fatal(err)
	}
	var cfg testSinkOptions
	if err := p.Sinks[0].Config.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := map[string]testField{"calories": {From: "kcal"}, "raw_${N}": {From: "x"}}
	if !reflect.DeepEqual(cfg.Fields, want) {
		t.Errorf("got %v, want %v", cfg.Fields, want)
	}
}

func TestBuildGivesComponentsLimitersAndCounters(t *testing.T) {
	var got core.Env
	core.RegisterSink("test-sink-env", core.Factory[core.Sink]{Doc: "records its env", Options: struct{}{}, New: func(_ context.Context, env core.Env) (core.Sink, error) {
		got = env
		return stubSink{}, nil
	}})
	p, err := core.ParsePipeline("p.yaml", []byte("version: 1\nname: env\nsource: {plugin: test-src}\nsinks: [{plugin: test-sink-env}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var asked string
	shared := core.LocalLimiters("", 0, 0)
	pl, err := core.Build(context.Background(), p, nil, core.WithLimiters(func(key string, _ float64, _ int) core.Limiter {
		asked = key
		return shared
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if got.Limiter == nil || got.Counters == nil {
		t.Fatalf("env: Limiter %v, Counters %v: want both set", got.Limiter != nil, got.Counters != nil)
	}
	if l := got.Limiter("api/x", 1, 1); l != shared || asked != "api/x" {
		t.Errorf("env.Limiter did not come from WithLimiters (asked %q)", asked)
	}
	got.Counters.Add("sink.events", 3)
	if n := pl.Counters().Snapshot()["sink.events"]; n != 3 {
		t.Errorf("plan counters: got %d, want 3", n)
	}
}
