package files_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/files"
)

// tsv is a minimal Format: tab-separated values, no header.
type tsv struct{}

func (tsv) Ext() string { return ".tsv" }

func (tsv) NewEncoder(w io.Writer, schema *arrow.Schema) (files.Encoder, error) {
	return tsvEncoder{w}, nil
}

type tsvEncoder struct{ w io.Writer }

func (e tsvEncoder) Encode(ctx context.Context, rec arrow.RecordBatch) error {
	for r := 0; r < int(rec.NumRows()); r++ {
		var cells []string
		for _, col := range rec.Columns() {
			cells = append(cells, col.ValueStr(r))
		}
		if _, err := fmt.Fprintln(e.w, strings.Join(cells, "\t")); err != nil {
			return err
		}
	}
	return nil
}

func (tsvEncoder) Close() error { return nil }

func Example() {
	ctx := context.Background()
	root, _ := os.MkdirTemp("", "lake")
	defer os.RemoveAll(root)

	sink, err := files.New(files.Options{Path: root, PartitionBy: []string{"stream", "date"}}, tsv{})
	if err != nil {
		panic(err)
	}
	defer sink.Close()

	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
		{Name: "steps", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	rec, _, _ := array.RecordFromJSON(memory.DefaultAllocator, schema, strings.NewReader(
		`[{"ts": "2026-11-21T10:00:00Z", "steps": 120}, {"ts": "2026-11-22T09:30:00Z", "steps": 80}]`))
	defer rec.Release()

	if err := sink.Write(ctx, core.Batch{Stream: "azumio.checkins.steps", Unit: "user/1", Record: rec}); err != nil {
		panic(err)
	}
	txn, err := sink.Prepare(ctx) // the runner records txn in its state store here
	if err != nil {
		panic(err)
	}
	if err := sink.Commit(ctx, txn); err != nil {
		panic(err)
	}

	name := regexp.MustCompile(`part-\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}-`)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			data, _ := os.ReadFile(p)
			fmt.Printf("%s: %q\n", name.ReplaceAllString(filepath.ToSlash(rel), "part-TIME-TOKEN-"), data)
		}
		return nil
	})
	// Output:
	// stream=azumio.checkins.steps/date=2026-11-21/part-TIME-TOKEN-000001.tsv: "2026-11-21T10:00:00Z\t120\n"
	// stream=azumio.checkins.steps/date=2026-11-22/part-TIME-TOKEN-000002.tsv: "2026-11-22T09:30:00Z\t80\n"
}
