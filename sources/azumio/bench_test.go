package azumio_test

import (
	"flag"
	"fmt"
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
    config: { path: "${DIR}/parquet", partition_by: [stream], compression: zstd }
`

// benchEmulator starts the benchmarks' emulator: steps only, no fragments.
func benchEmulator(b *testing.B) *azumiotest.Server {
	b.Helper()
	return azumiotest.NewServer(b, azumiotest.Options{Seed: 1, Users: *benchUsers, Checkins: *benchCheckins,
		Types: []string{"steps"}, NoFragments: true})
}

// runBenchChild runs the pipeline with source settings src in a child process
// and returns how long it took and its peak RSS.
func runBenchChild(b *testing.B, dir, src string, env map[string]string) (time.Duration, int64) {
	b.Helper()
	os.RemoveAll(filepath.Join(dir, "state"))
	os.RemoveAll(filepath.Join(dir, "parquet"))
	writeFile(&testing.T{}, dir, "p.yaml", strings.Replace(benchPipeline, "config: SOURCE", "config: "+src, 1))
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "AZUMIO_TEST_PIPELINE="+filepath.Join(dir, "p.yaml"), "DIR="+dir)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("pipeline: %v\n%s", err, out)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	return took, rss
}

func reportBench(b *testing.B, took time.Duration, rss int64) {
	n := float64(*benchUsers * *benchCheckins)
	b.ReportMetric(n/took.Seconds(), "checkins/s")
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkReplayToParquet(b *testing.B) {
	srv := benchEmulator(b)
	dir := b.TempDir()
	archive := filepath.Join(dir, "archive")
	cfg := fmt.Sprintf(`{ base_url: %q, client_id: %s, client_secret: %s, tokens: %q, types: [steps], requests_per_second: 0, archive: %q, api: { page_size: 1000 } }`,
		srv.URL(), srv.ClientID(), srv.ClientSecret(), filepath.Join(dir, "tokens.json"), archive)
	if err := srv.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
		b.Fatal(err)
	}
	runBenchChild(b, dir, cfg, nil) // writes the archive
	replay := fmt.Sprintf(`{ replay: %q, types: [steps], api: { page_size: 1000 } }`, archive)
	b.ResetTimer()
	var took time.Duration
	var rss int64
	for range b.N {
		t, r := runBenchChild(b, dir, replay, nil)
		took += t
		rss = max(rss, r)
	}
	reportBench(b, took/time.Duration(b.N), rss)
}

func BenchmarkEmulatorToParquet(b *testing.B) {
	srv := benchEmulator(b)
	dir := b.TempDir()
	if err := srv.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`{ base_url: %q, client_id: %s, client_secret: %s, tokens: %q, types: [steps], requests_per_second: 0, api: { page_size: 1000 } }`,
		srv.URL(), srv.ClientID(), srv.ClientSecret(), filepath.Join(dir, "tokens.json"))
	b.ResetTimer()
	var took time.Duration
	var rss int64
	for range b.N {
		t, r := runBenchChild(b, dir, cfg, nil)
		took += t
		rss = max(rss, r)
	}
	reportBench(b, took/time.Duration(b.N), rss)
}
