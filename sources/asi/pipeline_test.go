package asi

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/etl-toolkit/etl/core"
	_ "github.com/etl-toolkit/etl/core/siunits"
	"github.com/etl-toolkit/etl/internal/duckdbtest"
)

// TestExamplePipeline runs pipelines/asi-timeframes.yaml as a newcomer would,
// without any setting (so against the in-process emulator), twice.
func TestExamplePipeline(t *testing.T) {
	src, err := os.ReadFile("../../pipelines/asi-timeframes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the pipeline's paths are relative to where etl runs
	run := func() *core.Summary {
		t.Helper()
		p, err := core.ParsePipeline("asi-timeframes.yaml", src, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		pl, err := core.Build(context.Background(), p, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer pl.Close()
		store, err := core.OpenBoltStore(p.StatePath())
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		sum, err := pl.Run(context.Background(), core.RunOptions{Store: store})
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		return sum
	}
	if sum := run(); sum.Units != 9 || sum.Rows() != 8+8+2+4 {
		t.Errorf("first run: got %d units and %d rows, want 9 and 22", sum.Units, sum.Rows())
	}
	files, _ := filepath.Abs("out/asi-timeframes/parquet/stream=asi.computed/*.parquet")
	rows := duckdbtest.Query(t, `SELECT count(*) AS n, count(DISTINCT timeframe_id) AS tfs, min(typeof(last_timestamp)) AS t
		FROM read_parquet(`+duckdbtest.Literal(files)+`)`)
	if num(rows[0]["n"]) != 8 || num(rows[0]["tfs"]) != 8 || rows[0]["t"] != "TIMESTAMP WITH TIME ZONE" {
		t.Errorf("asi.computed: got %v, want 8 time frames with UTC timestamps", rows[0])
	}
	if sum := run(); sum.Rows() != 0 {
		t.Errorf("second run: got %d rows, want 0 (nothing changed)", sum.Rows())
	}
}
