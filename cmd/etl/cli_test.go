package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster"
	"github.com/etl-toolkit/etl/internal/duckdbtest"
)

const smallPipeline = `version: 1
name: small
state: ./state
source:
  plugin: generate
  config: { seed: 3, units: 2, rows: 1000, batch_size: 300 }
sinks:
  - plugin: csv
    config: { path: ./out, partition_by: [stream, unit] }
`

// TestQuickstart runs the README's first command: both emulated APIs, si_units,
// Parquet and CSV. Every stream's rows reach both sinks, DuckDB reads them, the
// units are in the files, and a second run exports nothing.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"quickstart.yaml", "quickstart-asi.yaml"} {
		src, err := os.ReadFile("../../pipelines/" + f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "pipelines/"+f, string(src))
	}
	args := []string{"run", "--progress", "none", "pipelines/quickstart.yaml", "pipelines/quickstart-asi.yaml"}
	stdout, stderr, code := etl(t, dir, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"quickstart finished", "quickstart-asi finished", "out/quickstart/parquet", "out/quickstart/csv", "duckdb -c"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	// Rows per stream as the summaries report them.
	reported := map[string]int64{}
	for _, line := range strings.Split(stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == "rows" && strings.Contains(f[0], ".") {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("summary line %q: %v", line, err)
			}
			reported[f[0]] = n
		}
	}
	for _, s := range []string{"azumio.checkins.steps", "azumio.fragments.steps_profile", "azumio.profile", "asi.computed", "asi.timeframes"} {
		if reported[s] == 0 {
			t.Errorf("stream %s: no rows reported in\n%s", s, stdout)
		}
	}
	lake := duckdbtest.Literal(filepath.Join(dir, "out/quickstart/parquet/**/*.parquet"))
	csvs := duckdbtest.Literal(filepath.Join(dir, "out/quickstart/csv/**/*.csv"))
	for _, q := range []string{
		"SELECT stream, count(*) AS n FROM read_parquet(" + lake + ", hive_partitioning = true, union_by_name = true) GROUP BY stream",
		"SELECT stream, count(*) AS n FROM read_csv(" + csvs + ", hive_partitioning = true, union_by_name = true) GROUP BY stream",
	} {
		got := map[string]int64{}
		for _, row := range duckdbtest.Query(t, q) {
			got[row["stream"].(string)] = row["n"].(int64)
		}
		if len(got) != len(reported) {
			t.Errorf("%s\ngot %d streams %v, want %d %v", q, len(got), got, len(reported), reported)
		}
		for s, n := range reported {
			if got[s] != n {
				t.Errorf("%s\nstream %s: got %d rows, want %d", q, s, got[s], n)
			}
		}
	}
	// si_units converted the calories to J, kept them in kcal beside, and wrote the units.
	meta := duckdbtest.Query(t, "SELECT DISTINCT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata("+
		duckdbtest.Literal(filepath.Join(dir, "out/quickstart/parquet/stream=azumio.checkins.steps/*.parquet"))+") WHERE decode(key) LIKE '%.unit'")
	units := map[string]string{}
	for _, row := range meta {
		units[row["k"].(string)] = row["v"].(string)
	}
	for k, v := range map[string]string{"calories.unit": "J", "calories_kcal.unit": "kcal", "distance.unit": "m"} {
		if units[k] != v {
			t.Errorf("steps check-ins: %s = %q, want %q (all: %v)", k, units[k], v, units)
		}
	}

	// The second run resumes every unit at its end: nothing new.
	stdout, stderr, code = etl(t, dir, args...)
	if code != 0 || strings.Count(stdout, ": 0 rows") != 2 {
		t.Fatalf("second run: exit %d, want 0 rows from both pipelines\n%s\n%s", code, stdout, stderr)
	}
	stdout, _, code = etl(t, dir, "state", "show", "pipelines/quickstart.yaml")
	if code != 0 || !strings.Contains(stdout, "user/") {
		t.Errorf("state show: exit %d\n%s", code, stdout)
	}
}

func TestStateShowAndReset(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", smallPipeline)
	if _, stderr, code := etl(t, dir, "run", "--progress", "none", "p.yaml"); code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	stdout, _, code := etl(t, dir, "state", "show", "p.yaml")
	if code != 0 || !strings.Contains(stdout, "unit-0001") || !strings.Contains(stdout, "1000") || !strings.Contains(stdout, "last run:") {
		t.Errorf("state show: exit %d\n%s", code, stdout)
	}
	stdout, _, code = etl(t, dir, "state", "reset", "--unit", "unit-0001", "p.yaml")
	if code != 0 || !strings.Contains(stdout, "reset 1 units") {
		t.Errorf("state reset: exit %d\n%s", code, stdout)
	}
	// The reset unit is exported again, the other is not.
	stdout, _, code = etl(t, dir, "run", "--progress", "none", "p.yaml")
	if code != 0 || !strings.Contains(stdout, ": 1000 rows") {
		t.Errorf("run after reset: exit %d, want 1000 rows again\n%s", code, stdout)
	}
}

func TestValidateExitCodes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "good.yaml", smallPipeline)
	writeFile(t, dir, "bad.yaml", strings.Replace(smallPipeline, "units: 2", "unitz: 2", 1))
	stdout, _, code := etl(t, dir, "validate", "good.yaml")
	if code != 0 || !strings.Contains(stdout, "good.yaml: ok") {
		t.Errorf("validate good.yaml: exit %d, stdout %q", code, stdout)
	}
	_, stderr, code := etl(t, dir, "validate", "good.yaml", "bad.yaml")
	if code != 2 {
		t.Errorf("validate bad.yaml: got exit %d, want 2", code)
	}
	if !strings.Contains(stderr, "bad.yaml:6:") || !strings.Contains(stderr, "source.config.unitz") {
		t.Errorf("validate bad.yaml: the error does not point at the line:\n%s", stderr)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", strings.Replace(smallPipeline, "state: ./state", "state: ./state\ntick: 5ms", 1))
	stdout, stderr, code := etl(t, dir, "run", "--dry-run", "p.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"source      source: generate", "sink        sinks[0]: csv", "commit every 1m0s, tick 5ms", "units       2", "nothing written"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, stdout)
		}
	}
	for _, p := range []string{"out", "state"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Errorf("dry run created %s", p)
		}
	}
}

// TestDryRunNamesAClusterStateWithoutItsCredentials: with state on a NATS
// server, the plan names the server and bucket, never the URL's password, and
// connects to nothing.
func TestDryRunNamesAClusterStateWithoutItsCredentials(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", strings.Replace(smallPipeline, "state: ./state", "state: nats://etl:s3cret@127.0.0.1:1", 1))
	stdout, stderr, code := etl(t, dir, "run", "--dry-run", "p.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if want := "state       bucket " + cluster.DefaultBucket + " on nats://***@127.0.0.1:1"; !strings.Contains(stdout, want) {
		t.Errorf("plan lacks %q:\n%s", want, stdout)
	}
	if strings.Contains(stdout+stderr, "s3cret") {
		t.Errorf("the state URL's password is shown:\n%s%s", stdout, stderr)
	}
}

func TestPluginsListsOptions(t *testing.T) {
	stdout, _, code := etl(t, t.TempDir(), "plugins")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"sources:", "generate", "sinks:", "csv", "discard", "delimiter", "batch_size"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("etl plugins lacks %q:\n%s", want, stdout)
		}
	}
}

// TestSIGINTCommitsAndExits130 stops a slow run with SIGINT: it exits 130 after
// committing what it read, and the next run finishes the export exactly once.
func TestSIGINTCommitsAndExits130(t *testing.T) {
	dir := t.TempDir()
	// 2 units at 2,000 rows/s each: 10 s for everything, so the signal lands mid-run.
	writeFile(t, dir, "p.yaml", strings.Replace(smallPipeline, "rows: 1000, batch_size: 300", "rows: 20000, batch_size: 500, rate: 2000", 1))
	cmd := etlCmd(t, dir, "run", "--progress", "none", "p.yaml")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("got exit %d (%v), want 130\n%s", code, err, stdout.String())
	}
	got := len(committedRows(t, filepath.Join(dir, "out")))
	if got == 0 || got >= 40000 {
		t.Fatalf("committed %d rows at the stop, want some but not all", got)
	}
	if !strings.Contains(stdout.String(), "small stopped") {
		t.Errorf("summary does not say the run stopped:\n%s", stdout.String())
	}
	// The same rows without the rate limit.
	writeFile(t, dir, "p.yaml", strings.Replace(smallPipeline, "rows: 1000, batch_size: 300", "rows: 20000, batch_size: 500", 1))
	if _, stderr, code := etl(t, dir, "run", "--progress", "none", "p.yaml"); code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, stderr)
	}
	rows := committedRows(t, filepath.Join(dir, "out"))
	if len(rows) != 40000 {
		t.Fatalf("after rerun: got %d rows, want 40000 exactly once", len(rows))
	}
	for i := 1; i < len(rows); i++ {
		if rows[i] == rows[i-1] {
			t.Fatalf("row %q committed twice", rows[i])
		}
	}
}

// startWithMetrics starts `etl run --metrics-addr 127.0.0.1:0 file` in dir and
// returns the metrics URL it announces; the process is killed when the test ends.
func startWithMetrics(t *testing.T, dir, file string) (url string) {
	t.Helper()
	cmd := etlCmd(t, dir, "run", "--progress", "none", "--metrics-addr", "127.0.0.1:0", file)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), "metrics on "); ok {
			url = after
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if url == "" {
		t.Fatal("etl run did not say where its metrics are")
	}
	return url
}

// TestRunMetricsAddr scrapes /metrics of a running `etl run --metrics-addr`.
func TestRunMetricsAddr(t *testing.T) {
	dir := t.TempDir()
	// 2 units at 5,000 rows/s each: about 4 s, time enough to scrape.
	writeFile(t, dir, "p.yaml", strings.Replace(smallPipeline, "rows: 1000, batch_size: 300", "rows: 20000, batch_size: 500, rate: 5000", 1))
	url := startWithMetrics(t, dir, "p.yaml")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `etl_rows_total{pipeline="small",stream="generate"}`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no live row counter in /metrics:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRunDuration stops an endless source after --duration: exit 0, what was read
// committed, and the next run resumes after it.
func TestRunDuration(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", strings.Replace(smallPipeline, "rows: 1000, batch_size: 300", "endless: true, batch_size: 100, rate: 1000", 1))
	stdout, stderr, code := etl(t, dir, "run", "--progress", "none", "--duration", "1s", "p.yaml")
	if code != 0 || !strings.Contains(stderr, "stopped after --duration 1s") || !strings.Contains(stdout, "small stopped") {
		t.Fatalf("exit %d, want 0 and a stop after the duration\n%s\n%s", code, stdout, stderr)
	}
	first := len(committedRows(t, filepath.Join(dir, "out")))
	if first == 0 {
		t.Fatal("nothing committed")
	}
	if _, stderr, code := etl(t, dir, "run", "--progress", "none", "--duration", "500ms", "p.yaml"); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	rows := committedRows(t, filepath.Join(dir, "out"))
	if len(rows) <= first {
		t.Fatalf("second run added nothing: %d rows, then %d", first, len(rows))
	}
	for i := 1; i < len(rows); i++ {
		if rows[i] == rows[i-1] {
			t.Fatalf("row %q committed twice", rows[i])
		}
	}
}

// TestRunMetricsAddrLiveEvents scrapes etl_events_total of a running `etl run
// --metrics-addr` while rows are still coming: the components' counts (here
// reorder's late rows: its time column is random) show as they grow, not
// only once the run ends.
func TestRunMetricsAddrLiveEvents(t *testing.T) {
	dir := t.TempDir()
	// 2 units at 5,000 rows/s each: about 4 s, time enough to scrape.
	pipeline := strings.Replace(smallPipeline, "rows: 1000, batch_size: 300", "rows: 20000, batch_size: 500, rate: 5000", 1)
	pipeline = strings.Replace(pipeline, "sinks:", "transforms:\n  - plugin: reorder\n    config: { time: value, buffer_size: 1, late: drop }\nsinks:", 1)
	writeFile(t, dir, "p.yaml", pipeline)
	url := startWithMetrics(t, dir, "p.yaml")
	value := func(body, metric string) float64 {
		for line := range strings.Lines(body) {
			if rest, ok := strings.CutPrefix(line, metric+" "); ok {
				v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				if err != nil {
					t.Fatalf("%s: %v", metric, err)
				}
				return v
			}
		}
		return 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("the run ended before /metrics showed its events: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		late := value(string(body), `etl_events_total{name="reorder.late",pipeline="small"}`)
		rows := value(string(body), `etl_rows_total{pipeline="small",stream="generate"}`)
		if late > 0 && rows+late < 40000 {
			break // counted while rows were still coming
		}
		if rows+late >= 40000 || time.Now().After(deadline) {
			t.Fatalf("no reorder.late in /metrics while the run went (%g late, %g rows):\n%s", late, rows, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
