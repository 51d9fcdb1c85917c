//go:build linux

// Command parquet measures the Parquet sink end to end, in a real `etl run`
// process: it builds cmd/etl, writes a pipeline that exports rows of an
// Azumio-like schema (25 columns with the provenance column, two of them
// lists) from the built-in `generate` source into zstd Parquet, runs it as a
// child process and reports the rows per second, the bytes per row and the
// child's peak resident memory (getrusage's ru_maxrss). It reads the files
// back (their footers) to check that every row is there.
//
// From the repository root:
//
//	go run ./bench/parquet                      # 1 Mi rows, GOMAXPROCS of the machine
//	go run ./bench/parquet -procs 1 -max-rss 200
//
// With -max-rss it exits with status 1 when the peak RSS is above that many
// MiB. The pipeline it runs is printed with -v; the child inherits the
// environment, so GOMEMLIMIT=160MiB (say) applies to it.
//
// # What the peak RSS is made of
//
// Measured with a heap profile of the same pipeline in-process (1 Mi rows,
// GOMAXPROCS=1), the live heap peaks near 100 MiB: about 53 MiB are the
// source's record batches in flight (the runner queues 2 per unit being
// read, each 65,536 rows of these 25 columns is 13 MiB, plus the one being
// generated and the one being written), about 45 MiB the Parquet sink (the
// row group's compressed pages, one open page per column, zstd state). With
// the Go GC's default GOGC=100 the heap grows to twice the live heap between
// collections, hence a peak RSS near 200 MiB. Smaller batches (-batch 16384)
// or a soft memory limit (GOMEMLIMIT) bring it well under.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	pq "github.com/parquet-go/parquet-go"
)

// options are the harness's flags.
type options struct {
	Rows    int64  // rows in all
	Units   int    // units of the generate source, which share the rows
	Batch   int    // rows per batch
	Procs   int    // GOMAXPROCS of the child (0: the machine's)
	Etl     string // a built etl binary ("": go build ./cmd/etl)
	Dir     string // where the pipeline writes ("": a temporary directory, removed)
	Verbose bool
}

// result is what one run measured.
type result struct {
	Rows     int64         // rows read back from the files
	Files    int           // Parquet files written
	Bytes    int64         // their size
	Took     time.Duration // the child's wall time
	CPU      time.Duration // the child's user and system time
	PeakRSS  int64         // the child's peak resident set, in bytes
	Pipeline string        // the pipeline file run
}

func main() {
	var o options
	var maxRSS int64
	flag.Int64Var(&o.Rows, "rows", 1<<20, "rows to export")
	flag.IntVar(&o.Units, "units", 1, "units of the generate source (the rows are split among them)")
	flag.IntVar(&o.Batch, "batch", 65536, "rows per batch")
	flag.IntVar(&o.Procs, "procs", 0, "GOMAXPROCS of the etl process (0: all CPUs)")
	flag.StringVar(&o.Etl, "etl", "", "etl binary to run (default: built from ./cmd/etl)")
	flag.StringVar(&o.Dir, "dir", "", "directory for the state and the Parquet files (default: a temporary one, removed)")
	flag.Int64Var(&maxRSS, "max-rss", 0, "fail when the peak RSS is above this many MiB (0: no limit)")
	flag.BoolVar(&o.Verbose, "v", false, "print the pipeline and the etl output")
	flag.Parse()

	r, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/parquet:", err)
		os.Exit(2)
	}
	if o.Verbose {
		fmt.Printf("pipeline:\n%s\n", r.Pipeline)
	}
	fmt.Print(report(o, r))
	if maxRSS > 0 && r.PeakRSS > maxRSS<<20 {
		fmt.Fprintf(os.Stderr, "bench/parquet: peak RSS %.1f MiB is above -max-rss %d MiB\n", float64(r.PeakRSS)/(1<<20), maxRSS)
		os.Exit(1)
	}
}

// report renders r for people.
func report(o options, r result) string {
	procs := "all CPUs"
	if o.Procs > 0 {
		procs = fmt.Sprintf("GOMAXPROCS=%d", o.Procs)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "etl run, generate -> parquet (zstd), %d rows, %d unit(s), batches of %d, %s\n", r.Rows, o.Units, o.Batch, procs)
	fmt.Fprintf(&b, "  wall      %v (%.2f M rows/s)\n", r.Took.Round(time.Millisecond), float64(r.Rows)/r.Took.Seconds()/1e6)
	fmt.Fprintf(&b, "  cpu       %v (%.2f M rows per CPU-second)\n", r.CPU.Round(time.Millisecond), float64(r.Rows)/r.CPU.Seconds()/1e6)
	fmt.Fprintf(&b, "  output    %d file(s), %d bytes (%.1f bytes/row)\n", r.Files, r.Bytes, float64(r.Bytes)/float64(r.Rows))
	fmt.Fprintf(&b, "  peak RSS  %.1f MiB\n", float64(r.PeakRSS)/(1<<20))
	return b.String()
}

// azumioColumns are the generated columns after `unit`: ids, a version,
// labels, timestamps, measurements with nulls, a flag, and two lists.
const azumioColumns = `
      - { name: source, type: string }
      - { name: user_id, type: string }
      - { name: checkin_id, type: index }
      - { name: version, type: int32 }
      - { name: type, type: string }
      - { name: created_at, type: timestamp_ms }
      - { name: updated_at, type: timestamp_ms }
      - { name: timestamp, type: timestamp_ms }
      - { name: utc_offset_s, type: int32, unit: s }
      - { name: value, type: float64, nulls: 0.1 }
      - { name: value2, type: float64, nulls: 0.1 }
      - { name: steps, type: int64, unit: "1" }
      - { name: duration, type: float64, unit: s }
      - { name: calories, type: float64, unit: kcal }
      - { name: distance, type: float64, unit: m }
      - { name: heart_rate, type: float32, unit: 1/min }
      - { name: hr_min, type: float32, unit: 1/min }
      - { name: hr_max, type: float32, unit: 1/min }
      - { name: note, type: string, nulls: 0.95 }
      - { name: manual, type: bool }
      - { name: device, type: string, nulls: 0.05 }
      - { name: samples, type: list_float64, unit: 1/min, nulls: 0.25 }
      - { name: laps, type: list_float64, unit: s }
      - { name: day, type: date }`

// pipeline returns the pipeline file the harness runs.
func pipeline(o options, dir string) string {
	return fmt.Sprintf(`version: 1
name: parquet-bench
state: %q
concurrency: %d
commit: { interval: 1h }
source:
  plugin: generate
  config:
    seed: 1
    units: %d
    rows: %d
    batch_size: %d
    stream: azumio.checkins.steps
    columns:%s
sinks:
  - plugin: parquet
    config: { path: %q, partition_by: [stream], compression: zstd }
`, filepath.Join(dir, "state"), o.Units, o.Units, o.Rows/int64(o.Units), o.Batch, azumioColumns, filepath.Join(dir, "parquet"))
}

// run builds etl if needed, runs the pipeline in a child process and reads
// the files back.
func run(ctx context.Context, o options) (result, error) {
	if o.Units < 1 || o.Rows < int64(o.Units) || o.Rows%int64(o.Units) != 0 {
		return result{}, fmt.Errorf("-rows %d must be a multiple of -units %d", o.Rows, o.Units)
	}
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bench-parquet-")
		if err != nil {
			return result{}, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	etl := o.Etl
	if etl == "" {
		var err error
		if etl, err = buildEtl(ctx, dir); err != nil {
			return result{}, err
		}
	}
	r := result{Pipeline: pipeline(o, dir)}
	file := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(file, []byte(r.Pipeline), 0o644); err != nil {
		return result{}, err
	}
	cmd := exec.CommandContext(ctx, etl, "run", "--progress", "none", "--log-level", "warn", file)
	cmd.Env = os.Environ()
	if o.Procs > 0 {
		cmd.Env = append(cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", o.Procs))
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r.Took = time.Since(start)
	if o.Verbose {
		fmt.Printf("etl output:\n%s\n", out)
	}
	if err != nil {
		return result{}, fmt.Errorf("etl run: %v\n%s", err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r.PeakRSS = ru.Maxrss << 10 // KiB on Linux
	r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())

	err = filepath.WalkDir(filepath.Join(dir, "parquet"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		rows, size, err := footer(path)
		if err != nil {
			return err
		}
		r.Files++
		r.Rows += rows
		r.Bytes += size
		return nil
	})
	if err != nil {
		return result{}, fmt.Errorf("read back: %w", err)
	}
	if r.Rows != o.Rows {
		return result{}, fmt.Errorf("read back %d rows from %d file(s), want %d", r.Rows, r.Files, o.Rows)
	}
	return r, nil
}

// buildEtl builds cmd/etl of the module the working directory is in into
// dir and returns the binary's path.
func buildEtl(ctx context.Context, dir string) (string, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	etl := filepath.Join(dir, "etl")
	build := exec.CommandContext(ctx, "go", "build", "-o", etl, "./cmd/etl")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/etl in %s: %v\n%s", root, err, out)
	}
	return etl, nil
}

// footer returns the number of rows and the size of a Parquet file.
func footer(path string) (rows, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	pf, err := pq.OpenFile(f, fi.Size(), pq.SkipPageIndex(true), pq.SkipBloomFilters(true))
	if err != nil {
		return 0, 0, errors.Join(fmt.Errorf("%s", path), err)
	}
	return pf.NumRows(), fi.Size(), nil
}
