package asi

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	_ "github.com/etl-toolkit/etl/sinks/discard"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// BenchmarkHistoryToParquet exports the computed data and the preprocessed
// history of 100 devices × 2 h at 10 Hz (130 recorded minutes each, with the
// 5 minutes before and after) from an emulator over loopback HTTP to Parquet,
// in a child process, and reports rows/s and the child's peak RSS. The
// emulator runs in this process, on the same cores; rows/cpu-s counts the
// export's own CPU time only. The discard variant
// writes nothing, to show what the source alone costs. Run it with
//
//	go test ./sources/asi -run '^$' -bench HistoryToParquet -benchtime 1x
func BenchmarkHistoryToParquet(b *testing.B) {
	opts := asitest.DefaultOptions()
	opts.Devices, opts.Athletes, opts.Activities, opts.Session, opts.Rate = 100, 100, 1, 2*time.Hour, 10
	emu := asitest.NewServer(b, opts)
	b.Run("parquet", func(b *testing.B) { benchHistory(b, emu, true) })
	b.Run("discard", func(b *testing.B) { benchHistory(b, emu, false) })
}

func benchHistory(b *testing.B, emu *asitest.Server, parquet bool) {
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
%s`, filepath.Join(l.dir, "state"), src, sinkYAML(parquet, filepath.Join(l.dir, "out")))
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
		// 100 × 7800 s × (10 gnss + 1 ecg + 0.2 device) + 50 pwr and 33 imu devices × 7800 + 100 time frames.
		rows := 100*7800*11.2 + 83*7800 + 100
		if parquet {
			var got float64
			for _, stream := range []string{"asi.computed", "asi.preprocessed.gnss", "asi.preprocessed.ecg", "asi.preprocessed.pwr", "asi.preprocessed.device", "asi.preprocessed.imu"} {
				got += num(l.query(`SELECT count(*) AS n FROM ` + l.parquet(stream))[0]["n"])
			}
			if got != rows {
				b.Errorf("got %v rows, want %v", got, rows)
			}
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		b.ReportMetric(rows/elapsed.Seconds(), "rows/s")
		b.ReportMetric(rows, "rows")
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
		// The export's own CPU time (the emulator's is not in it).
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		b.ReportMetric(rows/cpu.Seconds(), "rows/cpu-s")
		b.ReportMetric(elapsed.Seconds(), "s/export")
		b.StartTimer()
	}
}

func sinkYAML(parquet bool, out string) string {
	if parquet {
		return fmt.Sprintf("  - plugin: parquet\n    config: { path: %s }\n", out)
	}
	return "  - plugin: discard\n"
}
