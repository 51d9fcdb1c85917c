package asi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// envCrashPipeline makes the test binary run the pipeline file it names
// instead of the tests: the crash test starts, and kills, real processes.
const envCrashPipeline = "ASI_CRASH_PIPELINE"

func TestMain(m *testing.M) {
	if file := os.Getenv(envCrashPipeline); file != "" {
		os.Exit(runPipelineFile(file))
	}
	os.Exit(m.Run())
}

// runPipelineFile runs a pipeline file to its end, as etl run does.
func runPipelineFile(file string) int {
	if prof := os.Getenv("ASI_CPUPROFILE"); prof != "" {
		// For looking into the benchmark's export: ASI_CPUPROFILE=FILE go test -bench ...
		if f, err := os.Create(prof); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	p, err := core.LoadPipeline(file)
	if err == nil {
		var pl *core.Plan
		if pl, err = core.Build(context.Background(), p, testLogger()); err == nil {
			defer pl.Close()
			var store core.Store
			if store, err = core.OpenBoltStore(p.StatePath()); err == nil {
				defer store.Close()
				_, err = pl.Run(context.Background(), core.RunOptions{Store: store, MaxTries: 20})
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// crashPipeline exports everything of an emulator, committing often: the
// Parquet sink rolls every 1500 rows and the runner commits every second.
func crashPipeline(l *lake) string {
	src := l.source(`
streams: [metadata, computed, preprocessed]
since: 2026-03-01T00:00:00Z
page_size: 120
api: { window: 10m }`)
	return fmt.Sprintf(`version: 1
name: asi-crash
state: %s
concurrency: 3
commit: { interval: 1s }
source:
  plugin: asi
  config:%s
sinks:
  - plugin: parquet
    config:
      path: %s
      partition_by: [stream]
      roll: { rows: 1500 }
`, filepath.Join(l.dir, "state"), src, filepath.Join(l.dir, "out"))
}

func (l *lake) runChild(t testing.TB, file string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), envCrashPipeline+"="+file,
		"ASI_CLIENT_SECRET="+asitest.ClientSecret, "ASI_PASSWORD="+asitest.Password)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// crashStreams are checked after every kill: each has a key no row may repeat.
var crashStreams = map[string]string{
	"asi.computed":            "timeframe_id, version",
	"asi.timeframes":          "timeframe_id",
	"asi.preprocessed.gnss":   `device_id, "timestamp"`,
	"asi.preprocessed.ecg":    `device_id, "timestamp"`,
	"asi.preprocessed.device": `device_id, "timestamp"`,
}

// TestSIGKILLExactlyOnce kills a running export with SIGKILL at random
// moments, reruns it each time, and checks that the committed Parquet files
// never hold a row twice and end up equal to an export that was never killed.
func TestSIGKILLExactlyOnce(t *testing.T) {
	opts := asitest.DefaultOptions()
	opts.Devices, opts.Athletes, opts.Session, opts.Rate = 3, 3, 20*time.Minute, 4
	ref := newLake(t, opts)
	l := &lake{t: t, emu: ref.emu, dir: t.TempDir()} // the same emulator: same data
	for _, x := range []*lake{ref, l} {
		if err := os.WriteFile(filepath.Join(x.dir, "p.yaml"), []byte(crashPipeline(x)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := ref.runChild(t, filepath.Join(ref.dir, "p.yaml")).Wait(); err != nil {
		t.Fatalf("reference run: %v", err)
	}
	full := time.Since(start)

	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("a whole run takes %s; kill schedule seed %d", full, seed)
	kills := 0
	for try := 0; kills < 6; try++ {
		if try == 40 {
			t.Fatalf("only %d of 6 kills landed in 40 runs", kills)
		}
		cmd := l.runChild(t, filepath.Join(l.dir, "p.yaml"))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(rng.Int64N(int64(full)))
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run failed: %v\n%s", err, cmd.Stderr)
			}
			// Finished before the kill: start over so later kills test something.
			os.RemoveAll(filepath.Join(l.dir, "out"))
			os.RemoveAll(filepath.Join(l.dir, "state"))
			continue
		case <-time.After(delay):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
		// One query for every stream with committed files.
		var parts []string
		for stream, key := range crashStreams {
			if files, _ := filepath.Glob(filepath.Join(l.dir, "out", "stream="+stream, "*.parquet")); len(files) > 0 {
				parts = append(parts, `SELECT '`+stream+`' AS stream, count(*) AS n, count(DISTINCT (`+key+`)) AS d FROM `+l.parquet(stream))
			}
		}
		if len(parts) == 0 {
			continue
		}
		for _, got := range l.query(strings.Join(parts, " UNION ALL ")) {
			if got["n"] != got["d"] {
				t.Fatalf("after kill %d (at %s): %s has %v rows but %v distinct keys", kills, delay, got["stream"], got["n"], got["d"])
			}
		}
	}
	if err := l.runChild(t, filepath.Join(l.dir, "p.yaml")).Wait(); err != nil {
		t.Fatalf("final run: %v", err)
	}
	for stream := range crashStreams {
		diff := l.query(`SELECT (SELECT count(*) FROM ` + l.parquet(stream) + `) AS n,
			(SELECT count(*) FROM ` + ref.parquet(stream) + `) AS want,
			(SELECT count(*) FROM ((SELECT * FROM ` + l.parquet(stream) + `) EXCEPT ALL (SELECT * FROM ` + ref.parquet(stream) + `))) AS extra,
			(SELECT count(*) FROM ((SELECT * FROM ` + ref.parquet(stream) + `) EXCEPT ALL (SELECT * FROM ` + l.parquet(stream) + `))) AS missing`)
		d := diff[0]
		if d["n"] != d["want"] || num(d["extra"]) != 0 || num(d["missing"]) != 0 {
			t.Errorf("%s after %d kills: got %v rows (%v extra, %v missing), want %v", stream, kills, d["n"], d["extra"], d["missing"], d["want"])
		}
	}
}
