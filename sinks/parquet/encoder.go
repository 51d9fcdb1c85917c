package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/etl-toolkit/etl/sinks/files"
)

// Format writes Parquet files; it implements files.Format. A Format is
// immutable and safe for concurrent use; each file gets its own Encoder.
type Format struct {
	cfg   Config
	codec compress.Codec
	mem   memory.Allocator
}

var (
	_ files.Format  = (*Format)(nil)
	_ files.Querier = (*Format)(nil)
)

// NewFormat returns the Format of cfg's file options (compression, row groups,
// pages, dictionaries); it ignores path, partition_by and roll. It fails with
// every problem Config.Problems finds.
func NewFormat(cfg Config) (*Format, error) {
	if ps := cfg.Problems(); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = fmt.Errorf("parquet: %s: %s", p.Option, p.Msg)
		}
		return nil, errors.Join(errs...)
	}
	return &Format{cfg: cfg, codec: cfg.codec(), mem: memory.DefaultAllocator}, nil
}

// Ext returns ".parquet".
func (f *Format) Ext() string { return ".parquet" }

// Query implements files.Querier: DuckDB's read_parquet over the files
// matching glob, with the partition keys as columns and the columns of every
// stream's schema (union_by_name).
func (f *Format) Query(glob string) string {
	return fmt.Sprintf("SELECT * FROM read_parquet('%s', hive_partitioning = true, union_by_name = true) LIMIT 10",
		strings.ReplaceAll(glob, "'", "''"))
}

// NewEncoder starts a Parquet file of the given schema on w. It fails, before
// writing anything, for a schema with an Arrow type that has no Parquet form
// here (maps, unions, decimals, views, durations, times...).
func (f *Format) NewEncoder(w io.Writer, schema *arrow.Schema) (files.Encoder, error) {
	return f.newEncoder(w, schema)
}

// Encoder writes one Parquet file from record batches of one schema. It
// buffers one row group (at most row_group_rows rows, and about
// row_group_bytes encoded bytes) and writes it to w when either limit is
// reached, so its memory does not grow with the file. It is not safe for
// concurrent use.
type Encoder struct {
	f       *Format
	out     io.Writer
	schema  *arrow.Schema
	plan    *schemaPlan
	dict    []bool     // per leaf: dictionary-encoded
	decided []bool     // per leaf: dict is final (forced by config or Arrow), not up to the sample
	w       *pq.Writer // nil until the first rows (or Close) fix the encodings
	writers []*pq.ColumnWriter
	leaves  []*leafNode
	st      state

	rgRows    int64 // rows in the current row group
	rgStart   int64 // Writer.Size() when the current row group started
	closed    bool
	stickyErr error
}

func (f *Format) newEncoder(w io.Writer, schema *arrow.Schema) (*Encoder, error) {
	p, err := plan(schema)
	if err != nil {
		return nil, err
	}
	e := &Encoder{f: f, out: w, schema: schema, plan: p}
	e.dict = make([]bool, len(p.leaves))
	e.decided = make([]bool, len(p.leaves))
	for i, l := range p.leaves {
		e.dict[i], e.decided[i] = f.dictionaryFor(l)
	}
	for _, c := range p.columns {
		e.leaves = c.init(&e.st, e.leaves)
	}
	return e, nil
}

// dictionaryFor says whether a leaf starts dictionary-encoded, and whether
// that is decided (by dictionary_columns, or because the Arrow column is a
// dictionary) or may change after the first rows. The longest
// dictionary_columns entry that is the leaf's dotted path or a parent of it
// decides.
func (f *Format) dictionaryFor(l leafSpec) (dict, decided bool) {
	if !l.canDict {
		return false, true
	}
	best, found, on := "", false, false
	for name, v := range f.cfg.DictionaryColumns {
		if (l.dotted == name || strings.HasPrefix(l.dotted, name+".")) && (!found || len(name) > len(best)) {
			best, found, on = name, true, v
		}
	}
	switch {
	case found:
		return on, true
	case l.arrowDict:
		return true, true
	default:
		return f.cfg.Dictionary, !f.cfg.Dictionary
	}
}

// The dictionary sample: a column left to the dictionary option goes plain
// when, among the values of the first sampleRows rows of a file, at least
// sampleMin are present and more than half of those are distinct. A
// dictionary of mostly distinct values costs time to build and makes files
// larger than plain pages compressed; parquet-mr checks the same after its
// first page.
const (
	sampleRows = 4096
	sampleMin  = 256
)

// start fixes the encodings from the values shredded so far (a sample of the
// first record, or none) and creates the parquet-go writer.
func (e *Encoder) start() error {
	for i, l := range e.leaves {
		if e.dict[i] && !e.decided[i] && mostlyDistinct(l.vals) {
			e.dict[i] = false
		}
	}
	opts := []pq.WriterOption{
		pq.NewSchema("schema", e.plan.root(e.dict)),
		pq.Compression(e.f.codec),
		pq.PageBufferSize(int(e.f.cfg.PageBytes)),
		pq.MaxRowsPerRowGroup(e.f.cfg.RowGroupRows),
		// A dictionary larger than a page stops paying for itself: the
		// column goes on in plain encoding (as arrow's writers do).
		pq.DictionaryMaxBytes(int64(e.f.cfg.PageBytes)),
		// Version 1 data pages, and plain strings where there is no
		// dictionary (parquet-go would use DELTA_LENGTH_BYTE_ARRAY): what
		// pyarrow writes, and what every reader takes, Spark, Hive and
		// older pyarrow among them.
		pq.DataPageVersion(1),
		pq.DefaultEncodingFor(pq.ByteArray, &pq.Plain),
	}
	stored, err := arrowSchemaValue(e.plan.stored, e.f.mem)
	if err != nil {
		return err
	}
	opts = append(opts, pq.KeyValueMetadata("ARROW:schema", stored))
	md := e.schema.Metadata()
	for i, k := range md.Keys() {
		opts = append(opts, pq.KeyValueMetadata(k, md.Values()[i]))
	}
	for k, v := range fieldMetadata(e.schema) {
		opts = append(opts, pq.KeyValueMetadata(k, v))
	}
	cfg, err := pq.NewWriterConfig(opts...)
	if err != nil {
		return fmt.Errorf("parquet: writer options: %w", err)
	}
	e.w = pq.NewWriter(e.out, cfg)
	e.writers = e.w.ColumnWriters()
	if len(e.leaves) != len(e.writers) {
		return fmt.Errorf("parquet: %d leaf columns planned, parquet-go made %d", len(e.leaves), len(e.writers))
	}
	return nil
}

// mostlyDistinct reports whether vals hold at least sampleMin non-null values,
// more than half of them distinct.
func mostlyDistinct(vals []pq.Value) bool {
	seen := make(map[string]struct{}, len(vals))
	present := 0
	for _, v := range vals {
		if v.IsNull() {
			continue
		}
		present++
		seen[string(v.Bytes())] = struct{}{}
	}
	return present >= sampleMin && 2*len(seen) > present
}

// chunkRows is how many rows the encoder shreds before handing them to
// parquet-go, which cuts pages only between such calls: about a sixteenth of
// a page of the widest column, at rowBytes bytes per row (at least 8), and
// between 1 and 4096 rows. A page thus overshoots page_bytes by a sixteenth,
// or one row, at most, for columns as wide as the record's average.
func chunkRows(pageBytes, rowBytes int64) int {
	return int(max(1, min(pageBytes/16/max(8, rowBytes), 4096)))
}

// widestLeaf returns the most bytes a leaf holds per row of the bound record
// of n rows, on average.
func (e *Encoder) widestLeaf(n int) int64 {
	var widest int64
	for _, l := range e.leaves {
		widest = max(widest, l.get.bytes()/int64(n))
	}
	return widest
}

// Encode appends rec's rows. rec must have the encoder's schema. Encode keeps
// nothing of rec after it returns (parquet-go copies the values it buffers).
// It checks ctx between slices of rows. After an error the encoder is unusable.
func (e *Encoder) Encode(ctx context.Context, rec arrow.RecordBatch) error {
	if e.stickyErr != nil {
		return e.stickyErr
	}
	if e.closed {
		return errors.New("parquet: encode after close")
	}
	if s := rec.Schema(); s != e.schema && !s.Equal(e.schema) {
		return fmt.Errorf("parquet: record schema %s differs from the file's %s", s, e.schema)
	}
	defer e.clearValues()
	for i, c := range e.plan.columns {
		if err := c.bind(rec.Column(i)); err != nil {
			return e.fail(err)
		}
	}
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	chunk := chunkRows(int64(e.f.cfg.PageBytes), e.widestLeaf(n))
	if e.w == nil {
		// The first rows decide the encodings: shred a sample of them,
		// then start over with the writer made.
		for _, c := range e.plan.columns {
			c.writeRows(0, min(n, sampleRows))
		}
		if e.st.err != nil {
			return e.fail(e.st.err)
		}
		err := e.start()
		e.clearValues()
		if err != nil {
			return e.fail(err)
		}
	}
	for lo := 0; lo < n; {
		if err := ctx.Err(); err != nil {
			return e.fail(err)
		}
		hi := min(n, lo+chunk, lo+int(e.f.cfg.RowGroupRows-e.rgRows))
		for _, c := range e.plan.columns {
			c.writeRows(lo, hi)
		}
		if e.st.err != nil {
			return e.fail(e.st.err)
		}
		for i, l := range e.leaves {
			if _, err := e.writers[i].WriteRowValues(l.vals); err != nil {
				return e.fail(fmt.Errorf("parquet: column %s: %w", l.column, err))
			}
			clear(l.vals)
			l.vals = l.vals[:0]
		}
		e.rgRows += int64(hi - lo)
		lo = hi
		if e.rgRows >= e.f.cfg.RowGroupRows || e.w.Size()-e.rgStart >= int64(e.f.cfg.RowGroupBytes) {
			if err := e.flushRowGroup(); err != nil {
				return e.fail(err)
			}
		}
	}
	return nil
}

func (e *Encoder) flushRowGroup() error {
	if e.rgRows == 0 {
		return nil
	}
	if err := e.w.Flush(); err != nil {
		return fmt.Errorf("parquet: write row group: %w", err)
	}
	e.rgRows = 0
	e.rgStart = e.w.Size()
	return nil
}

// clearValues drops the references the value buffers hold into the record.
func (e *Encoder) clearValues() {
	for _, l := range e.leaves {
		clear(l.vals)
		l.vals = l.vals[:0]
	}
}

func (e *Encoder) fail(err error) error {
	e.stickyErr = err
	return err
}

// Close writes the last row group and the footer. It does not close the
// io.Writer. A file with no rows is still a valid Parquet file with the schema.
func (e *Encoder) Close() error {
	if e.closed {
		return e.stickyErr
	}
	e.closed = true
	if e.stickyErr != nil {
		return e.stickyErr
	}
	if e.w == nil {
		if err := e.start(); err != nil {
			return e.fail(err)
		}
	}
	if err := e.flushRowGroup(); err != nil {
		return e.fail(err)
	}
	if err := e.w.Close(); err != nil {
		return e.fail(fmt.Errorf("parquet: write footer: %w", err))
	}
	return nil
}
