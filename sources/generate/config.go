package generate

import (
	"fmt"
	"math"
	"strings"
)

// Limits on the options, checked by NewSource.
const (
	// MaxUnits is the largest number of units a source may have.
	MaxUnits = 1_000_000
	// MaxBatchSize is the largest batch_size.
	MaxBatchSize = 1 << 20
)

// Config is the `generate` source's configuration. Start from DefaultConfig: the
// zero value is not valid (it has no units and no rows).
type Config struct {
	Seed      int64    `yaml:"seed" doc:"seed of every value; equal seeds give equal rows" default:"1"`
	Units     int      `yaml:"units" doc:"number of units, named unit-0001, unit-0002, ... (1 to 1000000)" default:"1"`
	Rows      int64    `yaml:"rows" doc:"rows per unit; must be > 0 unless endless is true" default:"1000"`
	Endless   bool     `yaml:"endless" doc:"units never end (like a live feed): rows is ignored and a read lasts until it is cancelled" default:"false"`
	BatchSize int      `yaml:"batch_size" doc:"rows per batch (1 to 1048576); with rate set, a batch holds at most a tenth of a second of rows" default:"65536"`
	Rate      float64  `yaml:"rate" doc:"rows per second per unit; 0 means unlimited" default:"0"`
	Stream    string   `yaml:"stream" doc:"stream name of every batch" default:"generate"`
	Columns   []Column `yaml:"columns" doc:"columns after the leading unit column; default id (index), ts (timestamp_ms), value (float64, unit m), label (string)"`
}

// Column is one generated column.
type Column struct {
	Name  string  `yaml:"name" doc:"column name (not \"unit\", which every record has first)"`
	Type  string  `yaml:"type" doc:"one of: index, int64, int32, float64, float32, bool, string, timestamp_ms, timestamp_us, date, list_float64, struct"`
	Unit  string  `yaml:"unit" doc:"unit of measure, written to the Arrow field's metadata under the key \"unit\""`
	Nulls float64 `yaml:"nulls" doc:"fraction of null values, 0 to 1 (index columns are never null)" default:"0"`
}

// DefaultConfig returns the configuration of an empty `config:` section. Its
// Columns are nil, which means DefaultColumns.
func DefaultConfig() Config {
	return Config{
		Seed:      1,
		Units:     1,
		Rows:      1000,
		BatchSize: 65536,
		Stream:    "generate",
	}
}

// DefaultColumns returns the columns used when Config.Columns is empty.
func DefaultColumns() []Column {
	return []Column{
		{Name: "id", Type: "index"},
		{Name: "ts", Type: "timestamp_ms"},
		{Name: "value", Type: "float64", Unit: "m"},
		{Name: "label", Type: "string"},
	}
}

// errorf reports one problem with the option at key ("rows", "columns[2].type").
type errorf func(key, format string, args ...any) error

// check returns every problem of c at once, each made by report.
func (c Config) check(report errorf) []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, report(key, format, args...))
	}
	if c.Units < 1 || c.Units > MaxUnits {
		add("units", "must be between 1 and %d, got %d", MaxUnits, c.Units)
	}
	switch {
	case c.Rows < 0:
		add("rows", "must not be negative, got %d", c.Rows)
	case c.Rows == 0 && !c.Endless:
		add("rows", "must be > 0 (or set endless: true for units without end)")
	}
	if c.BatchSize < 1 || c.BatchSize > MaxBatchSize {
		add("batch_size", "must be between 1 and %d, got %d", MaxBatchSize, c.BatchSize)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		add("rate", "must be a number >= 0 (rows per second per unit; 0: unlimited), got %v", c.Rate)
	}
	if c.Stream == "" {
		add("stream", "must not be empty")
	}
	seen := map[string]int{}
	for i, col := range c.Columns {
		key := fmt.Sprintf("columns[%d]", i)
		switch prev, dup := seen[col.Name]; {
		case col.Name == "":
			add(key+".name", "missing (every column needs a name)")
		case col.Name == unitColumn:
			add(key+".name", "%q is reserved: every record has a %q column first", unitColumn, unitColumn)
		case dup:
			add(key+".name", "duplicate column %q (also columns[%d])", col.Name, prev)
		default:
			seen[col.Name] = i
		}
		k, ok := kindByName[col.Type]
		if !ok {
			add(key+".type", "unknown type %q (want one of: %s)", col.Type, strings.Join(kindNames, ", "))
		}
		switch {
		case col.Nulls < 0 || col.Nulls > 1 || math.IsNaN(col.Nulls):
			add(key+".nulls", "must be a fraction between 0 and 1, got %v", col.Nulls)
		case ok && k == kindIndex && col.Nulls != 0:
			add(key+".nulls", "index columns are never null; remove nulls or use type int64")
		}
	}
	return errs
}
