package cluster

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/core"
)

// genPipeline has 2 units of 3,000 generated rows; ${RATE} rows per second
// paces them (0: no limit), so a test can catch a unit while it runs.
const genPipeline = `version: 1
name: gen
state: ${DIR}/state
commit: { interval: 1s }
source:
  plugin: generate
  config:
    seed: 3
    units: 2
    rows: 3000
    batch_size: 100
    rate: ${RATE}
sinks:
  - plugin: parquet
    config: { path: "${DIR}/lake", partition_by: [stream, unit] }
`

// genPipeline6 is genPipeline with 6 units.
var genPipeline6 = strings.Replace(genPipeline, "units: 2", "units: 6", 1)

// genReference returns the rows of unit-0001 as a single-machine run writes them.
func genReference(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	runLocally(t, parsePipeline(t, genPipeline, map[string]string{"DIR": dir, "RATE": "0"}))
	return unitRows(parquetRows(t, filepath.Join(dir, "lake")), "unit-0001")
}

func unitRows(rows []string, unit string) []string {
	var out []string
	for _, r := range rows {
		if strings.Contains(r, "unit="+unit+"|") {
			out = append(out, r)
		}
	}
	return out
}

// genPlans returns a slow plan (3 s per unit) and a fast one of genPipeline,
// both writing to dir/lake.
func genPlans(t *testing.T, dir string) (slow, fast *core.Plan) {
	slow = buildPlans(t, parsePipeline(t, genPipeline, map[string]string{"DIR": dir, "RATE": "1000"}), 1)[0]
	fast = buildPlans(t, parsePipeline(t, genPipeline, map[string]string{"DIR": dir, "RATE": "0"}), 1)[0]
	return slow, fast
}

// handover is the setup of the tests in which unit-0001 moves from worker w1
// to w2: a server, an ack wait of 1 s, a slow and a fast plan on one lake.
type handover struct {
	want       []string // unit-0001's rows from a single-machine run
	dir        string
	slow, fast *core.Plan
	url        string
	qo         QueueOptions
	ctl        *node
	got        outcomes
}

func newHandover(t *testing.T) *handover {
	h := &handover{want: genReference(t), dir: t.TempDir(), url: natstest.Start(t), qo: QueueOptions{AckWait: time.Second}}
	h.slow, h.fast = genPlans(t, h.dir)
	h.ctl = h.node(t)
	return h
}

func (h *handover) node(t *testing.T) *node { return newNode(t, h.url, h.qo) }

// start starts a quiet worker reporting to h.got.
func (h *handover) start(t *testing.T, n *node, opts WorkerOptions, plan *core.Plan) {
	opts.Logger, opts.FetchWait, opts.OnRun = quiet, 200*time.Millisecond, h.got.hook(opts.ID)
	startWorker(t, n, opts, plan)
}

// dispatch queues unit-0001.
func (h *handover) dispatch(t *testing.T) {
	if _, err := NewDispatcher(h.ctl.queue, h.ctl.store, quiet).Dispatch(context.Background(), "gen", []string{"unit-0001"}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func claimed(t *testing.T, st *KVStore, unit string) func() bool {
	return func() bool {
		v, _, err := st.Get(context.Background(), claimKey("gen", unit))
		if err != nil {
			t.Fatal(err)
		}
		return v != nil
	}
}

// TestStalledWorkerIsFencedOut forces a stale commit: worker w1 runs a unit
// without heartbeats (a stalled worker), JetStream gives the unit to w2 after the
// ack wait, w2 claims and completes it; w1's next commit is refused with
// ErrStale, and the lake holds the unit's rows exactly once.
func TestStalledWorkerIsFencedOut(t *testing.T) {
	h := newHandover(t)
	h.start(t, h.node(t), WorkerOptions{ID: "w1", Heartbeat: time.Hour}, h.slow)
	h.dispatch(t)
	waitFor(t, "w1 to claim the unit", 10*time.Second, claimed(t, h.ctl.store, "unit-0001"))
	h.start(t, h.node(t), WorkerOptions{ID: "w2"}, h.fast)
	got, want, dir, ctl := &h.got, h.want, h.dir, h.ctl
	waitFor(t, "w2 to complete the unit and w1 to be refused", 20*time.Second, func() bool {
		return got.count("acked") == 1 && got.count("fenced") == 1
	})
	if o := got.of("unit-0001"); len(o) != 2 || !slicesContain(o, "w2:acked") || !slicesContain(o, "w1:fenced") {
		t.Errorf("outcomes: got %q, want w2:acked and w1:fenced", o)
	}
	for _, r := range got.runs {
		if r.Outcome == "fenced" && !errors.Is(r.Err, core.ErrStale) {
			t.Errorf("w1's error: got %v, want ErrStale", r.Err)
		}
	}
	sameRows(t, "unit-0001 in the lake", unitRows(parquetRows(t, filepath.Join(dir, "lake")), "unit-0001"), want)
	if n := queued(t, ctl.queue); n != 0 {
		t.Errorf("queue holds %d units, want 0", n)
	}
}

// TestDisconnectedWorkersUnitIsRedelivered: w1 loses its connection mid-unit
// (as a killed worker or a cut network would); the unit is redelivered after the
// ack wait and completed by w2, with no row missing or doubled.
func TestDisconnectedWorkersUnitIsRedelivered(t *testing.T) {
	h := newHandover(t)
	n1 := h.node(t)
	h.start(t, n1, WorkerOptions{ID: "w1"}, h.slow)
	h.dispatch(t)
	waitFor(t, "w1 to claim the unit", 10*time.Second, claimed(t, h.ctl.store, "unit-0001"))
	time.Sleep(1200 * time.Millisecond) // w1 commits part of the unit (commit interval 1s)
	n1.store.Conn().Close()
	h.start(t, h.node(t), WorkerOptions{ID: "w2"}, h.fast)
	got, want, dir := &h.got, h.want, h.dir
	waitFor(t, "w2 to complete the unit", 20*time.Second, func() bool { return got.count("acked") == 1 })
	waitFor(t, "w1's run to end", 10*time.Second, func() bool { return len(got.of("unit-0001")) == 2 })
	if o := got.of("unit-0001"); !slicesContain(o, "w2:acked") || slicesContain(o, "w1:acked") {
		t.Errorf("outcomes: got %q, want w2 to complete the unit, not w1", o)
	}
	sameRows(t, "unit-0001 in the lake", unitRows(parquetRows(t, filepath.Join(dir, "lake")), "unit-0001"), want)
}

func slicesContain(list []string, s string) bool { return slices.Contains(list, s) }

// TestBurstOfTriggersQueuesOneRun: 50 triggers for one waiting unit queue one
// run; 20 triggers while it runs queue exactly one more run after it.
func TestBurstOfTriggersQueuesOneRun(t *testing.T) {
	dir := t.TempDir()
	slow, _ := genPlans(t, dir)
	url := natstest.Start(t)
	ctl := newNode(t, url, QueueOptions{})
	d := NewDispatcher(ctl.queue, ctl.store, quiet)
	d.RetryEvery = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Run(ctx)

	burst := func(n int) Queued {
		var mu sync.Mutex
		var total Queued
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := d.Dispatch(ctx, "gen", []string{"unit-0001"}, time.Now())
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total.Queued += r.Queued
				total.Coalesced += r.Coalesced
				total.Deferred += r.Deferred
				mu.Unlock()
			}()
		}
		wg.Wait()
		return total
	}
	if got := burst(50); got != (Queued{Queued: 1, Coalesced: 49}) {
		t.Errorf("50 triggers of a waiting unit: got %+v, want 1 queued, 49 coalesced", got)
	}
	if n := queued(t, ctl.queue); n != 1 {
		t.Fatalf("queue holds %d messages, want 1", n)
	}

	var got outcomes
	startWorker(t, newNode(t, url, QueueOptions{}), WorkerOptions{ID: "w1", Logger: quiet, FetchWait: 200 * time.Millisecond, OnRun: got.hook("w1")}, slow)
	waitFor(t, "the unit to run", 10*time.Second, claimed(t, ctl.store, "unit-0001"))
	if got := burst(20); got != (Queued{Deferred: 20}) {
		t.Errorf("20 triggers of a running unit: got %+v, want 20 deferred", got)
	}
	if n := d.Deferred(); n != 1 {
		t.Errorf("deferred units: got %d, want 1", n)
	}
	waitFor(t, "the follow-up run", 20*time.Second, func() bool { return got.count("acked") == 2 })
	time.Sleep(300 * time.Millisecond) // room for a wrong third run
	if n := got.count("acked"); n != 2 {
		t.Errorf("runs: got %d, want 2 (the queued one and one follow-up)", n)
	}
	if n := d.Deferred(); n != 0 {
		t.Errorf("deferred units after the follow-up: got %d, want 0", n)
	}
	if n := queued(t, ctl.queue); n != 0 {
		t.Errorf("queue holds %d messages, want 0", n)
	}
}

// TestStoppedWorkerRequeuesItsUnit: a worker told to stop in the middle of a
// unit commits what it read and gives the unit back at once (nak); another
// worker resumes it from that commit, with no row missing or doubled.
func TestStoppedWorkerRequeuesItsUnit(t *testing.T) {
	h := newHandover(t)
	h.qo = QueueOptions{} // the default 30 s ack wait: only the nak can move the unit in time
	n1 := h.node(t)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- NewWorker(n1.queue, n1.store, WorkerOptions{ID: "w1", Logger: quiet, FetchWait: 200 * time.Millisecond, OnRun: h.got.hook("w1")}).Serve(ctx, h.slow)
	}()
	h.dispatch(t)
	waitFor(t, "w1 to claim the unit", 10*time.Second, claimed(t, h.ctl.store, "unit-0001"))
	time.Sleep(500 * time.Millisecond)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if o := h.got.of("unit-0001"); len(o) != 1 || o[0] != "w1:requeued" {
		t.Fatalf("w1's outcome: got %q, want [w1:requeued]", o)
	}
	h.start(t, h.node(t), WorkerOptions{ID: "w2"}, h.fast)
	waitFor(t, "w2 to complete the unit", 10*time.Second, func() bool { return h.got.count("acked") == 1 })
	sameRows(t, "unit-0001 in the lake", unitRows(parquetRows(t, filepath.Join(h.dir, "lake")), "unit-0001"), h.want)
	units, err := core.UnitStates(context.Background(), h.ctl.store, "gen")
	if err != nil || len(units) != 1 || units[0].State.Rows != 3000 {
		t.Errorf("unit state: got %+v (%v), want unit-0001 at 3000 rows", units, err)
	}
}

// failPositions is a store whose writes of unit positions fail, as if the
// process died right after making its files visible (step 3 of the commit).
type failPositions struct{ *KVStore }

func (f failPositions) Update(ctx context.Context, writes ...core.Write) ([]uint64, error) {
	for _, w := range writes {
		if strings.Contains(w.Key, "/unit/") {
			return nil, errors.New("test: died before saving positions")
		}
	}
	return f.KVStore.Update(ctx, writes...)
}

// TestWorkerFinishesACommitLeftHalfDone: a run of unit-0001 records its commit
// and makes its files visible but dies before saving the position; a worker
// that then gets the unit finishes that commit first (the files are not
// written again) and reads on from there: the lake holds every row once.
func TestWorkerFinishesACommitLeftHalfDone(t *testing.T) {
	h := newHandover(t)
	ctx := context.Background()
	_, err := h.fast.Run(ctx, core.RunOptions{Store: failPositions{h.ctl.store}, Units: []string{"unit-0001"}, Scope: "unit-0001"})
	if err == nil {
		t.Fatal("the half-done run succeeded")
	}
	if pending, err := core.HasPendingCommit(ctx, h.ctl.store, "gen"); err != nil || !pending {
		t.Fatalf("pending commit after the half-done run: %v, %v", pending, err)
	}
	if n := len(unitRows(parquetRows(t, filepath.Join(h.dir, "lake")), "unit-0001")); n != len(h.want) {
		t.Fatalf("half-done run: %d rows visible, want all %d (files committed, position not)", n, len(h.want))
	}
	h.start(t, h.node(t), WorkerOptions{ID: "w1"}, h.slow)
	h.dispatch(t)
	waitFor(t, "the worker to run the unit", 10*time.Second, func() bool { return h.got.count("acked") == 1 })
	sameRows(t, "unit-0001 in the lake", unitRows(parquetRows(t, filepath.Join(h.dir, "lake")), "unit-0001"), h.want)
	if pending, err := core.HasPendingCommit(ctx, h.ctl.store, "gen"); err != nil || pending {
		t.Errorf("pending commit after the worker: %v, %v", pending, err)
	}
}
