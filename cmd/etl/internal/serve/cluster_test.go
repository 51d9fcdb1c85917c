package serve

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etl-toolkit/etl/cluster"
	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// clusterQueue opens the work queue on a fresh embedded server.
func clusterQueue(t *testing.T) (*cluster.KVStore, *cluster.Queue) {
	t.Helper()
	ctx := context.Background()
	st, err := cluster.Dial(ctx, natstest.Start(t), cluster.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q, err := cluster.OpenQueue(ctx, st.Conn(), cluster.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return st, q
}

// TestClusterModeScheduleQueuesEveryUnit: a schedule firing under --cluster
// queues every unit the source lists, and runs none.
func TestClusterModeScheduleQueuesEveryUnit(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 5, Users: 4, Checkins: 5, Types: []string{"steps"}})
	dir := t.TempDir()
	st, q := clusterQueue(t)
	clock := newFakeClock(time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC))
	cfg := &Config{Queue: 100, ShutdownGrace: 10 * time.Second, Pipelines: []PipelineConfig{{
		File: azumioPipeline(t, emu, dir, 10), Schedule: "0 1 * * *",
	}}}
	srv := startWith(t, cfg, Options{Clock: clock, Cluster: cluster.NewDispatcher(q, st, slog.New(slog.DiscardHandler))})
	waitFor(t, "the schedule to wait", func() bool { return clock.Waiting() == 1 })
	clock.Advance(30 * time.Minute)
	waitFor(t, "the units to be queued", func() bool { return srv.Runs(azumioName) == 1 })
	js, err := jetstream.New(st.Conn())
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(context.Background(), "ETL_UNITS")
	if err != nil {
		t.Fatal(err)
	}
	if n := stream.CachedInfo().State.Msgs; n != 4 {
		t.Errorf("queued units: got %d, want the 4 users", n)
	}
	if got := csvRows(t, filepath.Join(dir, "out")); len(got) != 0 {
		t.Errorf("serve --cluster exported %d rows itself", len(got))
	}
}

// TestClusterModeQueuesInsteadOfRunning: with Options.Cluster, a webhook queues
// its unit on the work queue and nothing runs in the server (no local state
// file); a worker then runs the unit and exports that user's check-ins.
func TestClusterModeQueuesInsteadOfRunning(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 7, Users: 3, Checkins: 30, Types: []string{"steps"}})
	dir := t.TempDir()
	file := azumioPipeline(t, emu, dir, 10)
	ctx := context.Background()
	st, q := clusterQueue(t)
	d := cluster.NewDispatcher(q, st, slog.New(slog.DiscardHandler))
	cfg := &Config{Queue: 100, ShutdownGrace: 10 * time.Second, Pipelines: []PipelineConfig{{File: file, Azumio: true}}}
	srv := startWith(t, cfg, Options{Cluster: d})
	subscribe(t, emu, "10002", srv.URL+"/hooks/azumio/"+azumioName)

	emu.Advance(time.Hour, azumiotest.Changes{New: 2, Edited: 1})
	waitFor(t, "the unit to be queued", func() bool { return srv.Runs(azumioName) == 1 })
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("serve --cluster opened a local state (%v); it must only queue", err)
	}
	if got := csvRows(t, filepath.Join(dir, "out")); len(got) != 0 {
		t.Fatalf("serve --cluster exported %d rows itself", len(got))
	}

	p, err := core.LoadPipeline(file)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := core.Build(ctx, p, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer plan.Close()
	ran := make(chan cluster.Ran, 10)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	w := cluster.NewWorker(q, st, cluster.WorkerOptions{Logger: slog.New(slog.DiscardHandler), FetchWait: 200 * time.Millisecond, OnRun: func(r cluster.Ran) { ran <- r }})
	go func() { done <- w.Serve(wctx, plan) }()
	select {
	case r := <-ran:
		if r.Outcome != "acked" || r.Err != nil {
			t.Errorf("worker: %s, %v", r.Outcome, r.Err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no unit ran")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := csvRows(t, filepath.Join(dir, "out"))
	if want := currentSteps(emu, "10002"); !slices.Equal(got, want) {
		t.Errorf("worker exported %d rows, want user 10002's %d steps check-ins", len(got), len(want))
	}
}
