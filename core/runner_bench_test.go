package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/etl-toolkit/etl/core"
	_ "github.com/etl-toolkit/etl/sinks/discard"
	_ "github.com/etl-toolkit/etl/sources/generate"
)

// BenchmarkRunGenerateToDiscard measures the runner end to end: the generate
// source's default columns through the runner into a sink that keeps nothing.
// The runner does no per-row work, so rows/s is bounded by the source.
//
//	go test ./core -run '^$' -bench RunGenerateToDiscard -benchtime 5x
func BenchmarkRunGenerateToDiscard(b *testing.B) {
	const units, rows = 4, 2_500_000
	yaml := fmt.Sprintf(`version: 1
name: bench
state: %s
concurrency: 2
source:
  plugin: generate
  config: { units: %d, rows: %d, batch_size: 65536 }
sinks:
  - plugin: discard
`, filepath.Join(b.TempDir(), "state"), units, rows)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p, err := core.ParsePipeline("bench.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
		if err != nil {
			b.Fatal(err)
		}
		p.State = filepath.Join(b.TempDir(), "state")
		pl, err := core.Build(ctx, p, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		store, err := core.OpenBoltStore(p.StatePath())
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sum, err := pl.Run(ctx, core.RunOptions{Store: store})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if sum.Rows() != units*rows {
			b.Fatalf("got %d rows, want %d", sum.Rows(), units*rows)
		}
		store.Close()
		pl.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(units*rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
