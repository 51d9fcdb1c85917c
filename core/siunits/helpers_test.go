package siunits

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// decodeConfig decodes a config section written as YAML onto DefaultConfig.
func decodeConfig(t testing.TB, src string) Config {
	t.Helper()
	cfg := DefaultConfig()
	c, err := core.NewConfig("test.yaml", "transforms[0].config", []byte(src))
	if err != nil {
		t.Fatalf("NewConfig: %v", err)
	}
	if err := c.Decode(&cfg); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return cfg
}

// newTestTransform builds a transform from a YAML config on mem, logging to log
// (nowhere if nil).
func newTestTransform(t *testing.T, src string, mem memory.Allocator, log *slog.Logger) *Transform {
	t.Helper()
	tr, err := New(decodeConfig(t, src), mem, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr
}

// recordFromJSON builds a record of schema from a JSON array of rows.
func recordFromJSON(t *testing.T, mem memory.Allocator, schema *arrow.Schema, rows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("RecordFromJSON: %v", err)
	}
	return rec
}

// applyOne runs one batch through tr and returns the single batch it emits.
func applyOne(t *testing.T, tr *Transform, in core.Batch) (core.Batch, error) {
	t.Helper()
	var out []core.Batch
	err := tr.Apply(context.Background(), in, func(_ context.Context, b core.Batch) error {
		out = append(out, b)
		return nil
	})
	if err != nil {
		for _, b := range out {
			b.Release()
		}
		return core.Batch{}, err
	}
	if len(out) != 1 {
		t.Fatalf("Apply: got %d batches out, want 1", len(out))
	}
	return out[0], nil
}

// describeSchema prints a schema one field a line, nested types spelled out
// with every field's nullability and metadata, for comparisons and goldens.
func describeSchema(s *arrow.Schema) string {
	var b strings.Builder
	for _, f := range s.Fields() {
		b.WriteString(describeField(f))
		b.WriteByte('\n')
	}
	return b.String()
}

func describeField(f arrow.Field) string {
	s := f.Name + ": " + describeType(f.Type)
	if !f.Nullable {
		s += " not null"
	}
	if f.Metadata.Len() > 0 {
		var kv []string
		for i, k := range f.Metadata.Keys() {
			kv = append(kv, k+"="+f.Metadata.Values()[i])
		}
		s += " {" + strings.Join(kv, ", ") + "}"
	}
	return s
}

func describeType(t arrow.DataType) string {
	switch t := t.(type) {
	case *arrow.StructType:
		var fs []string
		for _, f := range t.Fields() {
			fs = append(fs, describeField(f))
		}
		return "struct<" + strings.Join(fs, "; ") + ">"
	case *arrow.ListType:
		return "list<" + describeField(t.ElemField()) + ">"
	case *arrow.LargeListType:
		return "large_list<" + describeField(t.ElemField()) + ">"
	case *arrow.FixedSizeListType:
		return fmt.Sprintf("fixed_size_list[%d]<%s>", t.Len(), describeField(t.ElemField()))
	}
	return t.String()
}

// rowsJSON returns rec's rows as JSON, one row a line.
func rowsJSON(t *testing.T, rec arrow.RecordBatch) string {
	t.Helper()
	var b strings.Builder
	for i := range rec.NumRows() {
		row := rec.NewSlice(i, i+1)
		j, err := row.MarshalJSON()
		row.Release()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		j = bytes.TrimSpace(j)
		j = bytes.TrimSuffix(bytes.TrimPrefix(j, []byte("[")), []byte("]"))
		b.Write(bytes.TrimSpace(j))
		b.WriteByte('\n')
	}
	return b.String()
}

// sameRows reports whether two runs of JSON rows (one object a line) hold the same values, every
// number compared as the exact float64 it denotes.
func sameRows(t *testing.T, got, want string) bool {
	t.Helper()
	return reflect.DeepEqual(parseRows(t, got), parseRows(t, want))
}

func parseRows(t *testing.T, rows string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(rows))
	d.UseNumber()
	var out []any
	for d.More() {
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("rows %s: %v", rows, err)
		}
		out = append(out, exactNumbers(v))
	}
	return out
}

// exactNumbers replaces every json.Number in v with its float64 (or the
// string "NaN"), so that 6276 and 6276.0 compare equal and 418.4 does not
// equal 418.40000000000003.
func exactNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) {
			return "NaN"
		}
		return f
	case []any:
		for i := range x {
			x[i] = exactNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = exactNumbers(x[k])
		}
	}
	return v
}

// withUnitMeta returns f with unit metadata.
func withUnitMeta(f arrow.Field, unit string) arrow.Field {
	f.Metadata = arrow.NewMetadata([]string{unitKey}, []string{unit})
	return f
}

var (
	f64   = arrow.PrimitiveTypes.Float64
	i64   = arrow.PrimitiveTypes.Int64
	str   = arrow.BinaryTypes.String
	tsMS  = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
	f64s  = arrow.ListOf(arrow.PrimitiveTypes.Float64)
	i64s  = arrow.ListOf(arrow.PrimitiveTypes.Int64)
	field = func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
)

// validRecord checks rec's columns against its schema with Arrow's full validation.
func validRecord(rec arrow.RecordBatch) error {
	for i, col := range rec.Columns() {
		f := rec.Schema().Field(i)
		if !arrow.TypeEqual(col.DataType(), f.Type) {
			return fmt.Errorf("column %q: got type %s, schema says %s", f.Name, col.DataType(), f.Type)
		}
		if err := array.ValidateFull(col); err != nil {
			return fmt.Errorf("column %q: %w", f.Name, err)
		}
	}
	return nil
}
