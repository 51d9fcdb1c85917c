package flight_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
	_ "github.com/etl-toolkit/etl/sources/generate"
)

// TestRunWithServerRestart runs a pipeline (generate source, flight sink)
// through core's runner against flightserve, and restarts the server hard
// after its first commit: the run retries, finishes, and the server holds
// every generated row exactly once.
func TestRunWithServerRestart(t *testing.T) {
	dir := t.TempDir()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	out := filepath.Join(dir, "out")
	first := serveOn(t, lis, flightserve.Options{Dir: out})

	const units, rows = 3, 4000
	src := fmt.Sprintf(`version: 1
name: restart
state: %s
concurrency: 3
commit: { interval: 1s, rows: 2000 }
source:
  plugin: generate
  config: { seed: 5, units: %d, rows: %d, rate: 5000 }
sinks:
  - plugin: flight
    config:
      location: grpc://%s
      retry: { initial: 20ms, max: 200ms, max_elapsed: 20s }
`, filepath.Join(dir, "state"), units, rows, addr)
	p, err := core.ParsePipeline("restart.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := core.Build(context.Background(), p, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	store, err := core.OpenBoltStore(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	restarted := make(chan *flightserve.Server, 1)
	go func() {
		for first.Stats().Puts == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		first.Close()
		time.Sleep(200 * time.Millisecond)
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			restarted <- nil
			return
		}
		restarted <- serveOn(t, lis, flightserve.Options{Dir: out})
	}()
	sum, err := plan.Run(context.Background(), core.RunOptions{Store: store})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	second := <-restarted
	if second == nil {
		t.FailNow()
	}
	if got := sum.Rows(); got != units*rows {
		t.Errorf("run summary: got %d rows, want %d", got, units*rows)
	}
	if first.Stats().Rows == 0 || second.Stats().Rows == 0 {
		t.Errorf("got %d rows stored before the restart and %d after, want some each", first.Stats().Rows, second.Stats().Rows)
	}

	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := readBack(t, addr, mem, "restart", "generate")
	defer release(recs)
	seen := map[string]map[int64]int{}
	for _, r := range recs {
		unit, id := r.Column(0).(*array.String), r.Column(1).(*array.Int64)
		for i := range int(r.NumRows()) {
			if seen[unit.Value(i)] == nil {
				seen[unit.Value(i)] = map[int64]int{}
			}
			seen[unit.Value(i)][id.Value(i)]++
		}
	}
	if len(seen) != units {
		t.Fatalf("got %d units, want %d", len(seen), units)
	}
	for u, ids := range seen {
		if len(ids) != rows {
			t.Errorf("%s: got %d distinct ids, want %d", u, len(ids), rows)
		}
		for id, n := range ids {
			if n != 1 || id < 0 || id >= rows {
				t.Errorf("%s: id %d stored %d times, want once", u, id, n)
			}
		}
	}
}
