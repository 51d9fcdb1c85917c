package plugins_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// heapPeak samples the Go heap in use until stop is called, which returns the
// highest value seen above the value at the start.
func heapPeak() (stop func() uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
					peak.Store(ms.HeapInuse - base)
				}
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// childPeakRSS returns the peak resident memory (VmHWM) of this process's
// child running exe, from Linux's /proc; ok is false elsewhere.
func childPeakRSS(t *testing.T, exe string) (bytes int64, ok bool) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return 0, false
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		if link, err := os.Readlink(filepath.Join(d, "exe")); err != nil || link != exe {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		f, err := os.Open(filepath.Join(d, "status"))
		if err != nil {
			continue
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, found := strings.CutPrefix(sc.Text(), "VmHWM:"); found {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				if err == nil {
					return kb << 10, true
				}
			}
		}
	}
	t.Fatalf("no child process running %s", exe)
	return 0, false
}

// stringRecord returns a record of n rows of size bytes each.
func stringRecord(mem memory.Allocator, n, size int) arrow.RecordBatch {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	v := strings.Repeat("x", size)
	for range n {
		b.Append(v)
	}
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{col}, int64(n))
}

// A slow sink plugin holds the writer back: Write blocks once a bounded
// number of bytes are unanswered, so memory on both sides stays bounded
// however much is written.
func TestSlowSinkBackPressure(t *testing.T) {
	const (
		batches = 100
		delay   = 10 * time.Millisecond
	)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := stringRecord(mem, 2048, 1024) // 2 MiB a batch, 200 MiB in all
	defer rec.Release()
	s := openSink(t, faultyBin, "write_delay: "+delay.String(), mem)
	defer s.Close()

	stop := heapPeak()
	start := time.Now()
	for i := range batches {
		if err := s.Write(context.Background(), core.Batch{Stream: "s", Unit: "u", Record: rec}); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
	}
	if _, err := s.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	peak := stop()

	// At most DefaultMaxInFlight (8 MiB: 4 batches) may be unanswered, so the
	// writer waits for all but a few of the plugin's delays.
	if min := (batches - 5) * delay; took < min {
		t.Errorf("writing %d batches to a sink taking %s each took %s, want at least %s (the writer must wait)", batches, delay, took, min)
	}
	if peak > 64<<20 {
		t.Errorf("host heap grew by %d MiB while writing 200 MiB, want under 64 MiB", peak>>20)
	}
	if rss, ok := childPeakRSS(t, faultyBin); ok {
		t.Logf("plugin's peak RSS: %d MiB", rss>>20)
		if rss > 160<<20 {
			t.Errorf("plugin's peak RSS is %d MiB after receiving 200 MiB, want under 160 MiB", rss>>20)
		}
	}
	t.Logf("%d batches of 2 MiB in %s; host heap peak +%d MiB", batches, took.Round(time.Millisecond), peak>>20)
}

// A slow pipeline holds a source plugin back: gRPC's flow control makes the
// plugin's emit block, so an endless source does not fill the plugin's
// memory while the host takes one batch at a time.
func TestSlowHostBackPressure(t *testing.T) {
	src := openSource(t, faultyBin, "generate: {endless: true, batch_size: 16384, columns: [{name: s, type: string}, {name: l, type: list_float64}]}", nil)
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := heapPeak()
	var n, bytes int64
	err := src.Read(ctx, "unit-0001", nil, func(_ context.Context, b core.Batch) error {
		defer b.Release()
		n++
		for _, c := range b.Record.Columns() {
			for _, buf := range c.Data().Buffers() {
				if buf != nil {
					bytes += int64(buf.Len())
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
		if n == 150 {
			cancel()
		}
		return nil
	})
	peak := stop()
	if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Fatalf("got %v, want an error wrapping context.Canceled", err)
	}
	if rss, ok := childPeakRSS(t, faultyBin); ok {
		t.Logf("plugin's peak RSS: %d MiB", rss>>20)
		if rss > 160<<20 {
			t.Errorf("source plugin's peak RSS is %d MiB, want under 160 MiB: a slow host must make it wait", rss>>20)
		}
	}
	if peak > 64<<20 {
		t.Errorf("host heap grew by %d MiB, want under 64 MiB", peak>>20)
	}
	t.Logf("read %d batches (%d MiB) at the host's pace; host heap peak +%d MiB", n, bytes>>20, peak>>20)
}
