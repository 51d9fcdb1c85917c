package cluster

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// azumioPipeline exports the Azumio emulator at ${BASE} to Parquet at ${LAKE}.
const azumioPipeline = `version: 1
name: azumio-cluster
state: ${DIR}/state
concurrency: 4
commit: { interval: 1s }
source:
  plugin: azumio
  config:
    base_url: ${BASE}
    client_id: ${CLIENT}
    client_secret: ${SECRET}
    tokens: ${DIR}/tokens.json
    types: [steps, sleeptime]
    requests_per_second: 0
    timeout: 5s
    retry: { tries: 4, initial: 5ms, max: 50ms }
sinks:
  - plugin: parquet
    config: { path: "${LAKE}", partition_by: [stream] }
`

// TestWorkersExportEachUserOnce: 3 workers in one process export 300 emulated
// Azumio users; the lake holds the same rows as a single-machine run. A second
// dispatch of every unit then exports nothing: the positions live in the KV store.
func TestWorkersExportEachUserOnce(t *testing.T) {
	dir := t.TempDir()
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 5, Users: 300, Checkins: 8, Types: []string{"steps", "sleeptime"}})
	if err := srv.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DIR": dir, "BASE": srv.URL(), "CLIENT": srv.ClientID(), "SECRET": srv.ClientSecret(), "LAKE": filepath.Join(dir, "ref")}
	start := time.Now()
	runLocally(t, parsePipeline(t, azumioPipeline, env))
	t.Logf("single-machine run: %s", time.Since(start))
	want := parquetRows(t, filepath.Join(dir, "ref"))
	if len(want) < 300*8 {
		t.Fatalf("single-machine run: %d rows, want at least %d (8 check-ins of 300 users)", len(want), 300*8)
	}

	env["LAKE"] = filepath.Join(dir, "lake")
	p := parsePipeline(t, azumioPipeline, env)
	url := natstest.Start(t)
	var got outcomes
	for _, id := range []string{"w1", "w2", "w3"} {
		startWorker(t, newNode(t, url, QueueOptions{}), WorkerOptions{ID: id, OnRun: got.hook(id), Logger: quiet, FetchWait: 200 * time.Millisecond}, buildPlans(t, p, 2)...)
	}
	plan := buildPlans(t, p, 1)[0]
	units, err := plan.Source.Units(context.Background())
	if err != nil || len(units) != 300 {
		t.Fatalf("units: %d, %v", len(units), err)
	}
	ctl := newNode(t, url, QueueOptions{})
	d := NewDispatcher(ctl.queue, ctl.store, nil)
	res, err := d.Dispatch(context.Background(), p.Name, units, time.Now())
	if err != nil || res.Queued != 300 {
		t.Fatalf("dispatch: %+v, %v", res, err)
	}
	start = time.Now()
	waitFor(t, "300 units acknowledged", 45*time.Second, func() bool { return got.count("acked") == 300 })
	t.Logf("3 workers: %s", time.Since(start))
	sameRows(t, "lake written by 3 workers", parquetRows(t, env["LAKE"]), want)
	files := len(lakeFiles(t, env["LAKE"]))
	workers := map[string]bool{}
	for _, u := range units {
		for _, o := range got.of(u) {
			workers[strings.Split(o, ":")[0]] = true
		}
	}
	if len(workers) != 3 {
		t.Errorf("units ran on %d workers, want 3", len(workers))
	}
	if n := queued(t, ctl.queue); n != 0 {
		t.Errorf("queue holds %d units after every ack, want 0", n)
	}

	if _, err := d.Dispatch(context.Background(), p.Name, units, time.Now()); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitFor(t, "the second round acknowledged", 45*time.Second, func() bool { return got.count("acked") == 600 })
	t.Logf("second round: %s", time.Since(start))
	if n := len(lakeFiles(t, env["LAKE"])); n != files {
		t.Errorf("the second round made files: %d, want %d", n, files)
	}
	if n := got.count("fenced") + got.count("retry") + got.count("requeued"); n != 0 {
		t.Errorf("%d unit runs did not end acknowledged", n)
	}
}
