package parquet_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/etl-toolkit/etl/sinks/parquet"
)

// A Format encodes record batches into one Parquet file; sinks/files calls it
// for every file of the tree. Here it writes to memory and pqarrow reads the
// file back, with the column's unit.
func ExampleFormat() {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
		{Name: "speed", Type: arrow.PrimitiveTypes.Float64, Nullable: true,
			Metadata: arrow.NewMetadata([]string{"unit"}, []string{"m/s"})},
		{Name: "laps", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	}, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(`[
		{"ts": "2026-11-21T10:00:00Z", "speed": 3.5, "laps": [1, null, 3]},
		{"ts": "2026-11-21T10:00:01Z", "speed": null, "laps": null}
	]`))
	if err != nil {
		log.Fatal(err)
	}
	defer rec.Release()

	cfg := parquet.DefaultConfig() // zstd, dictionaries, 128Ki-row row groups
	format, err := parquet.NewFormat(cfg)
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	enc, err := format.NewEncoder(&buf, schema)
	if err != nil {
		log.Fatal(err)
	}
	if err := enc.Encode(context.Background(), rec); err != nil {
		log.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		log.Fatal(err)
	}

	rdr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		log.Fatal(err)
	}
	defer rdr.Close()
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		log.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	defer tbl.Release()
	for i, f := range tbl.Schema().Fields() {
		u, _ := f.Metadata.GetValue("unit")
		fmt.Printf("%s %s unit=%q %v\n", f.Name, f.Type, u, tbl.Column(i).Data().Chunk(0))
	}
	// Output:
	// ts timestamp[ms, tz=UTC] unit="" [1795255200000 1795255201000]
	// speed float64 unit="m/s" [3.5 (null)]
	// laps list<element: int32, nullable> unit="" [[1 (null) 3] (null)]
}
