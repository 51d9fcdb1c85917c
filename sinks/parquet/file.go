package parquet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// createdBy names the writer in the footer, in the "<application> version
// <version>" form that parquet-mr parses: an application it does not know
// has its statistics trusted.
const createdBy = "github.com/etl-toolkit/etl/sinks/parquet version 1"

// fileWriter writes a Parquet file's bytes: the magic, row groups as their
// column chunks are handed over, the offset indexes and the footer.
type fileWriter struct {
	out    io.Writer
	offset int64
	meta   format.FileMetaData
	// offsetIndexes[row group][column]
	offsetIndexes [][]format.OffsetIndex
}

func newFileWriter(out io.Writer, schema []format.SchemaElement, orders []format.ColumnOrder, kv map[string]string) *fileWriter {
	w := &fileWriter{out: out}
	w.meta = format.FileMetaData{
		Version:      2,
		Schema:       schema,
		CreatedBy:    createdBy,
		ColumnOrders: orders,
	}
	for k, v := range kv {
		w.meta.KeyValueMetadata = append(w.meta.KeyValueMetadata, format.KeyValue{Key: k, Value: v})
	}
	slices.SortFunc(w.meta.KeyValueMetadata, func(a, b format.KeyValue) int { return strings.Compare(a.Key, b.Key) })
	return w
}

// begin writes the magic that starts the file, once.
func (w *fileWriter) begin() error {
	if w.offset > 0 {
		return nil
	}
	return w.write([]byte("PAR1"))
}

func (w *fileWriter) write(p []byte) error {
	n, err := w.out.Write(p)
	w.offset += int64(n)
	if err != nil {
		return fmt.Errorf("parquet: write: %w", err)
	}
	return nil
}

// writeRowGroup writes a row group of rows rows made of chunks, one per leaf
// column in file order.
func (w *fileWriter) writeRowGroup(chunks []columnChunk, rows int64) error {
	if err := w.begin(); err != nil {
		return err
	}
	rg := format.RowGroup{
		NumRows:    rows,
		FileOffset: w.offset,
		Ordinal:    int16(len(w.meta.RowGroups)),
		Columns:    make([]format.ColumnChunk, len(chunks)),
	}
	indexes := make([]format.OffsetIndex, len(chunks))
	for i := range chunks {
		c := &chunks[i]
		m := c.meta
		start := w.offset
		if len(c.dictPage) > 0 {
			m.DictionaryPageOffset = w.offset
			if err := w.write(c.dictPage); err != nil {
				return err
			}
		}
		m.DataPageOffset = w.offset
		locs := make([]format.PageLocation, len(c.locs))
		for j, l := range c.locs {
			l.Offset += w.offset
			locs[j] = l
		}
		if err := w.write(c.pages); err != nil {
			return err
		}
		rg.Columns[i] = format.ColumnChunk{FileOffset: start, MetaData: m}
		indexes[i] = format.OffsetIndex{PageLocations: locs}
		rg.TotalByteSize += m.TotalUncompressedSize
		rg.TotalCompressedSize += m.TotalCompressedSize
	}
	w.meta.RowGroups = append(w.meta.RowGroups, rg)
	w.meta.NumRows += rows
	w.offsetIndexes = append(w.offsetIndexes, indexes)
	return nil
}

// close writes the offset indexes and the footer.
func (w *fileWriter) close() error {
	if err := w.begin(); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := thrift.NewEncoder(new(thrift.CompactProtocol).NewWriter(&buf))
	for i, indexes := range w.offsetIndexes {
		for j := range indexes {
			buf.Reset()
			if err := enc.Encode(&indexes[j]); err != nil {
				return fmt.Errorf("parquet: encode an offset index: %w", err)
			}
			c := &w.meta.RowGroups[i].Columns[j]
			c.OffsetIndexOffset, c.OffsetIndexLength = w.offset, int32(buf.Len())
			if err := w.write(buf.Bytes()); err != nil {
				return err
			}
		}
	}
	buf.Reset()
	if err := enc.Encode(&w.meta); err != nil {
		return fmt.Errorf("parquet: encode the footer: %w", err)
	}
	buf.Write(binary.LittleEndian.AppendUint32(nil, uint32(buf.Len())))
	buf.WriteString("PAR1")
	return w.write(buf.Bytes())
}
