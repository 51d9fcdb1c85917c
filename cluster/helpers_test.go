package cluster

import (
	"context"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/internal/laketest"
	_ "github.com/etl-toolkit/etl/sinks/discard"
	_ "github.com/etl-toolkit/etl/sinks/parquet"
	_ "github.com/etl-toolkit/etl/sources/azumio"
	_ "github.com/etl-toolkit/etl/sources/generate"
)

var quiet = slog.New(slog.DiscardHandler)

// parsePipeline parses a pipeline file's text with env as its environment.
func parsePipeline(t testing.TB, yaml string, env map[string]string) *core.Pipeline {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	p, err := core.ParsePipeline(filepath.Join(env["DIR"], "p.yaml"), []byte(yaml), lookup)
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	return p
}

// buildPlans builds n plans of p (one per worker slot), closed at the end.
func buildPlans(t testing.TB, p *core.Pipeline, n int) []*core.Plan {
	t.Helper()
	var plans []*core.Plan
	for range n {
		pl, err := core.Build(context.Background(), p, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		t.Cleanup(func() { pl.Close() })
		plans = append(plans, pl)
	}
	return plans
}

// runLocally runs p once on a single machine with the bolt store.
func runLocally(t testing.TB, p *core.Pipeline) *core.Summary {
	t.Helper()
	pl := buildPlans(t, p, 1)[0]
	st, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sum, err := pl.Run(context.Background(), core.RunOptions{Store: st})
	if err != nil {
		t.Fatalf("single-machine run: %v", err)
	}
	return sum
}

// node is one worker process's connection: its store, queue and dispatcher.
type node struct {
	store *KVStore
	queue *Queue
}

func newNode(t testing.TB, url string, qo QueueOptions) *node {
	t.Helper()
	ctx := context.Background()
	st, err := Dial(ctx, url, KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := OpenQueue(ctx, st.Conn(), qo)
	if err != nil {
		t.Fatal(err)
	}
	return &node{store: st, queue: q}
}

// outcomes collects what workers report.
type outcomes struct {
	mu   sync.Mutex
	runs []Ran
	by   map[string][]string // unit -> worker:outcome
}

func (o *outcomes) hook(worker string) func(Ran) {
	return func(r Ran) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.runs = append(o.runs, r)
		if o.by == nil {
			o.by = map[string][]string{}
		}
		o.by[r.Unit] = append(o.by[r.Unit], worker+":"+r.Outcome)
	}
}

func (o *outcomes) count(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, r := range o.runs {
		if r.Outcome == outcome {
			n++
		}
	}
	return n
}

func (o *outcomes) of(unit string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.by[unit])
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWorker serves plans in the background until the test ends or stop is called.
func startWorker(t testing.TB, n *node, opts WorkerOptions, plans ...*core.Plan) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := NewWorker(n.queue, n.store, opts)
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx, plans...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker %s: %v", opts.ID, err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// queued returns how many messages the work queue holds.
func queued(t testing.TB, q *Queue) uint64 {
	t.Helper()
	info, err := q.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// parquetRows reads every visible Parquet file under root back with pqarrow
// (laketest.ParquetRows); a partial visible file fails the test.
func parquetRows(t testing.TB, root string) []string {
	t.Helper()
	rows, err := laketest.ParquetRows(root)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// lakeFiles lists every file under root, hidden ones included.
func lakeFiles(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameRows compares two sorted row lists, reporting the first differences.
func sameRows(t testing.TB, what string, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("%s: got %d rows, want %d", what, len(got), len(want))
	seen := map[string]int{}
	for _, r := range want {
		seen[r]++
	}
	shown := 0
	for _, r := range got {
		if seen[r]--; seen[r] < 0 && shown < 5 {
			t.Errorf("%s: extra or duplicate row %s", what, r)
			shown++
		}
	}
	for r, n := range seen {
		if n > 0 && shown < 10 {
			t.Errorf("%s: missing row %s (%d times)", what, r, n)
			shown++
		}
	}
}
