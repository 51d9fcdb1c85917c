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

// liveOutput is BenchmarkLiveLoad's output as go test prints it: the 1hz
// line as the benchmark words it now, the 10hz line as it did before.
const liveOutput = `goos: linux
BenchmarkLiveLoad-2   	       1	4863938873 ns/op	         0.2442 cores	        31.00 lost-10hz	         0 lost-1hz	      1914 p50-ms-10hz	      1302 p50-ms-1hz	      2169 p99-ms-10hz	      2393 p99-ms-1hz	      2291 p99-produced-ms-10hz	      2655 p99-produced-ms-1hz	       184.1 peak-RSS-MiB	       201.3 sched-p99-ms
--- BENCH: BenchmarkLiveLoad-2
    live_bench_test.go:226: 1hz: 1000 devices at 1 Hz for 5s: 4000 messages sent before the stop (4036 in all), 4000 rows released by reorder (0 of messages sent after the stop), 4000 committed, 0 dead letters (late), 0 lost at the stop; counts map[]
    live_bench_test.go:228: 1hz: latency arrival→release p50 1.301999166s p99 2.392666359s max 2.416168052s; production→release p50 2.232292464s p99 2.654846471s max 2.659521674s; run error <nil>
    live_bench_test.go:202: 10hz: 100 devices at 10 Hz for 5s: 3898 messages sent, 3871 rows released by reorder (0 without a recorded arrival), 3869 committed, 2 dead letters (late), 27 lost in flight at stop; counts map[]
PASS
`

func TestParseBench(t *testing.T) {
	lines := parseBench(liveOutput + "BenchmarkSink/external:builtin:csv-2  3  1 ns/op  1.5e+06 rows/s  0.8 cpu-s/op\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %+v", len(lines), lines)
	}
	if l := lines[0]; l.Name != "BenchmarkLiveLoad" || l.N != 1 || l.Metrics["cores"] != 0.2442 || l.Metrics["peak-RSS-MiB"] != 184.1 || l.Metrics["p99-ms-1hz"] != 2393 {
		t.Errorf("got %+v", l)
	}
	if l := lines[1]; l.Name != "BenchmarkSink/external:builtin:csv" || l.Metrics["rows/s"] != 1.5e6 || l.Metrics["cpu-s/op"] != 0.8 {
		t.Errorf("got %+v", l)
	}
}

func TestParseLive(t *testing.T) {
	metrics := parseBench(liveOutput)[0].Metrics
	want := []liveJob{
		{Name: "1hz", Devices: 1000, Hz: 1, Sent: 4000, Released: 4000, Committed: 4000, P50: 1302, P99: 2393, P99Produced: 2655},
		{Name: "10hz", Devices: 100, Hz: 10, Sent: 3898, Released: 3871, Committed: 3869, Late: 2, Losses: 31, P50: 1914, P99: 2169, P99Produced: 2291},
	}
	check := func(metrics map[string]float64, want []liveJob) {
		t.Helper()
		jobs, err := parseLive(liveOutput, metrics)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != len(want) {
			t.Fatalf("got %+v, want %+v", jobs, want)
		}
		for i := range want {
			if jobs[i] != want[i] {
				t.Errorf("got %+v, want %+v", jobs[i], want[i])
			}
		}
	}
	check(metrics, want)
	// Without the lost-* metrics, losses are sent − late − committed.
	delete(metrics, "lost-1hz")
	delete(metrics, "lost-10hz")
	want[1].Losses = 3898 - 2 - 3869
	check(metrics, want)

	if _, err := parseLive("PASS\n", metrics); err == nil {
		t.Error("got no error for output without pipeline lines")
	}
	if _, err := parseLive(liveOutput, map[string]float64{"cores": 1}); err == nil || !strings.Contains(err.Error(), "p99-ms-1hz") {
		t.Errorf("got %v, want an error naming the missing latency metric", err)
	}
	_, err := parseLive("1hz: 1000 devices at 1 Hz for 5s: 4000 messages sent, 4000 rows released, 4000 committed\n", metrics)
	if err == nil || !strings.Contains(err.Error(), "dead letters") {
		t.Errorf("got %v, want an error naming the missing count", err)
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
