package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/internal/laketest"
)

// crashPipeline exports 4 units × 60,000 generated rows to CSV and to Parquet
// (fan-out: a position is saved only when both have committed), the CSV sink
// rolling (and so committing) every 7,000 rows, so that kills land before, inside
// and after commits.
const crashPipeline = `version: 1
name: crash
state: ./state
concurrency: 2
commit: { interval: 1s }
source:
  plugin: generate
  config: { seed: 7, units: 4, rows: 60000, batch_size: 1000 }
sinks:
  - plugin: csv
    config:
      path: ./out
      partition_by: [stream, unit]
      roll: { rows: 7000 }
  - plugin: parquet
    config:
      path: ./lake
      partition_by: [stream, unit]
`

// TestCrashExactlyOnce kills a running `etl run` with SIGKILL at 20 random moments,
// reruns it each time, and checks that the committed CSV rows equal the generated
// rows exactly once, with no partial file visible.
func TestCrashExactlyOnce(t *testing.T) {
	ref := t.TempDir()
	writeFile(t, ref, "p.yaml", crashPipeline)
	start := time.Now()
	_, stderr, code := etl(t, ref, "run", "--progress", "none", "p.yaml")
	full := time.Since(start)
	if code != 0 {
		t.Fatalf("reference run: exit %d\n%s", code, stderr)
	}
	want := committedRows(t, filepath.Join(ref, "out"))
	if len(want) != 4*60000 {
		t.Fatalf("reference run: got %d rows, want %d", len(want), 4*60000)
	}
	wantLake := parquetRows(t, filepath.Join(ref, "lake"))
	if len(wantLake) != 4*60000 {
		t.Fatalf("reference run: got %d Parquet rows, want %d", len(wantLake), 4*60000)
	}

	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", crashPipeline)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("kill schedule seed %d", seed)
	kills := 0
	for try := 0; kills < 20; try++ {
		if try == 200 {
			t.Fatalf("only %d of 20 kills landed in 200 runs", kills)
		}
		cmd := etlCmd(t, dir, "run", "--progress", "none", "p.yaml")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// A moment within the time a whole run takes: while starting, reading,
		// preparing, committing or finishing.
		delay := time.Duration(rng.Int64N(int64(full)))
		select {
		case err := <-done:
			// Finished before the kill: every row is committed; start over on a
			// fresh output so the remaining kills still test something.
			if err != nil {
				t.Fatalf("run %d failed: %v\n%s", kills, err, stderr.String())
			}
			checkRows(t, dir, want, wantLake)
			os.RemoveAll(filepath.Join(dir, "out"))
			os.RemoveAll(filepath.Join(dir, "lake"))
			os.RemoveAll(filepath.Join(dir, "state"))
			continue
		case <-time.After(delay):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
		// After every kill the visible files are whole and hold no duplicate.
		for _, got := range [][]string{committedRows(t, filepath.Join(dir, "out")), parquetRows(t, filepath.Join(dir, "lake"))} {
			for i := 1; i < len(got); i++ {
				if got[i] == got[i-1] {
					t.Fatalf("after kill %d (at %s): row %q committed twice", kills, delay, got[i])
				}
			}
		}
	}
	if _, stderr, code := etl(t, dir, "run", "--progress", "none", "p.yaml"); code != 0 {
		t.Fatalf("final run: exit %d\n%s", code, stderr)
	}
	checkRows(t, dir, want, wantLake)
}

func checkRows(t *testing.T, dir string, want, wantLake []string) {
	t.Helper()
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"CSV", committedRows(t, filepath.Join(dir, "out")), want},
		{"Parquet", parquetRows(t, filepath.Join(dir, "lake")), wantLake},
	} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: got %d committed rows, want %d (exactly once)", c.name, len(c.got), len(c.want))
		}
		for i := range c.want {
			if c.got[i] != c.want[i] {
				t.Fatalf("%s row %d: got %q, want %q", c.name, i, c.got[i], c.want[i])
			}
		}
	}
}

// parquetRows reads every visible Parquet file under root back with pqarrow
// (laketest.ParquetRows); a partial visible file fails the test.
func parquetRows(t *testing.T, root string) []string {
	t.Helper()
	rows, err := laketest.ParquetRows(root)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// committedRows reads every visible CSV file under root (temp files start with a
// dot and are skipped, as readers skip them) and returns the rows, sorted, each
// prefixed by its partition directory. A partial file fails the test.
func committedRows(t *testing.T, root string) []string {
	t.Helper()
	var rows []string
	err := laketest.WalkCommitted(root, ".csv", func(path, rel string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r := csv.NewReader(f)
		header, err := r.Read()
		if err != nil {
			return fmt.Errorf("%s: no header: %w", path, err)
		}
		for {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: partial or corrupt file: %w", path, err)
			}
			if len(rec) != len(header) {
				return fmt.Errorf("%s: row with %d fields, header has %d", path, len(rec), len(header))
			}
			rows = append(rows, rel+"|"+strings.Join(rec, ","))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rows)
	return rows
}
