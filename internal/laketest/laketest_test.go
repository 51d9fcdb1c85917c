package laketest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

func writeParquet(t *testing.T, path string, ids ...int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "name", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, id := range ids {
		b.Field(0).(*array.Int64Builder).Append(id)
		b.Field(1).(*array.StringBuilder).Append(strings.Repeat("x", int(id)))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(schema, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestParquetRowsReadsVisibleFilesOnly(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lake")
	writeParquet(t, filepath.Join(root, "stream=a", "part-1.parquet"), 2, 1)
	writeParquet(t, filepath.Join(root, "stream=b", "part-1.parquet"), 3)
	writeParquet(t, filepath.Join(root, "stream=b", ".part-2.parquet.tmp.parquet"), 9)
	rows, err := ParquetRows(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stream=a|1|x", "stream=a|2|xx", "stream=b|3|xxx"}
	if !slices.Equal(rows, want) {
		t.Errorf("rows: got %q, want %q", rows, want)
	}

	if rows, err := ParquetRows(filepath.Join(root, "missing")); err != nil || len(rows) != 0 {
		t.Errorf("missing lake: got %q, %v; want no rows and no error", rows, err)
	}

	bad := filepath.Join(root, "stream=c", "part-1.parquet")
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("PAR1 cut short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParquetRows(root); err == nil || !strings.Contains(err.Error(), bad+": partial or corrupt file") {
		t.Errorf("a cut file: got %v, want an error naming %s", err, bad)
	}
}
