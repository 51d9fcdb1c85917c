package asi

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// BenchmarkHistoryToParquet exports the computed data and the preprocessed
// history of 100 devices × 2 h at 10 Hz (130 recorded minutes each, with the
// 5 minutes before and after) from an emulator over loopback HTTP to Parquet,
// in a child process, and reports rows/s and the child's peak RSS. The
// emulator runs in this process, on the same cores. Run it with
//
//	go test ./sources/asi -run '^$' -bench HistoryToParquet -benchtime 1x
func BenchmarkHistoryToParquet(b *testing.B) {
	opts := asitest.DefaultOptions()
	opts.Devices, opts.Athletes, opts.Activities, opts.Session, opts.Rate = 100, 100, 1, 2*time.Hour, 10
	emu := asitest.NewServer(b, opts)
	for b.Loop() {
		l := &lake{t: b, emu: emu, dir: b.TempDir()}
		src := l.source(`
streams: [computed, preprocessed]
since: 2026-03-01T00:00:00Z
page_size: 3000`)
		p := fmt.Sprintf(`version: 1
name: asi-bench
state: %s
concurrency: 4
source:
  plugin: asi
  config:%s
sinks:
  - plugin: parquet
    config:
      path: %s
      partition_by: [stream]
`, filepath.Join(l.dir, "state"), src, filepath.Join(l.dir, "out"))
		file := filepath.Join(l.dir, "p.yaml")
		if err := os.WriteFile(file, []byte(p), 0o644); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		cmd := l.runChild(b, file)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("export: %v\n%s", err, cmd.Stderr)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		var rows float64
		for _, stream := range []string{"asi.computed", "asi.preprocessed.gnss", "asi.preprocessed.ecg", "asi.preprocessed.pwr", "asi.preprocessed.device", "asi.preprocessed.imu"} {
			rows += num(l.query(`SELECT count(*) AS n FROM ` + l.parquet(stream))[0]["n"])
		}
		// 100 × 7800 s × (10 gnss + 1 ecg + 0.2 device) + 50 pwr and 33 imu devices × 7800 + 100 time frames.
		if want := 100*7800*11.2 + 83*7800 + 100; rows != want {
			b.Errorf("got %v rows, want %v", rows, want)
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		b.ReportMetric(rows/elapsed.Seconds(), "rows/s")
		b.ReportMetric(rows, "rows")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
		b.ReportMetric(elapsed.Seconds(), "s/export")
		b.StartTimer()
	}
}
