package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

func TestQuickstartExportsEveryRowOnce(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../pipelines/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "pipelines/quickstart.yaml", string(src))
	stdout, stderr, code := etl(t, dir, "run", "--progress", "none", "pipelines/quickstart.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"quickstart finished", "100000 rows", "4 units", "out/quickstart/csv", "duckdb -c"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	rows := committedRows(t, filepath.Join(dir, "out/quickstart/csv"))
	if len(rows) != 100000 {
		t.Fatalf("got %d rows, want 100000", len(rows))
	}
	// Each unit's ids are 0..24999, once each.
	ids := map[string]int{}
	for _, r := range rows {
		part, _, _ := strings.Cut(r, "|")
		ids[part]++
	}
	if len(ids) != 4 {
		t.Errorf("got %d unit partitions, want 4: %v", len(ids), ids)
	}
	for p, n := range ids {
		if n != 25000 {
			t.Errorf("partition %s: got %d rows, want 25000", p, n)
		}
	}

	// The second run resumes every unit at its end: nothing new.
	stdout, stderr, code = etl(t, dir, "run", "--progress", "none", "pipelines/quickstart.yaml")
	if code != 0 || !strings.Contains(stdout, ": 0 rows") {
		t.Fatalf("second run: exit %d, want 0 rows\n%s\n%s", code, stdout, stderr)
	}
	if n := len(committedRows(t, filepath.Join(dir, "out/quickstart/csv"))); n != 100000 {
		t.Errorf("after the second run: got %d rows, want 100000", n)
	}

	stdout, _, code = etl(t, dir, "state", "show", "pipelines/quickstart.yaml")
	if code != 0 || !strings.Contains(stdout, "unit-0001") || !strings.Contains(stdout, "25000") {
		t.Errorf("state show: exit %d\n%s", code, stdout)
	}
	stdout, _, code = etl(t, dir, "state", "reset", "--unit", "unit-0001", "pipelines/quickstart.yaml")
	if code != 0 || !strings.Contains(stdout, "reset 1 units") {
		t.Errorf("state reset: exit %d\n%s", code, stdout)
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
	writeFile(t, dir, "p.yaml", smallPipeline)
	stdout, stderr, code := etl(t, dir, "run", "--dry-run", "p.yaml")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"source      source: generate", "sink        sinks[0]: csv", "units       2", "nothing written"} {
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
