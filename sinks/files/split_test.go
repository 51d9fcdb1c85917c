package files

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// splitRecord has n rows whose user cycles through users in runs of run rows.
// Its note column is a string view when view, which compute.Take cannot take.
func splitRecord(mem memory.Allocator, n, run int, users []string, view bool) arrow.RecordBatch {
	noteType := arrow.DataType(arrow.BinaryTypes.String)
	if view {
		noteType = arrow.BinaryTypes.StringView
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "note", Type: noteType, Nullable: true},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	ids := b.Field(0).(*array.Int64Builder)
	us := b.Field(1).(*array.StringBuilder)
	tags := b.Field(2).(*array.ListBuilder)
	tagValues := tags.ValueBuilder().(*array.StringBuilder)
	for i := range n {
		ids.Append(int64(i))
		us.Append(users[(i/run)%len(users)])
		tags.Append(true)
		tagValues.Append(fmt.Sprint("t", i))
		switch nb := b.Field(3).(type) {
		case *array.StringViewBuilder:
			nb.Append(fmt.Sprint("note ", i))
		case *array.StringBuilder:
			nb.Append(fmt.Sprint("note ", i))
		}
	}
	return b.NewRecordBatch()
}

func TestSplitKeepsRowsOfEachPartitionInOrder(t *testing.T) {
	users := []string{"a", "b", "c"}
	tests := []struct {
		name       string
		run        int  // rows per run of one user
		view       bool // a column Take cannot take
		wantPieces int
	}{
		{"sorted", 100, false, 3},              // one run per user: slices
		{"long runs", 75, false, 4},            // runs of 75 rows: slices
		{"short runs", 25, false, 3},           // Take
		{"interleaved", 1, false, 3},           // Take
		{"interleaved, no Take", 1, true, 300}, // slices
		{"one partition", 100_000, false, 1},   // no split
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rec := splitRecord(mem, 300, tt.run, users, tt.view)

			dirs, codes, err := partitions(parseKeys(t, []string{"user"}), "s", "u", rec)
			if err != nil {
				t.Fatal(err)
			}
			if len(dirs) > 1 {
				pieces, err := split(context.Background(), mem, rec, dirs, codes)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range pieces {
					p.rec.Release()
				}
				if len(pieces) != tt.wantPieces {
					t.Errorf("got %d pieces, want %d", len(pieces), tt.wantPieces)
				}
			}

			// Through a Sink: each user's rows in their original order.
			want := map[string]string{}
			for i := range 300 {
				u := users[(i/tt.run)%len(users)]
				dir := "user=" + u
				if want[dir] == "" {
					want[dir] = "id|user|tags|note\n"
				}
				want[dir] += fmt.Sprintf("%d|%s|[\"t%d\"]|note %d\n", i, u, i, i)
			}
			for d := range want {
				want[d] += "end\n"
			}
			s := newSink(t, Options{PartitionBy: []string{"user"}, Mem: mem}, lines{})
			write(t, s, "s", "u", rec)
			commit(t, s)
			if got := contents(t, s.Root()); !reflect.DeepEqual(got, want) {
				t.Errorf("got %d partitions, want %d; mismatch:\n%s", len(got), len(want), diff(got, want))
			}
		})
	}
}

func diff(got, want map[string]string) string {
	var b strings.Builder
	for k, w := range want {
		if g := got[k]; g != w {
			fmt.Fprintf(&b, "%s: got %.200q, want %.200q\n", k, g, w)
		}
	}
	return b.String()
}

// BenchmarkSplit measures slicing runs of rows against one Take, by the
// average number of rows in a run, to set minRunRows:
//
//	go test -run XXX -bench Split ./sinks/files
func BenchmarkSplit(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	}, nil)
	const n, groups = 65536, 8
	mem := memory.NewGoAllocator()
	for _, run := range []int{1, 4, 16, 64, 256, 1024, 8192} {
		rb := array.NewRecordBuilder(mem, schema)
		for i := range n {
			rb.Field(0).(*array.Int64Builder).Append(int64(i))
			rb.Field(1).(*array.StringBuilder).Append(fmt.Sprintf("user-%d", (i/run)%groups))
			rb.Field(2).(*array.Float64Builder).Append(float64(i))
			rb.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(i))
		}
		rec := rb.NewRecordBatch()
		rb.Release()
		dirs, codes, err := partitions([]partKey{{name: "user", kind: keyColumn, column: "user"}}, "s", "u", rec)
		if err != nil {
			b.Fatal(err)
		}
		for _, way := range []string{"slices", "take"} {
			b.Run(fmt.Sprintf("run=%d/%s", run, way), func(b *testing.B) {
				for b.Loop() {
					var pieces []piece
					if way == "slices" {
						pieces = sliceRuns(rec, dirs, codes)
					} else if pieces, err = gather(context.Background(), mem, rec, dirs, codes); err != nil {
						b.Fatal(err)
					}
					for _, p := range pieces {
						p.rec.Release()
					}
				}
			})
		}
		rec.Release()
	}
}

// BenchmarkPartitions measures evaluating partition keys on a batch whose rows
// all fall in one partition, the common case.
func BenchmarkPartitions(b *testing.B) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "user", Type: arrow.BinaryTypes.String},
		{Name: "ts", Type: arrow.FixedWidthTypes.Timestamp_ms},
	}, nil)
	mem := memory.NewGoAllocator()
	rb := array.NewRecordBuilder(mem, schema)
	const n = 65536
	for i := range n {
		rb.Field(0).(*array.StringBuilder).Append("user-1")
		rb.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(1795000000000 + int64(i)))
	}
	rec := rb.NewRecordBatch()
	rb.Release()
	defer rec.Release()
	for _, keys := range [][]string{{"stream", "date"}, {"stream", "user"}} {
		b.Run(strings.Join(keys, ","), func(b *testing.B) {
			pk := make([]partKey, len(keys))
			for i, k := range keys {
				pk[i], _ = parseKey(k)
			}
			for b.Loop() {
				dirs, _, err := partitions(pk, "s", "u", rec)
				if err != nil || len(dirs) != 1 {
					b.Fatal(dirs, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
