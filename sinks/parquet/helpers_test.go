package parquet

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pq "github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// unit is Arrow field metadata carrying a unit.
func unit(u string) arrow.Metadata { return arrow.NewMetadata([]string{"unit"}, []string{u}) }

// recordFromJSON builds a record of schema from JSON rows.
func recordFromJSON(t testing.TB, mem memory.Allocator, schema *arrow.Schema, rows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("record from JSON: %v", err)
	}
	return rec
}

// arrayFromJSON builds an array of type dt from a JSON list.
func arrayFromJSON(t testing.TB, mem memory.Allocator, dt arrow.DataType, values string) arrow.Array {
	t.Helper()
	arr, _, err := array.FromJSON(mem, dt, strings.NewReader(values))
	if err != nil {
		t.Fatalf("array from JSON: %v", err)
	}
	return arr
}

// dictionaryArray builds a dictionary<int32, string> array; null entries of
// values are null.
func dictionaryArray(t testing.TB, mem memory.Allocator, values []*string) arrow.Array {
	t.Helper()
	dt := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	b := array.NewDictionaryBuilder(mem, dt).(*array.BinaryDictionaryBuilder)
	defer b.Release()
	for _, v := range values {
		if v == nil {
			b.AppendNull()
			continue
		}
		if err := b.AppendString(*v); err != nil {
			t.Fatal(err)
		}
	}
	return b.NewArray()
}

func ptr[T any](v T) *T { return &v }

// writeFile encodes recs into a new file under t.TempDir() with cfg and
// returns its path.
func writeFile(t testing.TB, cfg Config, schema *arrow.Schema, recs ...arrow.RecordBatch) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.parquet")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	f, err := NewFormat(cfg)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := f.NewEncoder(out, schema)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	for _, rec := range recs {
		if err := enc.Encode(context.Background(), rec); err != nil {
			t.Fatalf("Encode: %v", err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readArrow reads a whole file back with arrow-go's pqarrow; the caller
// releases the table.
func readArrow(t testing.TB, path string, mem memory.Allocator) arrow.Table {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatalf("pqarrow reader: %v", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("pqarrow read: %v", err)
	}
	return tbl
}

// arrowSchema returns the Arrow schema pqarrow gives the file.
func arrowSchema(t testing.TB, path string) *arrow.Schema {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("pqarrow reader: %v", err)
	}
	s, err := fr.Schema()
	if err != nil {
		t.Fatalf("pqarrow schema: %v", err)
	}
	return s
}

// column returns column i of tbl as one array; the caller releases it.
func column(t testing.TB, tbl arrow.Table, i int, mem memory.Allocator) arrow.Array {
	t.Helper()
	arr, err := array.Concatenate(tbl.Column(i).Data().Chunks(), mem)
	if err != nil {
		t.Fatal(err)
	}
	return arr
}

// fileMeta opens path with arrow-go's low-level reader for its metadata; it is
// closed when the test ends.
func fileMeta(t testing.TB, path string) *file.Reader {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { rdr.Close() })
	return rdr
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// openParquetGo opens path with parquet-go's reader; it is closed when the
// test ends.
func openParquetGo(t testing.TB, path string) *pq.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := pq.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatalf("parquet-go open %s: %v", path, err)
	}
	return pf
}
