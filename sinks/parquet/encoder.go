package parquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"

	"github.com/etl-toolkit/etl/sinks/files"
)

// Format writes Parquet files; it implements files.Format. A Format is
// immutable and safe for concurrent use; each file gets its own Encoder.
type Format struct {
	cfg   Config
	codec compress.Codec
	mem   memory.Allocator
	// workers is how many goroutines encode a record's columns (0:
	// GOMAXPROCS); tests set it.
	workers int
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
	codec, err := cfg.codec(runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	return &Format{cfg: cfg, codec: codec, mem: memory.DefaultAllocator}, nil
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
// concurrent use; when GOMAXPROCS is above 1, Encode shreds and compresses
// the columns of a record on several goroutines, all done when it returns.
type Encoder struct {
	f       *Format
	out     io.Writer
	schema  *arrow.Schema
	plan    *schemaPlan
	dict    []bool // per leaf: dictionary-encoded
	decided []bool // per leaf: dict is final (forced by config or Arrow), not up to the sample
	leaves  []*leafNode
	groups  [][]*leafNode // the leaves of each top-level column
	st      state

	fw      *fileWriter // nil until the first rows (or Close) fix the encodings
	scratch []*scratch  // one per goroutine that encodes
	chunks  []columnChunk

	rgRows    int64 // rows in the current row group
	closed    bool
	stickyErr error
}

func (f *Format) newEncoder(w io.Writer, schema *arrow.Schema) (*Encoder, error) {
	p, err := plan(schema)
	if err != nil {
		return nil, err
	}
	e := &Encoder{f: f, out: w, schema: schema, plan: p, scratch: []*scratch{newScratch()}}
	e.dict = make([]bool, len(p.leaves))
	e.decided = make([]bool, len(p.leaves))
	for i, l := range p.leaves {
		e.dict[i], e.decided[i] = f.dictionaryFor(l)
	}
	for _, c := range p.columns {
		k := len(e.leaves)
		e.leaves = c.init(&e.st, e.leaves)
		e.groups = append(e.groups, e.leaves[k:len(e.leaves):len(e.leaves)])
	}
	for i, l := range e.leaves {
		ch := l.ch
		ch.dict, ch.useDict, ch.dictMax = e.dict[i], e.dict[i], int(f.cfg.PageBytes)
		ch.delta = f.cfg.IntegerEncoding == "delta"
		ch.split = f.cfg.FloatEncoding == "byte_stream_split"
	}
	e.chunks = make([]columnChunk, len(e.leaves))
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

// sample shreds the first rows of the bound record (up to sampleRows) into
// the columns, dictionary-encoded where that is still open, decides each
// column's encoding from them, and empties the columns again.
func (e *Encoder) sample(n int) error {
	for _, c := range e.plan.columns {
		c.writeRange(0, min(n, sampleRows), 0)
	}
	if err := e.st.failed(); err != nil {
		return err
	}
	for i, l := range e.leaves {
		if e.dict[i] && !e.decided[i] {
			present, distinct := l.col.(sampler).sampled()
			if present >= sampleMin && 2*distinct > present {
				e.dict[i] = false
			}
		}
		ch := l.ch
		ch.defs, ch.reps = ch.defs[:0], ch.reps[:0]
		ch.slots, ch.rows, ch.nulls = 0, 0, 0
		l.col.resetChunk()
		ch.dict, ch.useDict = e.dict[i], e.dict[i]
	}
	return nil
}

// sampler is implemented by the columns that can be dictionary-encoded.
type sampler interface {
	// sampled returns the number of values of the open page and of
	// distinct ones among them, of a page dictionary-encoded.
	sampled() (present, distinct int)
}

// start fixes the file's metadata and creates its writer.
func (e *Encoder) start() error {
	stored, err := arrowSchemaValue(e.plan.stored, e.f.mem)
	if err != nil {
		return err
	}
	kv := map[string]string{"ARROW:schema": stored}
	md := e.schema.Metadata()
	for i, k := range md.Keys() {
		kv[k] = md.Values()[i]
	}
	for k, v := range fieldMetadata(e.schema) {
		kv[k] = v
	}
	orders := make([]format.ColumnOrder, len(e.plan.leaves))
	for i, l := range e.plan.leaves {
		orders[i] = *l.node.Type().ColumnOrder()
	}
	e.fw = newFileWriter(e.out, schemaElements(e.plan.root), orders, kv)
	return nil
}

// chunkRows is how many rows the encoder shreds before it checks whether a
// column's page is full: about a sixteenth of a page of the widest column,
// at rowBytes bytes per row (at least 8), and between 1 and 4096 rows. A
// page thus overshoots page_bytes by a sixteenth, or one row, at most, for
// columns as wide as the record's average.
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

// rowBytes returns the bytes a row of the bound record of n rows holds, on
// average.
func (e *Encoder) rowBytes(n int) int64 {
	var sum int64
	for _, l := range e.leaves {
		sum += l.get.bytes()
	}
	return max(1, sum/int64(n))
}

// Steps of the goroutines that encode the columns of a record together: they
// meet after stepRows rows, so that the row group's size can be checked. A
// step holds at most a 64th of row_group_bytes, to keep row groups near that
// size, and at most maxStepRows rows.
const maxStepRows = 16384

// workers returns how many goroutines encode the columns of a record of n
// rows: one per CPU (GOMAXPROCS, or the Format's workers if set), but no more
// than columns, and one for records of fewer than minParallelRows rows.
func (e *Encoder) workers(n int) int {
	if n < minParallelRows {
		return 1
	}
	return e.allWorkers()
}

// minParallelRows is the fewest rows of a record that Encode shares among
// goroutines. A record of a few hundred rows already costs a hundred times
// what starting and waiting for a goroutine does, and Encode runs on the one
// goroutine a pipeline writes with: shredding and compressing on one
// goroutine made it the pipeline's bottleneck when sources emit small
// records (the Azumio replay benchmark: pages of 1,000 rows, the sources
// waiting for the sink more than half the time).
const minParallelRows = 256

// allWorkers returns how many goroutines end a row group: one per CPU, but
// no more than columns, whatever the size of the records. Ending a row group
// compresses the open page of every column, a burst of work: with 8-byte
// columns and the default sizes (a page holds 131072 values, a row group
// 131072 rows) most pages are compressed then.
func (e *Encoder) allWorkers() int {
	w := runtime.GOMAXPROCS(0)
	if e.f.workers > 0 {
		w = e.f.workers
	}
	return max(1, min(w, len(e.plan.columns)))
}

// Encode appends rec's rows. rec must have the encoder's schema. Encode keeps
// nothing of rec after it returns (the columns copy the values they buffer).
// It checks ctx between slices of rows. After an error the encoder is
// unusable.
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
	defer e.unbind()
	for i, c := range e.plan.columns {
		if err := c.bind(rec.Column(i)); err != nil {
			return e.fail(err)
		}
	}
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	if e.fw == nil {
		// The first rows decide the encodings.
		if err := e.sample(n); err != nil {
			return e.fail(err)
		}
		if err := e.start(); err != nil {
			return e.fail(err)
		}
	}
	chunk := chunkRows(int64(e.f.cfg.PageBytes), e.widestLeaf(n))
	step, workers := chunk, e.workers(n)
	if workers > 1 {
		// Whole slices, so that pages end where they would on one
		// goroutine: the file is the same, byte for byte.
		step = int(min(max(int64(e.f.cfg.RowGroupBytes)/64/e.rowBytes(n), int64(chunk)), maxStepRows))
		step = max(1, step/chunk) * chunk
	}
	for lo := 0; lo < n; {
		if err := ctx.Err(); err != nil {
			return e.fail(err)
		}
		hi := min(n, lo+step, lo+int(e.f.cfg.RowGroupRows-e.rgRows))
		if err := e.each(workers, func(k int, s *scratch) error { return e.writeRange(k, lo, hi, chunk, s) }); err != nil {
			return e.fail(err)
		}
		if err := e.st.failed(); err != nil {
			return e.fail(err)
		}
		e.rgRows += int64(hi - lo)
		lo = hi
		if e.rgRows >= e.f.cfg.RowGroupRows || e.bufferedBytes() >= int64(e.f.cfg.RowGroupBytes) {
			if err := e.flushRowGroup(e.allWorkers()); err != nil {
				return e.fail(err)
			}
		}
	}
	return nil
}

// writeRange writes rows lo..hi of top-level column k, in slices of chunk
// rows after each of which a full page is flushed.
func (e *Encoder) writeRange(k, lo, hi, chunk int, s *scratch) error {
	codec, pageMax := e.f.codec, int(e.f.cfg.PageBytes)
	for a := lo; a < hi; a += chunk {
		e.plan.columns[k].writeRange(a, min(hi, a+chunk), 0)
		for _, l := range e.groups[k] {
			if err := checkDictionary(l.col, codec, s); err != nil {
				return err
			}
			if pageBytes(l.col) >= pageMax {
				if err := flushPage(l.col, codec, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// each calls f for every top-level column on workers goroutines (this one
// among them), each with its own scratch, and returns the first error.
func (e *Encoder) each(workers int, f func(k int, s *scratch) error) error {
	n := len(e.plan.columns)
	if workers <= 1 {
		for k := range n {
			if err := f(k, e.scratch[0]); err != nil {
				return err
			}
		}
		return nil
	}
	for len(e.scratch) < workers {
		e.scratch = append(e.scratch, newScratch())
	}
	var (
		next int32 = -1
		wg   sync.WaitGroup
		errs = make([]error, workers)
	)
	work := func(w int) {
		for {
			k := int(atomic.AddInt32(&next, 1))
			if k >= n || errs[w] != nil {
				return
			}
			errs[w] = f(k, e.scratch[w])
		}
	}
	for w := 1; w < workers; w++ {
		wg.Go(func() { work(w) })
	}
	work(0)
	wg.Wait()
	return errors.Join(errs...)
}

// bufferedBytes is the size of the current row group so far.
func (e *Encoder) bufferedBytes() int64 {
	var n int64
	for _, l := range e.leaves {
		n += bufferedBytes(l.col)
	}
	return n
}

func (e *Encoder) flushRowGroup(workers int) error {
	if e.rgRows == 0 {
		return nil
	}
	err := e.each(workers, func(k int, s *scratch) error {
		for _, l := range e.groups[k] {
			if err := finishChunk(l.col, e.f.codec, s, &e.chunks[l.index]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := e.fw.writeRowGroup(e.chunks, e.rgRows); err != nil {
		return err
	}
	for i, l := range e.leaves {
		reuseChunk(l.col, &e.chunks[i])
	}
	e.rgRows = 0
	return nil
}

// unbind drops the references the nodes hold into the record.
func (e *Encoder) unbind() {
	for _, c := range e.plan.columns {
		c.unbind()
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
	if e.fw == nil {
		if err := e.start(); err != nil {
			return e.fail(err)
		}
	}
	if err := e.flushRowGroup(e.allWorkers()); err != nil {
		return e.fail(err)
	}
	if err := e.fw.close(); err != nil {
		return e.fail(err)
	}
	return nil
}
