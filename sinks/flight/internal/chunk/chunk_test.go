package chunk

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "blob", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "list", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
}, nil)

// record builds rows rows whose blob column holds size(i) random bytes
// (incompressible, the worst case for a compressed message).
func record(mem memory.Allocator, rows int, size func(i int) int) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range rows {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		blob := make([]byte, size(i))
		rand.Read(blob)
		b.Field(1).(*array.BinaryBuilder).Append(blob)
		b.Field(2).(*array.BooleanBuilder).Append(i%3 == 0)
		lb := b.Field(3).(*array.ListBuilder)
		lb.Append(true)
		for e := range i % 4 {
			lb.ValueBuilder().(*array.Int32Builder).Append(int32(e))
		}
	}
	return b.NewRecordBatch()
}

// encodedSize is the size of rec's record batch message as the IPC writer
// makes it with opts (compression).
func encodedSize(t *testing.T, rec arrow.RecordBatch, mem memory.Allocator, opts ...ipc.Option) int64 {
	t.Helper()
	p, err := ipc.GetRecordBatchPayload(rec, append(opts, ipc.WithAllocator(mem))...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	var c counter
	if err := p.SerializeBody(&c); err != nil {
		t.Fatal(err)
	}
	meta := p.Meta()
	defer meta.Release()
	return c.n + int64(meta.Len())
}

func TestSplit(t *testing.T) {
	const limit = 64 << 10
	tests := []struct {
		name       string
		rows       int
		size       func(int) int
		lim        Limits
		wantPieces int // 0: more than one, any number
	}{
		{"fits", 100, func(int) int { return 10 }, Limits{Bytes: limit}, 1},
		{"by rows", 1000, func(int) int { return 10 }, Limits{Rows: 300}, 4},
		{"by bytes", 1000, func(int) int { return 300 }, Limits{Bytes: limit}, 0},
		{"by bytes, compressed", 1000, func(int) int { return 300 }, Limits{Bytes: limit, Compressed: true}, 0},
		{"skewed rows", 400, func(i int) int {
			if i == 17 || i == 18 || i == 300 {
				return 50 << 10
			}
			return 20
		}, Limits{Bytes: limit, Compressed: true}, 0},
		{"rows and bytes", 1000, func(int) int { return 300 }, Limits{Rows: 100, Bytes: limit}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rec := record(mem, tt.rows, tt.size)
			defer rec.Release()
			tt.lim.Mem = mem
			parts, err := Split(rec, tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, p := range parts {
					p.Release()
				}
			}()
			if tt.wantPieces > 0 && len(parts) != tt.wantPieces {
				t.Errorf("got %d pieces, want %d", len(parts), tt.wantPieces)
			}
			if tt.wantPieces == 0 && len(parts) < 2 {
				t.Errorf("got %d pieces, want several", len(parts))
			}
			if len(parts) == 1 && parts[0] != rec {
				t.Errorf("a batch that fits: got a copy, want the batch itself")
			}
			var rows int64
			for i, p := range parts {
				if tt.lim.Rows > 0 && p.NumRows() > tt.lim.Rows {
					t.Errorf("piece %d: got %d rows, want at most %d", i, p.NumRows(), tt.lim.Rows)
				}
				if tt.lim.Bytes > 0 {
					for _, opts := range [][]ipc.Option{nil, {ipc.WithLZ4()}, {ipc.WithZstd()}} {
						if len(opts) > 0 && !tt.lim.Compressed {
							continue
						}
						if n := encodedSize(t, p, mem, opts...); n > tt.lim.Bytes {
							t.Errorf("piece %d (%d rows): encoded to %d bytes, want at most %d", i, p.NumRows(), n, tt.lim.Bytes)
						}
					}
				}
				// The pieces are the record's rows, in order.
				want := rec.NewSlice(rows, rows+p.NumRows())
				if !array.RecordEqual(p, want) {
					t.Errorf("piece %d: rows differ from rows %d.. of the batch", i, rows)
				}
				want.Release()
				rows += p.NumRows()
			}
			if rows != int64(tt.rows) {
				t.Errorf("got %d rows in all, want %d", rows, tt.rows)
			}
		})
	}
}

func TestSplitRowTooLarge(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := record(mem, 10, func(i int) int {
		if i == 6 {
			return 100 << 10
		}
		return 10
	})
	defer rec.Release()
	parts, err := Split(rec, Limits{Bytes: 64 << 10, Mem: mem})
	if err == nil || !strings.Contains(err.Error(), "more than the message limit of 65536 bytes") {
		t.Fatalf("got %d pieces, %v; want an error about the limit", len(parts), err)
	}
}

func TestMessageSize(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := record(mem, 500, func(i int) int { return i })
	defer rec.Release()
	// A slice is measured by its own rows, not the buffers it shares.
	slice := rec.NewSlice(100, 110)
	defer slice.Release()
	whole, err := MessageSize(rec, false, mem)
	if err != nil {
		t.Fatal(err)
	}
	part, err := MessageSize(slice, false, mem)
	if err != nil {
		t.Fatal(err)
	}
	if part*10 > whole {
		t.Errorf("a 10-row slice measures %d bytes, the 500-row batch %d: want the slice far smaller", part, whole)
	}
	if got, want := whole, encodedSize(t, rec, mem); got != want {
		t.Errorf("uncompressed: got %d, want the encoded size %d", got, want)
	}
}
