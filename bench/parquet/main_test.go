//go:build linux

package main

import (
	"context"
	"strings"
	"testing"
)

// TestRun runs a small export through a real etl process and checks what
// the harness reports.
func TestRun(t *testing.T) {
	o := options{Rows: 30000, Units: 3, Batch: 4096, Procs: 1, Dir: t.TempDir()}
	r, err := run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != 30000 || r.Files < 1 || r.Bytes <= 0 {
		t.Errorf("got %d rows in %d file(s) of %d bytes, want 30000 rows in some bytes", r.Rows, r.Files, r.Bytes)
	}
	// An etl process needs some memory and time, not gigabytes or hours.
	if r.PeakRSS < 1<<20 || r.PeakRSS > 4<<30 || r.Took <= 0 || r.CPU <= 0 {
		t.Errorf("got peak RSS %d bytes, wall %v, cpu %v, want plausible figures", r.PeakRSS, r.Took, r.CPU)
	}
	rep := report(o, r)
	for _, want := range []string{"30000 rows, 3 unit(s), batches of 4096, GOMAXPROCS=1", "M rows/s", "bytes/row", "peak RSS"} {
		if !strings.Contains(rep, want) {
			t.Errorf("report %q lacks %q", rep, want)
		}
	}
	for _, want := range []string{"plugin: generate", "rows: 10000", "batch_size: 4096", "plugin: parquet", "compression: zstd", "type: list_float64"} {
		if !strings.Contains(r.Pipeline, want) {
			t.Errorf("pipeline lacks %q:\n%s", want, r.Pipeline)
		}
	}
	if got := strings.Count(azumioColumns, "name:") + 1; got != 25 {
		t.Errorf("got %d columns with unit, want 25", got)
	}
}

func TestRunRejectsUnevenRows(t *testing.T) {
	_, err := run(context.Background(), options{Rows: 10, Units: 3, Batch: 5, Etl: "/nonexistent"})
	if err == nil || !strings.Contains(err.Error(), "multiple of -units") {
		t.Errorf("got %v, want an error about -rows and -units", err)
	}
}
