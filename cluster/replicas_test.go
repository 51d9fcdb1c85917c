package cluster

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster/natstest"
)

// TestReplicatedClusterSurvivesANodeLoss runs the state bucket and the work
// queue with 3 replicas on a three-server cluster (as docs/cluster.md sets it
// up), stops the state bucket's leader while two workers export 6 units, and checks that every
// unit completes and the lake holds the single-machine run's rows exactly once.
func TestReplicatedClusterSurvivesANodeLoss(t *testing.T) {
	ref := t.TempDir()
	runLocally(t, parsePipeline(t, genPipeline6, map[string]string{"DIR": ref, "RATE": "0"}))
	want := parquetRows(t, filepath.Join(ref, "lake"))

	urls, servers := natstest.StartCluster(t, 3)
	ctx := context.Background()
	open := func() *node {
		st, err := Dial(ctx, urls, KVOptions{Replicas: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		q, err := OpenQueue(ctx, st.Conn(), QueueOptions{Replicas: 3, AckWait: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return &node{store: st, queue: q}
	}
	ctl := open()
	for _, name := range []string{"KV_" + DefaultBucket, "ETL_UNITS"} {
		s, err := ctl.queue.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s: %d replicas, want 3", name, r)
		}
	}

	dir := t.TempDir()
	p := parsePipeline(t, genPipeline6, map[string]string{"DIR": dir, "RATE": "6000"})
	var got outcomes
	for _, id := range []string{"w1", "w2"} {
		startWorker(t, open(), WorkerOptions{ID: id, Logger: quiet, FetchWait: 200 * time.Millisecond, OnRun: got.hook(id),
			RetryDelays: []time.Duration{100 * time.Millisecond}}, buildPlans(t, p, 1)...)
	}
	units := []string{"unit-0001", "unit-0002", "unit-0003", "unit-0004", "unit-0005", "unit-0006"}
	if _, err := NewDispatcher(ctl.queue, ctl.store, quiet).Dispatch(ctx, "gen", units, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a first unit", 20*time.Second, func() bool { return got.count("acked") >= 1 })
	// Stop the server leading the state bucket's stream: a new leader is
	// elected among the other two while the workers write.
	kvs, err := ctl.queue.js.Stream(ctx, "KV_"+DefaultBucket)
	if err != nil {
		t.Fatal(err)
	}
	leader := kvs.CachedInfo().Cluster.Leader
	stopped := false
	for _, s := range servers {
		if s.Name() == leader {
			s.Shutdown()
			stopped = true
		}
	}
	if !stopped {
		t.Fatalf("no server named %q leads the state bucket", leader)
	}
	waitFor(t, "every unit acknowledged after a server stopped", 45*time.Second, func() bool { return got.count("acked") == 6 })
	sameRows(t, "lake", parquetRows(t, filepath.Join(dir, "lake")), want)
	t.Logf("outcomes: %v", got.by)
}
