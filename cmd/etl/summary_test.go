package main

import (
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
)

// TestPrintSummaryShowsEvents checks that the end-of-run summary lists what
// the components counted (gaps, late rows), sorted by name.
func TestPrintSummaryShowsEvents(t *testing.T) {
	pl := &core.Plan{Pipeline: &core.Pipeline{Name: "live", State: t.TempDir()}}
	var out strings.Builder
	printSummary(&out, pl, &core.Summary{
		Duration: time.Second, Interrupted: true,
		Streams: []core.StreamCount{{Stream: "asi.preprocessed.gnss", Rows: 120, Bytes: 4096}},
		Counts:  map[string]int64{"reorder.late": 3, "asi.gaps": 2},
	})
	want := "\nlive stopped in 1s: 120 rows, 0 units, 0 commits, 0 files, 0 dead letters\n" +
		"  asi.preprocessed.gnss                     120 rows      4.0 KiB\n" +
		"events:\n" +
		"  asi.gaps                                    2\n" +
		"  reorder.late                                3\n"
	if got := out.String(); got != want {
		t.Errorf("summary:\ngot\n%s\nwant\n%s", got, want)
	}
	out.Reset()
	printSummary(&out, pl, &core.Summary{Duration: time.Second})
	if strings.Contains(out.String(), "events:") {
		t.Errorf("summary of a run that counted nothing lists events:\n%s", out.String())
	}
}
