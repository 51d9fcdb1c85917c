package wire

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

func stringBatch(mem memory.Allocator, rows, size int) core.Batch {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	for range rows {
		b.Append(strings.Repeat("v", size))
	}
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	return core.Batch{Stream: "st", Unit: "u", Record: array.NewRecordBatch(schema, []arrow.Array{col}, int64(rows)), Position: core.Position{1, 2}}
}

func TestChunks(t *testing.T) {
	cases := []struct {
		name       string
		batch      func(memory.Allocator) core.Batch
		wantChunks int
	}{
		{"small", func(m memory.Allocator) core.Batch { return stringBatch(m, 3, 10) }, 1},
		{"three-chunks", func(m memory.Allocator) core.Batch { return stringBatch(m, 2500, 1000) }, 3},
		{"no-record", func(memory.Allocator) core.Batch {
			return core.Batch{Stream: "st", Unit: "u", Position: core.Position("p")}
		}, 1},
		{"empty-position", func(m memory.Allocator) core.Batch {
			b := stringBatch(m, 1, 1)
			b.Position = core.Position{}
			return b
		}, 1},
		{"nil-position", func(m memory.Allocator) core.Batch {
			b := stringBatch(m, 1, 1)
			b.Position = nil
			return b
		}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			in := c.batch(mem)
			defer in.Release()
			frames := &countingPool{}
			var chunks []*Chunk
			n, err := SendBatch(in, func(c *Chunk) error {
				// As gRPC would: marshal, then receive in 16 KiB frames.
				chunks = append(chunks, transmit(t, c, frames))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(chunks) != c.wantChunks {
				t.Fatalf("got %d chunks for %d bytes, want %d", len(chunks), n, c.wantChunks)
			}
			var asm Assembler
			for i, ch := range chunks {
				if ch.Data.Len() > ChunkSize {
					t.Errorf("chunk %d: got %d bytes, want at most %d", i, ch.Data.Len(), ChunkSize)
				}
				complete, err := asm.Add(ch)
				if err != nil {
					t.Fatal(err)
				}
				if complete != (i == len(chunks)-1) {
					t.Fatalf("chunk %d of %d: got complete %v", i, len(chunks), complete)
				}
			}
			out, err := asm.Batch(mem)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			if out.Stream != in.Stream || out.Unit != in.Unit || string(out.Position) != string(in.Position) || (out.Position == nil) != (in.Position == nil) {
				t.Errorf("got %q %q %v, want %q %q %v", out.Stream, out.Unit, out.Position, in.Stream, in.Unit, in.Position)
			}
			if (out.Record == nil) != (in.Record == nil) || (in.Record != nil && !array.RecordEqual(out.Record, in.Record)) {
				t.Errorf("got record %v, want %v", out.Record, in.Record)
			}
			if asm.Pending() {
				t.Error("the assembler still holds a batch after Batch")
			}
			if got := frames.held(); got != 0 {
				t.Errorf("%d received frames not freed after Batch", got)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	base := errors.New("api: 503")
	cases := []struct {
		name      string
		err       error
		wantMsg   string
		transient bool
		wait      time.Duration
		is        error
	}{
		{"permanent", fmt.Errorf("src: %w", base), "src: api: 503", false, 0, nil},
		{"transient", fmt.Errorf("src: %w", core.Transient(base, 3*time.Second)), "src: api: 503 (retry after 3s)", true, 3 * time.Second, nil},
		{"transient-no-wait", core.Transient(base, 0), "api: 503", true, 0, nil},
		{"marked", fmt.Errorf("x: %w", core.ErrTransient), "x: transient error", true, 0, nil},
		{"cancelled", fmt.Errorf("read: %w", context.Canceled), "read: context canceled", false, 0, context.Canceled},
		{"deadline", fmt.Errorf("read: %w", context.DeadlineExceeded), "read: context deadline exceeded", false, 0, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := FromStatus(ToStatus(c.err))
			if !ok {
				t.Fatal("FromStatus: got no plugin error from ToStatus's status")
			}
			if got.Error() != c.wantMsg {
				t.Errorf("got message %q, want %q", got, c.wantMsg)
			}
			wait, transient := core.RetryAfter(got)
			if transient != c.transient || wait != c.wait {
				t.Errorf("RetryAfter: got %v, %v; want %v, %v", wait, transient, c.wait, c.transient)
			}
			if c.is != nil && !errors.Is(got, c.is) {
				t.Errorf("got %v, want it to wrap %v", got, c.is)
			}
		})
	}
	t.Run("config", func(t *testing.T) {
		errs := core.ConfigErrors{
			{File: "p.yaml", Line: 3, Col: 4, Path: "sinks[0].config.a", Msg: "bad"},
			{File: "p.yaml", Line: 5, Col: 4, Path: "sinks[0].config.b", Msg: "worse"},
		}
		got, _ := FromStatus(ToStatus(fmt.Errorf("wrapped: %w", errs)))
		var problems ConfigProblems
		if !errors.As(got, &problems) || len(problems) != 2 || problems[1].Path != "sinks[0].config.b" || problems[1].Message != "worse" {
			t.Errorf("got %v, want both problems with their paths", got)
		}
	})
	if _, ok := FromStatus(errors.New("not a status")); ok {
		t.Error("FromStatus of a plain error: got ok, want false")
	}
}
