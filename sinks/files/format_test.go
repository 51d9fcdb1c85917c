package files

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// lines is a test Format: a header line of column names, one line per row of
// the values' ValueStr joined by "|", and an "end" footer written by Close.
type lines struct{}

func (lines) Ext() string { return ".txt" }

func (lines) NewEncoder(w io.Writer, schema *arrow.Schema) (Encoder, error) {
	bw := bufio.NewWriter(w)
	names := make([]string, schema.NumFields())
	for i, f := range schema.Fields() {
		names[i] = f.Name
	}
	fmt.Fprintln(bw, strings.Join(names, "|"))
	return &linesEncoder{w: bw}, nil
}

type linesEncoder struct{ w *bufio.Writer }

func (e *linesEncoder) Encode(ctx context.Context, rec arrow.RecordBatch) error {
	vals := make([]string, rec.NumCols())
	for r := 0; r < int(rec.NumRows()); r++ {
		for c, col := range rec.Columns() {
			vals[c] = col.ValueStr(r)
		}
		if _, err := fmt.Fprintln(e.w, strings.Join(vals, "|")); err != nil {
			return err
		}
	}
	return e.w.Flush() // so that Roll.Bytes sees every batch
}

func (e *linesEncoder) Close() error {
	fmt.Fprintln(e.w, "end")
	return e.w.Flush()
}

// failing is a Format whose encoders fail: at the failAt-th Encode call
// (counted over the format's life, from 1), or in Close when failClose.
type failing struct {
	lines
	failAt    int
	failClose bool
	calls     int
}

var errDiskFull = errors.New("no space left on device")

func (f *failing) NewEncoder(w io.Writer, schema *arrow.Schema) (Encoder, error) {
	enc, err := f.lines.NewEncoder(w, schema)
	return &failingEncoder{Encoder: enc, f: f}, err
}

type failingEncoder struct {
	Encoder
	f *failing
}

func (e *failingEncoder) Encode(ctx context.Context, rec arrow.RecordBatch) error {
	e.f.calls++
	if e.f.calls == e.f.failAt {
		return errDiskFull
	}
	return e.Encoder.Encode(ctx, rec)
}

func (e *failingEncoder) Close() error {
	if e.f.failClose {
		return errDiskFull
	}
	return e.Encoder.Close()
}

// record builds a record of schema from JSON rows.
func record(t testing.TB, mem memory.Allocator, schema *arrow.Schema, rows string) arrow.RecordBatch {
	t.Helper()
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatalf("record from %s: %v", rows, err)
	}
	return rec
}

// write writes rec as one batch of stream and unit, then releases rec.
func write(t *testing.T, s *Sink, stream, unit string, rec arrow.RecordBatch) {
	t.Helper()
	defer rec.Release()
	if err := s.Write(context.Background(), core.Batch{Stream: stream, Unit: unit, Record: rec}); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// commit prepares and commits, and returns the txn.
func commit(t *testing.T, s *Sink) []byte {
	t.Helper()
	ctx := context.Background()
	txn, err := s.Prepare(ctx)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if err := s.Commit(ctx, txn); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return txn
}

// tree returns every file under root (slash-separated, relative), with hidden
// files included, sorted.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// visible returns the files readers see: no name starting with ".".
func visible(t *testing.T, root string) []string {
	var out []string
	for _, p := range tree(t, root) {
		if !strings.HasPrefix(filepath.Base(p), ".") {
			out = append(out, p)
		}
	}
	return out
}

// contents maps each visible file's directory to the concatenated contents of
// its files (in name order).
func contents(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range visible(t, root) {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Dir(p)] += string(b)
	}
	return out
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }
