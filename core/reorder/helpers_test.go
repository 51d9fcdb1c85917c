package reorder

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// msgSchema is a preprocessed-data-like stream: a UNIX ms event time, a key
// column and a value.
var msgSchema = arrow.NewSchema([]arrow.Field{
	{Name: "timestamp", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "timeframe", Type: arrow.PrimitiveTypes.Int64},
	{Name: "v", Type: arrow.BinaryTypes.String},
}, nil)

// msgs builds a batch of unit from "t:v" or "t:v@timeframe" items; t "null" is a null
// event time. Position is unit/seq.
func msgs(t testing.TB, mem memory.Allocator, unit string, seq int, items string) core.Batch {
	t.Helper()
	b := array.NewRecordBuilder(mem, msgSchema)
	defer b.Release()
	for _, it := range strings.Fields(items) {
		tv, tf, _ := strings.Cut(it, "@")
		ts, v, _ := strings.Cut(tv, ":")
		if ts == "null" {
			b.Field(0).AppendNull()
		} else {
			var n int64
			fmt.Sscan(ts, &n)
			b.Field(0).(*array.Int64Builder).Append(n)
		}
		var f int64
		if tf != "" {
			fmt.Sscan(tf, &f)
		}
		b.Field(1).(*array.Int64Builder).Append(f)
		b.Field(2).(*array.StringBuilder).Append(v)
	}
	return core.Batch{Stream: "asi.test", Unit: unit, Record: b.NewRecordBatch(),
		Position: binary.BigEndian.AppendUint32([]byte(unit+"/"), uint32(seq))}
}

// collector gathers what a transform emits as "t:v" items per unit, and the
// positions.
type collector struct {
	rows      map[string][]string
	positions map[string][]string
}

func newCollector() *collector {
	return &collector{rows: map[string][]string{}, positions: map[string][]string{}}
}

func (c *collector) emit(_ context.Context, b core.Batch) error {
	defer b.Release()
	if b.Position != nil {
		c.positions[b.Unit] = append(c.positions[b.Unit], fmt.Sprintf("%d", binary.BigEndian.Uint32(b.Position[len(b.Position)-4:])))
	}
	if b.Record == nil {
		return nil
	}
	ts := b.Record.Column(0).(*array.Int64)
	vs := b.Record.Column(2).(*array.String)
	for i := range int(b.Record.NumRows()) {
		t := "null"
		if ts.IsValid(i) {
			t = fmt.Sprint(ts.Value(i))
		}
		c.rows[b.Unit] = append(c.rows[b.Unit], t+":"+vs.Value(i))
	}
	return nil
}

// deadLetters records rejected rows.
type deadLetters struct {
	mu   sync.Mutex
	rows []core.DeadLetter
}

func (d *deadLetters) Reject(_ context.Context, l core.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows = append(d.rows, l)
	return nil
}

func itoa(i int) string { return fmt.Sprint(i) }

func atoi(s string) int {
	var n int
	fmt.Sscan(strings.SplitN(s, ":", 2)[0], &n)
	return n
}

// newChecked builds a transform with DefaultConfig changed by cfg, whose
// memory is checked to be all released when the test ends, and its dead
// letters.
func newChecked(t *testing.T, cfg func(c *Config)) (*Transform, *memory.CheckedAllocator, *deadLetters) {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	c := DefaultConfig()
	cfg(&c)
	dl := &deadLetters{}
	tr, err := New(c, mem, nil, dl)
	if err != nil {
		t.Fatal(err)
	}
	return tr, mem, dl
}
