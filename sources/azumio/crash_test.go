package azumio_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// The test binary doubles as a pipeline runner: with AZUMIO_TEST_PIPELINE set it
// runs that pipeline file (its ${VARS} from the environment) and exits, so the
// crash test can start and SIGKILL real processes.
func TestMain(m *testing.M) {
	if file := os.Getenv("AZUMIO_TEST_PIPELINE"); file != "" {
		os.Exit(runPipelineFile(file))
	}
	os.Exit(m.Run())
}

func runPipelineFile(file string) int {
	if prof := os.Getenv("AZUMIO_TEST_CPUPROFILE"); prof != "" {
		f, err := os.Create(prof)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if os.Getenv("AZUMIO_TEST_IDLE") != "" {
		// The run's processor time (GOMAXPROCS × wall) that had no
		// goroutine to run, whatever else the machine was doing, the
		// bytes it allocated on the heap, its collections and the GC's
		// share of its processor time (for the benchmarks).
		defer func() {
			m := []metrics.Sample{{Name: "/cpu/classes/idle:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"},
				{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
			metrics.Read(m)
			fmt.Fprintf(os.Stderr, "idle=%.2f of %.2f cpu-s allocs=%d gcs=%d gc=%.3f cpu-s\n", m[0].Value.Float64(), m[1].Value.Float64(),
				m[2].Value.Uint64(), m[3].Value.Uint64(), m[4].Value.Float64())
		}()
	}
	if prof := os.Getenv("AZUMIO_TEST_BLOCKPROFILE"); prof != "" {
		// Where goroutines wait (a source on a full queue, the sink on an
		// empty one): what keeps the run from using every core.
		runtime.SetBlockProfileRate(1)
		defer func() {
			if f, err := os.Create(prof); err == nil {
				pprof.Lookup("block").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	p, err := core.LoadPipeline(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	plan, err := core.Build(ctx, p, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer plan.Close()
	store, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer store.Close()
	_, err = plan.Run(ctx, core.RunOptions{Store: store})
	switch {
	case errors.Is(err, core.ErrUnitsFailed):
		fmt.Fprintln(os.Stderr, err)
		return 3
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// crashPipeline exports the emulator with fragments to CSV, rolling (and so
// committing) every 1,500 rows, so that kills land before, inside and after
// commits and between a page's check-ins and its fragments.
const crashPipeline = `version: 1
name: azumio-crash
state: ${DIR}/state
concurrency: 2
commit: { interval: 1s }
source:
  plugin: azumio
  config:
    base_url: ${BASE}
    client_id: ${CLIENT}
    client_secret: ${SECRET}
    tokens: ${DIR}/tokens.json
    types: [steps, workout_log, heartrate, sleeptime]
    requests_per_second: 0
    retry: { tries: 3, initial: 5ms, max: 20ms }
    api:
      page_size: 40
sinks:
  - plugin: csv
    config:
      path: ${DIR}/out
      partition_by: [stream, unit]
      roll: { rows: 1500 }
`

// runCrashPipeline starts a process running crashPipeline in dir.
func crashCmd(t *testing.T, dir string, env map[string]string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "AZUMIO_TEST_PIPELINE="+filepath.Join(dir, "p.yaml"))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// committed returns every committed row of dir, one string per row with its
// stream, so that a duplicate shows up as an equal string.
func committed(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, row := range csvRows(t, filepath.Join(dir, "out"), "azumio.") {
		var key string
		switch {
		case strings.HasPrefix(row["_stream"], "azumio.checkins."):
			key = row["user_id"] + "/" + row["id"] + "/" + row["version"]
		case row["_stream"] == "azumio.fragments.steps_profile":
			key = row["checkin_id"] + "/" + row["checkin_version"] + "@" + row["timestamp"] + "=" + row["steps"]
		case row["_stream"] == "azumio.fragments.path":
			key = row["checkin_id"] + "/" + row["checkin_version"] + "@" + row["t"] + "=" + row["lat"] + "," + row["lon"]
		case row["_stream"] == "azumio.profile":
			key = row["user_id"] + ":" + row["name"]
		default:
			t.Fatalf("unexpected stream %q", row["_stream"])
		}
		out = append(out, row["_stream"]+"|"+key)
	}
	sort.Strings(out)
	return out
}

// TestCrashAndRerun kills a running pipeline with SIGKILL at random moments,
// reruns it each time, and checks that the committed files never hold a row
// twice and, at the end, hold exactly the rows of an uninterrupted run.
func TestCrashAndRerun(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 77, Users: 3, Checkins: 300,
		Types: []string{"steps", "workout_log", "heartrate", "sleeptime"}})

	run := func(dir string) (string, error) {
		cmd := crashCmd(t, dir, pipelineEnv(t, srv, dir))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ref := t.TempDir()
	writeFile(t, ref, "p.yaml", crashPipeline)
	start := time.Now()
	if out, err := run(ref); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	full := time.Since(start)
	want := committed(t, ref)
	checkVersions(t, "reference run", csvVersions(t, ref), refVersions(allRefs(srv)))

	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", crashPipeline)
	env := pipelineEnv(t, srv, dir)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("a full run takes %s and commits %d rows; kill schedule seed %d", full, len(want), seed)
	kills := 0
	for try := 0; kills < 8; try++ {
		if try == 60 {
			t.Fatalf("only %d of 8 kills landed in 60 runs", kills)
		}
		cmd := crashCmd(t, dir, env)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		delay := time.Duration(rng.Int64N(int64(full)))
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run failed: %v\n%s", err, stderr.String())
			}
			// Finished before the kill: start over so the next kills still
			// test something.
			if got := committed(t, dir); !slices.Equal(got, want) {
				t.Fatalf("finished run: got %d rows, want %d", len(got), len(want))
			}
			os.RemoveAll(filepath.Join(dir, "out"))
			os.RemoveAll(filepath.Join(dir, "state"))
			continue
		case <-time.After(delay):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
		got := committed(t, dir)
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				t.Fatalf("after kill %d (at %s): row %q committed twice", kills, delay, got[i])
			}
		}
	}
	if out, err := run(dir); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	got := committed(t, dir)
	if !slices.Equal(got, want) {
		t.Fatalf("after %d kills and a rerun: got %s", kills, diff(got, want))
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
