//go:build linux

package main

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuick runs every workload end to end at the -quick sizes, once, writing
// into a copy of the document's markers, so that the harness cannot rot: real
// etl processes, the emulators, DuckDB through Node, the go test benchmarks.
func TestQuick(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "benchmarks.md")
	var text strings.Builder
	text.WriteString("# kept above\n\n")
	for _, w := range workloads {
		begin, end := markers(w.id)
		text.WriteString(begin + "\nold " + w.id + "\n" + end + "\n\n")
	}
	text.WriteString("kept below\n")
	if err := os.WriteFile(doc, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	reports, err := run(context.Background(), options{Runs: 1, Quick: true, Write: true, Doc: doc, Work: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, log.String())
	}
	if len(reports) != len(workloads) {
		t.Fatalf("got %d reports, want %d", len(reports), len(workloads))
	}
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# kept above\n", "kept below\n"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("the document lost %q:\n%s", want, got)
		}
	}
	for _, r := range reports {
		if strings.Contains(string(got), "old "+r.ID) {
			t.Errorf("%s: the old text between the markers is still there", r.ID)
		}
		begin, end := markers(r.ID)
		if !strings.Contains(string(got), begin+"\n"+r.markdown()+end) {
			t.Errorf("%s: the document does not hold its section between its markers", r.ID)
		}
		if len(r.Table) < 2 || len(r.Goals) == 0 {
			t.Errorf("%s: got %d table rows and %d goals, want a header, figures and goals", r.ID, len(r.Table), len(r.Goals))
		}
		for _, row := range r.Table[1:] {
			for _, c := range row {
				if strings.Contains(c, "NaN") || strings.Contains(c, "Inf") {
					t.Errorf("%s: table cell %q is not a number", r.ID, c)
				}
			}
		}
		if r.Machine.Cores < 1 || r.Machine.Go == "" || r.Machine.Commit == "" || r.Runs != 1 {
			t.Errorf("%s: machine %+v, runs %d", r.ID, r.Machine, r.Runs)
		}
	}
}

func TestRunRejectsUnknownWorkload(t *testing.T) {
	_, err := run(context.Background(), options{Runs: 1, Only: []string{"p9"}})
	if err == nil || !strings.Contains(err.Error(), `unknown workload "p9"`) {
		t.Errorf("got %v, want an error naming p9", err)
	}
}

func TestWriteDocNeedsMarkers(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "b.md")
	if err := os.WriteFile(doc, []byte("# no markers\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeDoc(doc, []report{{ID: "p2", Title: "x"}})
	if err == nil || !strings.Contains(err.Error(), "<!-- bench:p2 begin") {
		t.Errorf("got %v, want an error naming the missing marker", err)
	}
}

func TestSample(t *testing.T) {
	for _, c := range []struct {
		s      sample
		median float64
		spread string
	}{
		{sample{3, 1, 2}, 2, "2.0 (1.0–3.0)"},
		{sample{4, 1, 2, 3}, 2.5, "2.5 (1.0–4.0)"},
		{sample{7}, 7, "7.0"},
	} {
		if got := c.s.median(); got != c.median {
			t.Errorf("median of %v: got %v, want %v", c.s, got, c.median)
		}
		if got := c.s.spread("%.1f"); got != c.spread {
			t.Errorf("spread of %v: got %q, want %q", c.s, got, c.spread)
		}
	}
	if !math.IsNaN(sample{}.median()) {
		t.Error("median of no values: want NaN")
	}
}

// liveOutput is BenchmarkLiveLoad's output as go test prints it.
const liveOutput = `goos: linux
BenchmarkLiveLoad-2   	       1	60472951464 ns/op	         0.2049 cores	       111.0 lost-10hz	         0 lost-1hz	      2000 p50-ms-10hz	      2008 p50-ms-1hz	      2229 p99-ms-10hz	      2404 p99-ms-1hz	      2355 p99-produced-ms-10hz	      2561 p99-produced-ms-1hz	       262.1 peak-RSS-MiB
--- BENCH: BenchmarkLiveLoad-2
    live_bench_test.go:202: 1hz: 1000 devices at 1 Hz for 1m0s: 60000 messages sent, 60000 rows released by reorder (0 without a recorded arrival), 60000 committed, 0 dead letters (late), 0 lost in flight at stop; counts map[]
    live_bench_test.go:204: 1hz: latency arrival→release p50 2.007886219s p99 2.404146226s max 2.469741881s; production→release p50 2.132843344s p99 2.561291566s max 2.585971897s; run error <nil>
    live_bench_test.go:202: 10hz: 100 devices at 10 Hz for 1m0s: 59914 messages sent, 59803 rows released by reorder (0 without a recorded arrival), 59801 committed, 2 dead letters (late), 111 lost in flight at stop; counts map[]
PASS
`

func TestParseBench(t *testing.T) {
	lines := parseBench(liveOutput + "BenchmarkSink/external:builtin:csv-2  3  1 ns/op  1.5e+06 rows/s  0.8 cpu-s/op\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %+v", len(lines), lines)
	}
	if l := lines[0]; l.Name != "BenchmarkLiveLoad" || l.N != 1 || l.Metrics["cores"] != 0.2049 || l.Metrics["peak-RSS-MiB"] != 262.1 || l.Metrics["p99-ms-1hz"] != 2404 {
		t.Errorf("got %+v", l)
	}
	if l := lines[1]; l.Name != "BenchmarkSink/external:builtin:csv" || l.Metrics["rows/s"] != 1.5e6 || l.Metrics["cpu-s/op"] != 0.8 {
		t.Errorf("got %+v", l)
	}
}

func TestParseLive(t *testing.T) {
	metrics := parseBench(liveOutput)[0].Metrics
	jobs, err := parseLive(liveOutput, metrics)
	if err != nil {
		t.Fatal(err)
	}
	want := []liveJob{
		{Name: "1hz", Devices: 1000, Hz: 1, Sent: 60000, Released: 60000, Committed: 60000, P50: 2008, P99: 2404, P99Produced: 2561},
		{Name: "10hz", Devices: 100, Hz: 10, Sent: 59914, Released: 59803, Committed: 59801, Late: 2, Losses: 111, P50: 2000, P99: 2229, P99Produced: 2355},
	}
	if len(jobs) != len(want) {
		t.Fatalf("got %+v, want %+v", jobs, want)
	}
	for i := range want {
		if jobs[i] != want[i] {
			t.Errorf("got %+v, want %+v", jobs[i], want[i])
		}
	}
	if _, err := parseLive("PASS\n", metrics); err == nil {
		t.Error("got no error for output without pipeline lines")
	}
	if _, err := parseLive(liveOutput, map[string]float64{"cores": 1}); err == nil || !strings.Contains(err.Error(), "p99-ms-1hz") {
		t.Errorf("got %v, want an error naming the missing latency metric", err)
	}
}

func TestParseParquetBench(t *testing.T) {
	out := `etl run, generate -> parquet (zstd), 1000000 rows, 1 unit(s), batches of 65536, all CPUs
  wall      1.52s (0.66 M rows/s)
  cpu       2.403s (0.42 M rows per CPU-second)
  output    3 file(s), 58000000 bytes (58.0 bytes/row)
  peak RSS  151.5 MiB
`
	m, err := parseParquetBench(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Wall != 1520*time.Millisecond || m.CPU != 2403*time.Millisecond || m.RSS != int64(151.5*(1<<20)) {
		t.Errorf("got %+v", m)
	}
	if _, err := parseParquetBench("nothing"); err == nil {
		t.Error("got no error for output without figures")
	}
}
