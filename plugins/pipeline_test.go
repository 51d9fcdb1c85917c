package plugins_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins"
)

// loadPipeline writes src to file and loads it.
func loadPipeline(t testing.TB, file, src string) *core.Pipeline {
	t.Helper()
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := core.LoadPipeline(file)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runPipeline writes src as dir/pipeline.yaml (with $DIR standing for dir and
// $FAULTY and $JSONL for the test plugins), builds it and runs it once, with
// the state in dir/state.
func runPipeline(t *testing.T, dir, src string, log *slog.Logger) (*core.Summary, error) {
	t.Helper()
	src = strings.NewReplacer("$DIR", dir, "$FAULTY", faultyBin, "$JSONL", jsonlBin).Replace(src)
	p := loadPipeline(t, filepath.Join(dir, "pipeline.yaml"), src)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx := context.Background()
	pl, err := core.Build(ctx, p, log)
	if err != nil {
		return nil, err
	}
	defer pl.Close()
	store, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	return pl.Run(ctx, core.RunOptions{Store: store})
}

// A problem that the plugin finds in its config section is reported at its
// line and column in the pipeline file, with every other problem.
func TestConfigErrorsPointAtThePipelineFile(t *testing.T) {
	dir := t.TempDir()
	_, err := runPipeline(t, dir, `version: 1
name: config-errors
state: $DIR/state
source:
  plugin: generate
sinks:
  - plugin: external:$JSONL
    config:
      path: $DIR/out
      roll:
        rows: -5
      colour: blue
`, nil)
	file := filepath.Join(dir, "pipeline.yaml")
	want := []string{
		file + ":11:15: sinks[0].config.roll.rows: must not be negative, got -5",
		file + ":12:15: sinks[0].config.colour: unknown key (known keys: path, partition_by, roll)",
	}
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	var ces core.ConfigErrors
	if !errors.As(err, &ces) {
		t.Fatalf("got %T %v, want core.ConfigErrors", err, err)
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", err, strings.Join(want, "\n"))
	}
}

// readCSVTree reads every committed CSV file under dir and counts each
// (unit, id) row.
func readCSVTree(t *testing.T, dir string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".csv") || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range rows[1:] { // after the header
			seen[r[0]+"/"+r[1]]++
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return seen
}

// A sink plugin that crashes in the middle of a run fails the run with its
// last stderr lines; the rows committed before stay, and the next run
// resumes: every row is in the output exactly once.
func TestCrashMidRunThenResume(t *testing.T) {
	dir := t.TempDir()
	const units, rows = 3, 2000
	src := `version: 1
name: crash
state: $DIR/state
concurrency: 1
commit: { rows: 1000 }
source:
  plugin: generate
  config: { units: 3, rows: 2000, batch_size: 250 }
sinks:
  - plugin: external:$FAULTY
    config:
      inner: csv
      config: { path: $DIR/out }
      panic_after_writes: 13
      once_file: $DIR/crashed
`
	var logs syncBuffer
	_, err := runPipeline(t, dir, src, textLogger(&logs, slog.LevelInfo))
	t.Logf("first run: %v", err)
	var crash *plugins.CrashError
	if !errors.As(err, &crash) {
		t.Fatalf("first run: got error %v, want a CrashError", err)
	}
	if !strings.Contains(err.Error(), "panic: faulty: crash in write 13") {
		t.Errorf("first run: got error\n%v\nwant it to show the plugin's panic", err)
	}
	if crash.PID == 0 || crash.Op != "write" {
		t.Errorf("got PID %d, Op %q; want the plugin's pid and write", crash.PID, crash.Op)
	}
	before := readCSVTree(t, filepath.Join(dir, "out"))
	total := 0
	for k, n := range before {
		if n != 1 {
			t.Errorf("after the crash: row %s committed %d times", k, n)
		}
		total += n
	}
	if total == 0 || total >= units*rows {
		t.Errorf("after the crash: got %d rows committed, want some but not all %d", total, units*rows)
	}

	if _, err := runPipeline(t, dir, src, nil); err != nil {
		t.Fatalf("second run: %v", err)
	}
	after := readCSVTree(t, filepath.Join(dir, "out"))
	if len(after) != units*rows {
		t.Errorf("after the rerun: got %d distinct rows, want %d", len(after), units*rows)
	}
	for k, n := range after {
		if n != 1 {
			t.Errorf("after the rerun: row %s committed %d times, want once", k, n)
		}
	}
}

// A transient error from a plugin stays transient, with its wait, so the
// runner retries it as it would a built-in's; a permanent one fails the unit.
func TestErrorKindsCrossTheBoundary(t *testing.T) {
	cases := []struct {
		name      string
		config    string
		transient bool
		wait      time.Duration
	}{
		{"transient", "{generate: {rows: 100, batch_size: 10}, fail_after_batches: 2, fail: transient, retry_after: 1500ms}", true, 1500 * time.Millisecond},
		{"transient-no-wait", "{generate: {rows: 100, batch_size: 10}, fail_after_batches: 2, fail: transient}", true, 0},
		{"permanent", "{generate: {rows: 100, batch_size: 10}, fail_after_batches: 2, fail: permanent}", false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := openSource(t, faultyBin, c.config, nil)
			defer src.Close()
			var got collect
			defer got.release()
			err := src.Read(context.Background(), "unit-0001", nil, got.emit)
			if err == nil {
				t.Fatal("got no error, want one")
			}
			wait, transient := core.RetryAfter(err)
			if transient != c.transient || wait != c.wait {
				t.Errorf("core.RetryAfter(%v): got %v, %v; want %v, %v", err, wait, transient, c.wait, c.transient)
			}
			if !strings.Contains(err.Error(), "faulty: read failed on request") {
				t.Errorf("got %q, want the plugin's message", err)
			}
			if c.wait > 0 && strings.Count(err.Error(), "retry after") != 1 {
				t.Errorf("got %q, want the wait said once", err)
			}
			if len(got.batches) != 2 {
				t.Errorf("got %d batches before the error, want 2", len(got.batches))
			}
		})
	}
	t.Run("sink", func(t *testing.T) {
		s := openSink(t, faultyBin, "{fail_write: transient, retry_after: 2s}", nil)
		defer s.Close()
		var b collect
		defer b.release()
		gen := openSource(t, "builtin:generate", "{rows: 10}", nil)
		defer gen.Close()
		if err := gen.Read(context.Background(), "unit-0001", nil, b.emit); err != nil {
			t.Fatal(err)
		}
		err := s.Write(context.Background(), b.batches[0])
		if err == nil {
			_, err = s.Prepare(context.Background())
		}
		if wait, transient := core.RetryAfter(err); !transient || wait != 2*time.Second {
			t.Errorf("core.RetryAfter(%v): got %v, %v; want 2s, true", err, wait, transient)
		}
	})
}

// A pipeline whose every component is a plugin: a built-in source out of
// process, a third-party transform that rejects rows, the example sink. Every
// row is either written or in the dead-letter file.
func TestEveryComponentOutOfProcess(t *testing.T) {
	dir := t.TempDir()
	sum, err := runPipeline(t, dir, `version: 1
name: all-external
state: $DIR/state
commit: { rows: 2000 }
source:
  plugin: external:builtin:generate
  config: { units: 2, rows: 3000, batch_size: 500 }
transforms:
  - plugin: external:$FAULTY
    config: { reject_first: true }
sinks:
  - plugin: external:$JSONL
    config: { path: $DIR/out, partition_by: [unit] }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 2 * 3000 / 500
	rows := readJSONLines(t, filepath.Join(dir, "out"))
	if got, want := len(rows), 2*3000-batches; got != want {
		t.Errorf("got %d rows written, want %d", got, want)
	}
	if sum.DeadLetters != batches {
		t.Errorf("got %d dead letters in the summary, want %d", sum.DeadLetters, batches)
	}
	data, err := os.ReadFile(filepath.Join(dir, "state", "all-external.deadletter.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != batches || !strings.Contains(lines[0], `"reason":"first row of its batch"`) || !strings.Contains(lines[0], `"id":0`) {
		t.Errorf("got dead letters\n%s\nwant %d, the first rows of the batches", data, batches)
	}
}
