// Package laketest reads a lake of committed files back for tests: every
// visible Parquet file, through arrow's own reader (pqarrow), as sorted text rows.
package laketest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// WalkCommitted calls f for every visible file under root whose name ends in
// ext, with its directory relative to root (the partition). Hidden files — the
// sinks' uncommitted temp files — are skipped, as readers skip them. A root
// that does not exist holds no files.
func WalkCommitted(root, ext string, f func(path, rel string) error) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") || !strings.HasSuffix(d.Name(), ext) {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		return f(path, rel)
	})
}

// ParquetRows reads every visible Parquet file under root and returns its rows
// as text, sorted, each "partition|value|value…". A partial or corrupt visible
// file is an error naming it.
func ParquetRows(root string) ([]string, error) {
	var rows []string
	err := WalkCommitted(root, ".parquet", func(path, rel string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			return fmt.Errorf("%s: partial or corrupt file: %w", path, err)
		}
		defer tbl.Release()
		tr := array.NewTableReader(tbl, 1<<16)
		defer tr.Release()
		for tr.Next() {
			rec := tr.RecordBatch()
			for i := 0; i < int(rec.NumRows()); i++ {
				var b strings.Builder
				b.WriteString(rel)
				for _, col := range rec.Columns() {
					b.WriteString("|")
					b.WriteString(col.ValueStr(i))
				}
				rows = append(rows, b.String())
			}
		}
		return tr.Err()
	})
	slices.Sort(rows)
	return rows, err
}
