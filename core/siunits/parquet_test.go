package siunits

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/etl-toolkit/etl/core"
	pqsink "github.com/etl-toolkit/etl/sinks/parquet"
)

// TestParquetRoundTrip writes converted batches with the Parquet sink's format
// (sinks/parquet) and reads the file back with arrow's pqarrow: every field's
// unit, at every depth, and every value must come back, from the Arrow schema
// the sink stores (ARROW:schema) and from its plain "<column>.unit" key-values
// for readers that ignore ARROW:schema.
func TestParquetRoundTrip(t *testing.T) {
	for _, name := range []string{"azumio_checkins_steps", "asi_computed", "asi_preprocessed", "asi_preprocessed_gnss"} {
		t.Run(name, func(t *testing.T) {
			var tc goldenCase
			for _, c := range goldenCases {
				if c.name == name {
					tc = c
				}
			}
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			payload, err := os.ReadFile(filepath.Join("testdata", tc.input))
			if err != nil {
				t.Fatal(err)
			}
			rec := recordFromJSON(t, mem, tc.schema, string(tc.rows(t, payload)))
			tr := newTestTransform(t, tc.config, mem, nil)
			out, err := applyOne(t, tr, core.Batch{Stream: tc.stream, Unit: "u", Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()

			path := filepath.Join(t.TempDir(), "part-0.parquet")
			writeParquet(t, path, out.Record)
			table := readParquet(t, mem, path)
			defer table.Release()

			if got, want := plainUnits(t, path), sortLines(unitPaths(out.Record.Schema().Fields(), "")); got != want {
				t.Errorf("got <column>.unit key-values\n%s\nwant\n%s", got, want)
			}

			if got, want := unitPaths(table.Schema().Fields(), ""), unitPaths(out.Record.Schema().Fields(), ""); got != want {
				t.Errorf("got units read back\n%s\nwant\n%s", got, want)
			}
			if len(unitPaths(table.Schema().Fields(), "")) == 0 {
				t.Error("got no unit metadata read back, want some")
			}
			back := tableRecord(t, table)
			defer back.Release()
			if got, want := rowsJSON(t, back), rowsJSON(t, out.Record); !sameRows(t, got, want) {
				t.Errorf("got rows read back\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// writeParquet writes rec to a file at path with the parquet sink's Format.
func writeParquet(t *testing.T, path string, rec arrow.RecordBatch) {
	t.Helper()
	format, err := pqsink.NewFormat(pqsink.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := format.NewEncoder(f, rec.Schema())
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// plainUnits returns the file's "<column>.unit" key-values as unitPaths does.
func plainUnits(t *testing.T, path string) string {
	t.Helper()
	r, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var lines []string
	for _, kv := range r.MetaData().KeyValueMetadata() {
		if col, ok := strings.CutSuffix(kv.Key, "."+unitKey); ok {
			lines = append(lines, col+": "+*kv.Value+"\n")
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "")
}

func sortLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "")
}

func readParquet(t *testing.T, mem memory.Allocator, path string) arrow.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table, err := pqarrow.ReadTable(context.Background(), f, parquet.NewReaderProperties(mem), pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

// tableRecord concatenates a table's columns into one record.
func tableRecord(t *testing.T, table arrow.Table) arrow.RecordBatch {
	t.Helper()
	r := array.NewTableReader(table, table.NumRows())
	defer r.Release()
	if !r.Next() {
		t.Fatal("table: got no record, want one")
	}
	rec := r.RecordBatch()
	rec.Retain()
	return rec
}

// unitPaths lists every field's unit metadata by path, one a line.
func unitPaths(fields []arrow.Field, prefix string) string {
	var b strings.Builder
	for _, f := range fields {
		p := prefix + f.Name
		if u, ok := f.Metadata.GetValue(unitKey); ok {
			b.WriteString(p + ": " + u + "\n")
		}
		t := f.Type
		for {
			lt, ok := t.(arrow.ListLikeType)
			if !ok {
				break
			}
			if u, ok := lt.ElemField().Metadata.GetValue(unitKey); ok {
				b.WriteString(p + "[]: " + u + "\n")
			}
			t = lt.Elem()
		}
		if st, ok := t.(*arrow.StructType); ok {
			b.WriteString(unitPaths(st.Fields(), p+"."))
		}
	}
	return b.String()
}
