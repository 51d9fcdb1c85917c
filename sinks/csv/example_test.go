package csv_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/csv"
)

func ExampleNewSink() {
	ctx := context.Background()
	root, _ := os.MkdirTemp("", "csv")
	defer os.RemoveAll(root)

	cfg := csv.DefaultConfig()
	cfg.Path = root
	cfg.Null = `\N`
	sink, err := csv.NewSink(cfg, nil)
	if err != nil {
		panic(err)
	}
	defer sink.Close()

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
		{Name: "bpm", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "note", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "zones", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32)},
	}, nil)
	rec, _, _ := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(`[
		{"ts": "2026-11-21T10:00:00.250Z", "bpm": 61.5, "note": "rest, seated", "zones": [1]},
		{"ts": "2026-11-21T10:00:01Z", "bpm": null, "note": null, "zones": [1, 2]}]`))
	defer rec.Release()

	if err := sink.Write(ctx, core.Batch{Stream: "azumio.checkins.heartrate", Unit: "user/1", Record: rec}); err != nil {
		panic(err)
	}
	txn, err := sink.Prepare(ctx)
	if err != nil {
		panic(err)
	}
	if err := sink.Commit(ctx, txn); err != nil {
		panic(err)
	}

	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			data, _ := os.ReadFile(p)
			fmt.Printf("%s/part-….csv:\n%s", rel, data)
		}
		return nil
	})
	// Output:
	// stream=azumio.checkins.heartrate/part-….csv:
	// ts,bpm,note,zones
	// 2026-11-21T10:00:00.250Z,61.5,"rest, seated",[1]
	// 2026-11-21T10:00:01.000Z,\N,\N,"[1,2]"
}
