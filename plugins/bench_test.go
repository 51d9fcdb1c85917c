package plugins_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
)

// BenchmarkSink runs the same pipeline, 1 M generated rows (4 units, batches
// of 65536) into the csv sink, with the sink built in and run out of process
// (external:builtin:csv); rows/s, the run's throughput once the components
// are built (BenchmarkHandshake measures starting a plugin), is the figure to
// compare, with cpu-s/op (CPU time of etl and the plugin together, starting
// and stopping included) and host-cpu-s/op and plugin-cpu-s/op (each side's
// CPU time during the run alone: the cost of moving 1 M rows). The discard
// sink, which does nothing with its batches, shows what the crossing itself
// costs. BenchmarkSinkRatio compares the two csv sinks run by run.
//
//	go test -run - -bench Sink -benchtime 5x ./plugins
func BenchmarkSink(b *testing.B) {
	for _, sink := range []string{"csv", "external:builtin:csv", "discard", "external:builtin:discard"} {
		b.Run(sink, func(b *testing.B) {
			var total sinkRun
			var best time.Duration
			for i := range b.N {
				r := runSink(b, sink, i)
				total.add(r)
				if best == 0 || r.took < best {
					best = r.took
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/total.took.Seconds(), "rows/s")
			// The best run: on a machine shared with other work, the least disturbed.
			b.ReportMetric(float64(benchRows)/best.Seconds(), "best-rows/s")
			// CPU time, which other work on the machine does not inflate as
			// it does wall time.
			b.ReportMetric(total.cpu.Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(total.host.Seconds()/float64(b.N), "host-cpu-s/op")
			b.ReportMetric(total.plugin.Seconds()/float64(b.N), "plugin-cpu-s/op")
		})
	}
}

// BenchmarkSinkRatio runs BenchmarkSink's csv pipeline built in and out of
// process back to back, b.N pairs, and reports the median of the pairs'
// throughput ratios (external/built-in): on a machine shared with other work,
// both runs of a pair see about the same load, which the ratio of separate
// averages does not.
//
//	go test -run - -bench SinkRatio -benchtime 10x ./plugins
func BenchmarkSinkRatio(b *testing.B) {
	ratios := make([]float64, 0, b.N)
	for i := range b.N {
		in := runSink(b, "csv", i)
		ext := runSink(b, "external:builtin:csv", i)
		ratios = append(ratios, in.took.Seconds()/ext.took.Seconds())
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
}

// benchRows is the rows of BenchmarkSink's pipeline.
const benchRows = 1_000_000

// sinkRun is what runSink measured.
type sinkRun struct {
	took         time.Duration // the run's wall time
	host, plugin time.Duration // each side's CPU time during the run
	cpu          time.Duration // both sides' CPU time, start and stop included
}

func (r *sinkRun) add(o sinkRun) {
	r.took += o.took
	r.host += o.host
	r.plugin += o.plugin
	r.cpu += o.cpu
}

// runSink builds and runs BenchmarkSink's pipeline into sink.
func runSink(b *testing.B, sink string, i int) sinkRun {
	dir := b.TempDir()
	src := fmt.Sprintf(`version: 1
name: bench
state: %[1]s/state
source:
  plugin: generate
  config: { units: 4, rows: %[2]d }
sinks:
  - plugin: %[3]s
    config: %[4]s
`, dir, benchRows/4, sink, sinkConfig(sink, dir, i))
	p := loadPipeline(b, filepath.Join(dir, "p.yaml"), src)
	store, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	self0, children0 := cpuTimes()
	pl, err := core.Build(context.Background(), p, nil)
	if err != nil {
		b.Fatal(err)
	}
	plugin0 := runningChildrenCPU() // first: reading /proc takes a few ms
	start, host0 := time.Now(), self()
	sum, err := pl.Run(context.Background(), core.RunOptions{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	r := sinkRun{took: time.Since(start), host: self() - host0}
	r.plugin = runningChildrenCPU() - plugin0
	if err := pl.Close(); err != nil {
		b.Fatal(err)
	}
	self1, children1 := cpuTimes() // the plugin has exited: its time is counted
	r.cpu = self1 - self0 + children1 - children0
	if sum.Rows() != benchRows {
		b.Fatalf("got %d rows, want %d", sum.Rows(), benchRows)
	}
	return r
}

func self() time.Duration {
	s, _ := cpuTimes()
	return s
}

// sinkConfig is the config section of BenchmarkSink's sink, written under dir.
func sinkConfig(sink, dir string, i int) string {
	if strings.HasSuffix(sink, "discard") {
		return "{}"
	}
	return fmt.Sprintf("{ path: %s/out-%d }", dir, i)
}

// BenchmarkHandshake is the cost of opening an external sink: start the
// process, go-plugin's handshake with AutoMTLS (and the SHA-256 check of a
// plugin recorded in a manifest), the spec and configure calls; and closing it.
func BenchmarkHandshake(b *testing.B) {
	for _, c := range []struct{ name, ref string }{
		{"builtin-csv", "builtin:csv"},
		{"jsonl-checksummed", jsonlBin},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				s := openSink(b, c.ref, "path: "+b.TempDir(), memory.DefaultAllocator)
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
