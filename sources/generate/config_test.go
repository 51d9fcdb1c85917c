package generate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/etl-toolkit/etl/core"
)

// build runs the plugin's factory on a config section given as YAML.
func build(t *testing.T, section string) (*Source, error) {
	t.Helper()
	c, err := core.NewConfig("p.yaml", "source.config", []byte(section))
	if err != nil {
		t.Fatalf("NewConfig: %v", err)
	}
	f, _ := core.LookupSource("generate")
	src, err := f.New(context.Background(), core.Env{Pipeline: "test", Config: c})
	if err != nil {
		return nil, err
	}
	return src.(*Source), nil
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		section string
		want    []string // every line of the error, in order
	}{
		{
			name:    "units",
			section: "units: 0\n",
			want:    []string{"p.yaml:1:8: source.config.units: must be between 1 and 1000000, got 0"},
		},
		{
			name:    "rows",
			section: "rows: 0\n",
			want:    []string{"p.yaml:1:7: source.config.rows: must be > 0 (or set endless: true for units without end)"},
		},
		{
			name:    "negative rows",
			section: "rows: -5\nendless: true\n",
			want:    []string{"p.yaml:1:7: source.config.rows: must not be negative, got -5"},
		},
		{
			name:    "batch size",
			section: "batch_size: 2000000\n",
			want:    []string{"p.yaml:1:13: source.config.batch_size: must be between 1 and 1048576, got 2000000"},
		},
		{
			name:    "rate",
			section: "rate: -1\n",
			want:    []string{"p.yaml:1:7: source.config.rate: must be a number >= 0 (rows per second per unit; 0: unlimited), got -1"},
		},
		{
			name:    "stream",
			section: "stream: ''\n",
			want:    []string{"p.yaml:1:9: source.config.stream: must not be empty"},
		},
		{
			name: "all problems at once",
			section: `units: 0
rows: 0
columns:
  - { name: a, type: int64 }
  - { name: a, type: float64, nulls: 1.5 }
  - { name: b, type: decimal }
  - { name: unit, type: string }
  - { type: bool }
  - { name: id, type: index, nulls: 0.1 }
`,
			want: []string{
				"p.yaml:1:8: source.config.units: must be between 1 and 1000000, got 0",
				"p.yaml:2:7: source.config.rows: must be > 0 (or set endless: true for units without end)",
				`p.yaml:5:13: source.config.columns[1].name: duplicate column "a" (also columns[0])`,
				"p.yaml:5:38: source.config.columns[1].nulls: must be a fraction between 0 and 1, got 1.5",
				`p.yaml:6:22: source.config.columns[2].type: unknown type "decimal" (want one of: index, int64, int32, float64, float32, bool, string, timestamp_ms, timestamp_us, date, list_float64, struct)`,
				`p.yaml:7:13: source.config.columns[3].name: "unit" is reserved: every record has a "unit" column first`,
				"p.yaml:8:5: source.config.columns[4].name: missing (every column needs a name)",
				"p.yaml:9:37: source.config.columns[5].nulls: index columns are never null; remove nulls or use type int64",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.section)
			if err == nil {
				t.Fatalf("New: got no error, want\n%s", strings.Join(tt.want, "\n"))
			}
			var errs core.ConfigErrors
			if !errors.As(err, &errs) {
				t.Errorf("New: got error of type %T, want core.ConfigErrors", err)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("New: got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestConfigDecodeErrorReportedOnce(t *testing.T) {
	_, err := build(t, "units: many\ncolumns: [{name: x, type: [int64]}]\n")
	if err == nil {
		t.Fatal("New: got no error, want two")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "source.config.units:") || !strings.Contains(lines[1], "source.config.columns[0].type:") {
		t.Errorf("New: got\n%s\nwant one error for units and one for columns[0].type", err)
	}
}

func TestConfigDecode(t *testing.T) {
	src, err := build(t, `seed: 7
units: 3
rows: 10
batch_size: 4
rate: 2.5
stream: gen.test
columns:
  - { name: speed, type: float32, unit: km/h, nulls: 0.5 }
`)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Seed: 7, Units: 3, Rows: 10, BatchSize: 4, Rate: 2.5, Stream: "gen.test",
		Columns: []Column{{Name: "speed", Type: "float32", Unit: "km/h", Nulls: 0.5}},
	}
	got := src.cfg
	if got.Seed != want.Seed || got.Units != want.Units || got.Rows != want.Rows || got.BatchSize != want.BatchSize ||
		got.Rate != want.Rate || got.Stream != want.Stream || !slices.Equal(got.Columns, want.Columns) {
		t.Errorf("config: got %+v, want %+v", got, want)
	}
	// rate 2.5 rows/s caps batches at a tenth of a second: 1 row.
	if src.batch != 1 {
		t.Errorf("batch rows: got %d, want 1", src.batch)
	}
	if _, err := build(t, "unknown_key: 1\n"); err == nil || !strings.Contains(err.Error(), "unknown_key") {
		t.Errorf("unknown key: got error %v, want one naming unknown_key", err)
	}
}

func TestNewSourceErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Units, cfg.BatchSize = 0, 0
	cfg.Columns = []Column{{Name: "x", Type: "blob"}}
	_, err := NewSource(cfg, nil)
	want := []string{
		"generate: units: must be between 1 and 1000000, got 0",
		"generate: batch_size: must be between 1 and 1048576, got 0",
		`generate: columns[0].type: unknown type "blob" (want one of: index, int64, int32, float64, float32, bool, string, timestamp_ms, timestamp_us, date, list_float64, struct)`,
	}
	if err == nil || !slices.Equal(strings.Split(err.Error(), "\n"), want) {
		t.Errorf("NewSource: got error\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
}
