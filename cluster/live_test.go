package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etl-toolkit/etl/cluster/lease"
	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/core"
)

// livePipeline has 4 endless units of generated rows, 2,000 a second each.
const livePipeline = `version: 1
name: live
state: ${DIR}/state
commit: { interval: 1s }
source:
  plugin: generate
  config:
    seed: 5
    units: 4
    endless: true
    rate: 2000
    batch_size: 100
sinks:
  - plugin: parquet
    config: { path: "${DIR}/lake", partition_by: [stream, unit] }
`

// TestLiveUnitsMoveToTheSurvivor: two workers share 4 live units under leases
// (2 each); when w1 stops, its units move to w2, which resumes them from w1's
// last commit. Each unit's rows in the lake are then exactly rows 0 … n-1 of the
// generator, n being the unit's saved row count: none lost, none doubled.
func TestLiveUnitsMoveToTheSurvivor(t *testing.T) {
	dir := t.TempDir()
	p := parsePipeline(t, livePipeline, map[string]string{"DIR": dir})
	url := natstest.Start(t)
	n1, n2 := newNode(t, url, QueueOptions{}), newNode(t, url, QueueOptions{})
	leases := func(n *node) jetstream.KeyValue {
		js, err := jetstream.New(n.store.Conn())
		if err != nil {
			t.Fatal(err)
		}
		kv, err := lease.CreateBucket(context.Background(), js, lease.BucketConfig{TTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return kv
	}
	var got outcomes
	ctx1, stop1 := context.WithCancel(context.Background())
	ctx2, stop2 := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() {
		done <- NewWorker(n1.queue, n1.store, WorkerOptions{ID: "w1", Logger: quiet, OnRun: got.hook("w1")}).ServeLive(ctx1, leases(n1), buildPlans(t, p, 2)...)
	}()
	go func() {
		done <- NewWorker(n2.queue, n2.store, WorkerOptions{ID: "w2", Logger: quiet, OnRun: got.hook("w2")}).ServeLive(ctx2, leases(n2), buildPlans(t, p, 4)...)
	}()
	held := func(worker string) int {
		n := 0
		for _, u := range []string{"unit-0001", "unit-0002", "unit-0003", "unit-0004"} {
			v, _, err := n2.store.Get(context.Background(), claimKey("live", u))
			if err != nil {
				t.Fatal(err)
			}
			var c claim
			if v != nil && json.Unmarshal(v, &c) == nil && c.Worker == worker {
				n++
			}
		}
		return n
	}
	waitFor(t, "each worker to hold 2 units", 15*time.Second, func() bool { return held("w1") == 2 && held("w2") == 2 })
	time.Sleep(1500 * time.Millisecond) // both commit some rows
	stop1()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "w2 to hold all 4 units", 15*time.Second, func() bool { return held("w2") == 4 })
	time.Sleep(1500 * time.Millisecond)
	stop2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := got.count("fenced") + got.count("failed"); n != 0 {
		t.Errorf("%d live runs failed or were fenced: %v", n, got.by)
	}

	st := n2.store
	units, err := core.UnitStates(context.Background(), st, "live")
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 4 {
		t.Fatalf("units with state: %d, want 4", len(units))
	}
	rows := parquetRows(t, filepath.Join(dir, "lake"))
	ids := map[string][]int64{}
	for _, r := range rows {
		f := strings.Split(r, "|") // partition dir, unit, id, ...
		id, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("row %s: %v", r, err)
		}
		ids[f[1]] = append(ids[f[1]], id)
	}
	for _, u := range units {
		list := ids[u.Unit]
		seen := make([]bool, u.State.Rows)
		for _, id := range list {
			if id < 0 || id >= u.State.Rows || seen[id] {
				t.Fatalf("%s: row %d doubled or beyond the saved %d rows", u.Unit, id, u.State.Rows)
			}
			seen[id] = true
		}
		if int64(len(list)) != u.State.Rows {
			t.Errorf("%s: %d rows in the lake, want the saved %d", u.Unit, len(list), u.State.Rows)
		}
		if u.State.Rows < 2000 {
			t.Errorf("%s: only %d rows after 3 s at 2,000 rows/s", u.Unit, u.State.Rows)
		}
		if o := got.of(u.Unit); !strings.Contains(fmt.Sprint(o), "w2:") {
			t.Errorf("%s: never ran on w2: %v", u.Unit, o)
		}
	}
}
