package files

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// piece is the rows of a batch that belong to one partition directory. The
// piece owns one reference to rec.
type piece struct {
	dir string
	rec arrow.RecordBatch
}

// minRunRows is the average number of rows in a run of one partition below
// which split copies rows with one compute.Take rather than slicing every run.
// BenchmarkSplit (65536 rows, 4 columns, 8 partitions, 2 cores) puts the
// crossover between 16 rows (slices 5.0 ms, Take 2.2 ms) and 64 rows (slices
// 1.2 ms, Take 1.8 ms); beyond it, every slice is also one more Encode call.
const minRunRows = 64

// split cuts rec into pieces of one partition each. Rows that come in long runs
// (sorted by partition, a day boundary) are sliced, zero-copy; rows that
// interleave are reordered by partition with one Take (stable, so each
// partition keeps its rows' order) and then sliced, one piece per partition.
// codes gives each row's group, an index into dirs.
func split(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, dirs []string, codes []int32) ([]piece, error) {
	runs := 1
	for i := 1; i < len(codes); i++ {
		if codes[i] != codes[i-1] {
			runs++
		}
	}
	if runs == len(dirs) || len(codes) >= runs*minRunRows || !takeable(rec.Schema()) {
		return sliceRuns(rec, dirs, codes), nil
	}
	return gather(ctx, mem, rec, dirs, codes)
}

// takeable reports whether compute.Take supports every column of s: it lacks
// kernels for views, run-end encoding, sparse unions and small decimals.
func takeable(s *arrow.Schema) bool {
	for _, f := range s.Fields() {
		if !takeableType(f.Type) {
			return false
		}
	}
	return true
}

func takeableType(dt arrow.DataType) bool {
	switch dt := dt.(type) {
	case arrow.ListLikeType: // list, large list, fixed-size list, map (list views excluded below)
		if dt.ID() == arrow.LIST_VIEW || dt.ID() == arrow.LARGE_LIST_VIEW {
			return false
		}
		return takeableType(dt.Elem())
	case *arrow.StructType:
		for _, f := range dt.Fields() {
			if !takeableType(f.Type) {
				return false
			}
		}
		return true
	case *arrow.DictionaryType:
		return true // Take selects indices only
	case arrow.ExtensionType:
		return takeableType(dt.StorageType())
	}
	id := dt.ID()
	return arrow.IsPrimitive(id) || arrow.IsBaseBinary(id) || id == arrow.NULL ||
		id == arrow.FIXED_SIZE_BINARY || id == arrow.DECIMAL128 || id == arrow.DECIMAL256
}

func sliceRuns(rec arrow.RecordBatch, dirs []string, codes []int32) []piece {
	var out []piece
	start := 0
	for i := 1; i <= len(codes); i++ {
		if i == len(codes) || codes[i] != codes[start] {
			out = append(out, piece{dir: dirs[codes[start]], rec: rec.NewSlice(int64(start), int64(i))})
			start = i
		}
	}
	return out
}

// gather reorders rec's rows by group with one Take and slices the result.
func gather(ctx context.Context, mem memory.Allocator, rec arrow.RecordBatch, dirs []string, codes []int32) ([]piece, error) {
	// Counting sort of row indices by group.
	starts := make([]int, len(dirs)+1)
	for _, c := range codes {
		starts[c+1]++
	}
	for g := 1; g < len(starts); g++ {
		starts[g] += starts[g-1]
	}
	next := append([]int(nil), starts[:len(dirs)]...)
	order := make([]int32, len(codes))
	for i, c := range codes {
		order[next[c]] = int32(i)
		next[c]++
	}
	indices := array.NewInt32Data(array.NewData(arrow.PrimitiveTypes.Int32, len(order),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(order))}, nil, 0, 0))
	defer indices.Release()
	ctx = compute.WithAllocator(ctx, mem)
	in := compute.NewDatum(rec)
	defer in.Release()
	idx := compute.NewDatum(indices)
	defer idx.Release()
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), in, idx)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	sorted := out.(*compute.RecordDatum).Value
	pieces := make([]piece, len(dirs))
	for g := range dirs {
		pieces[g] = piece{dir: dirs[g], rec: sorted.NewSlice(int64(starts[g]), int64(starts[g+1]))}
	}
	return pieces, nil
}
