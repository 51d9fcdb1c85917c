package azumio_test

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// The benchmarks export 1,000 pages of 1,000 steps check-ins (10 users × 100,000)
// to zstd Parquet: from a raw archive (replay) and from the emulator over
// loopback. Each run is a child process (this test binary, see TestMain), so
// that its peak RSS is its own; the emulator stays in the benchmark's process.
//
//	go test ./sources/azumio -run XXX -bench . -benchtime 3x
var (
	benchUsers    = flag.Int("azumio.users", 10, "users of the benchmarks")
	benchCheckins = flag.Int("azumio.checkins", 100_000, "steps check-ins per user of the benchmarks")
)

// benchPipeline is the benchmarks' pipeline: the source settings come from
// ${SOURCE} (a flow mapping).
const benchPipeline = `version: 1
name: azumio-bench
state: ${DIR}/state
concurrency: ${CONC:-2}
commit: { interval: 1m }
source:
  plugin: azumio
  config: SOURCE
sinks:
  - plugin: parquet
    config: { path: "${DIR}/parquet", partition_by: [stream], compression: zstd, integer_encoding: "${INT_ENC:-plain}", float_encoding: "${FLOAT_ENC:-plain}" }
`

// benchEmulator starts the benchmarks' emulator: steps only, no fragments.
func benchEmulator(b *testing.B) *azumiotest.Server {
	b.Helper()
	return azumiotest.NewServer(b, azumiotest.Options{Seed: 1, Users: *benchUsers, Checkins: *benchCheckins,
		Types: []string{"steps"}, NoFragments: true})
}

// benchRun is what one run of a benchmark took.
type benchRun struct {
	wall     time.Duration
	childCPU time.Duration // user + system time of the pipeline's process
	selfCPU  time.Duration // of this process meanwhile (the emulator)
	rss      int64         // the pipeline process's peak RSS, bytes
	// idle is the pipeline's processor time (GOMAXPROCS × wall, in
	// seconds) that had no goroutine to run: what its own structure left
	// unused, whatever else the machine ran.
	idle float64
	// What the pipeline's process allocated on the heap (bytes), its
	// garbage collections, and the GC's processor time (an estimate of
	// the runtime's, in seconds).
	allocs, gcs, gcCPU float64
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runBenchChild runs the pipeline with source settings src in a child process
// and returns what it took.
func runBenchChild(b *testing.B, dir, src string, env map[string]string) benchRun {
	b.Helper()
	os.RemoveAll(filepath.Join(dir, "state"))
	os.RemoveAll(filepath.Join(dir, "parquet"))
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(strings.Replace(benchPipeline, "config: SOURCE", "config: "+src, 1)), 0o644); err != nil {
		b.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "AZUMIO_TEST_PIPELINE="+filepath.Join(dir, "p.yaml"), "DIR="+dir)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "AZUMIO_TEST_IDLE=1")
	before := cpuSelf()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := benchRun{wall: time.Since(start), selfCPU: cpuSelf() - before}
	if err != nil {
		b.Fatalf("pipeline: %v\n%s", err, out)
	}
	var total float64
	if _, err := fmt.Sscanf(string(out[bytes.LastIndex(out, []byte("idle="))+1:]), "dle=%g of %g cpu-s allocs=%g gcs=%g gc=%g",
		&r.idle, &total, &r.allocs, &r.gcs, &r.gcCPU); err != nil {
		b.Fatalf("pipeline: no idle time and GC figures in its output: %v\n%s", err, out)
	}
	r.childCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	r.rss = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	return r
}

// benchLoop runs the pipeline b.N times and reports the check-ins per second
// of wall time and, since the machine may be shared, per second of CPU time
// (the pipeline's, plus the emulator's for the loopback benchmark), the
// pipeline process's peak RSS, the processor time it left idle per run (see
// benchRun.idle), what it allocated and collected per run, and the size of
// the Parquet files it wrote.
func benchLoop(b *testing.B, dir, src string, env map[string]string, emulatorCPU bool) {
	b.ResetTimer()
	var sum benchRun
	var size int64
	for range b.N {
		r := runBenchChild(b, dir, src, env)
		size = treeSize(b, filepath.Join(dir, "parquet"))
		sum.wall += r.wall
		sum.childCPU += r.childCPU
		sum.selfCPU += r.selfCPU
		sum.rss = max(sum.rss, r.rss)
		sum.idle += r.idle
		sum.allocs += r.allocs
		sum.gcs += r.gcs
		sum.gcCPU += r.gcCPU
	}
	n := float64(*benchUsers * *benchCheckins * b.N)
	cpu := sum.childCPU
	if emulatorCPU {
		cpu += sum.selfCPU
	}
	b.ReportMetric(n/sum.wall.Seconds(), "checkins/s")
	b.ReportMetric(n/cpu.Seconds(), "checkins/cpu-s")
	b.ReportMetric(float64(sum.rss)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(sum.idle/float64(b.N), "idle-cpu-s/op")
	b.ReportMetric(sum.allocs/float64(b.N)/(1<<20), "alloc-MiB/op")
	b.ReportMetric(sum.gcs/float64(b.N), "gcs/op")
	b.ReportMetric(sum.gcCPU/float64(b.N), "gc-cpu-s/op")
	b.ReportMetric(float64(size)/(1<<20), "parquet-MiB")
	b.ReportMetric(0, "ns/op")
}

// treeSize returns the bytes of the files under dir.
func treeSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		n += info.Size()
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkReplayToParquet replays an archive, zstd (the default), gzip or
// uncompressed (archive_compression: none), into Parquet with the sink's
// default encodings or, for the variants named so, its integer_encoding:
// delta (DELTA_BINARY_PACKED integers and timestamps) and float_encoding:
// byte_stream_split (split doubles).
func BenchmarkReplayToParquet(b *testing.B) {
	srv := benchEmulator(b)
	for _, v := range []struct{ name, archive, intEnc, floatEnc string }{
		{"zstd", "zstd", "plain", "plain"},
		{"gzip", "gzip", "plain", "plain"},
		{"none", "none", "plain", "plain"},
		{"zstd+delta", "zstd", "delta", "plain"},
		{"zstd+delta+split", "zstd", "delta", "byte_stream_split"},
		{"none+delta+split", "none", "delta", "byte_stream_split"},
	} {
		b.Run(v.name, func(b *testing.B) {
			dir := b.TempDir()
			archive := filepath.Join(dir, "archive")
			cfg := fmt.Sprintf(`{ base_url: %q, client_id: %s, client_secret: %s, tokens: %q, types: [steps], requests_per_second: 0, archive: %q, archive_compression: %s, api: { page_size: 1000 } }`,
				srv.URL(), srv.ClientID(), srv.ClientSecret(), filepath.Join(dir, "tokens.json"), archive, v.archive)
			if err := srv.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
				b.Fatal(err)
			}
			runBenchChild(b, dir, cfg, nil) // writes the archive
			replay := fmt.Sprintf(`{ replay: %q, types: [steps], api: { page_size: 1000 } }`, archive)
			benchLoop(b, dir, replay, map[string]string{"INT_ENC": v.intEnc, "FLOAT_ENC": v.floatEnc}, false)
		})
	}
}

func BenchmarkEmulatorToParquet(b *testing.B) {
	srv := benchEmulator(b)
	dir := b.TempDir()
	if err := srv.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`{ base_url: %q, client_id: %s, client_secret: %s, tokens: %q, types: [steps], requests_per_second: 0, api: { page_size: 1000 } }`,
		srv.URL(), srv.ClientID(), srv.ClientSecret(), filepath.Join(dir, "tokens.json"))
	benchLoop(b, dir, cfg, nil, true)
}
