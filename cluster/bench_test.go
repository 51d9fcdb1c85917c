package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/etl-toolkit/etl/core"
)

// noopPipeline has units that read one generated row each into the discard sink:
// what a worker spends on such a unit is the cluster's overhead per unit.
const noopPipeline = `version: 1
name: noop
state: ${DIR}/state
source:
  plugin: generate
  config:
    seed: 1
    units: ${UNITS}
    rows: 1
sinks:
  - plugin: discard
`

// BenchmarkDispatchAndAck dispatches b.N no-op units and waits until workers
// (one slot each) have run and acknowledged all of them. It reports units/s
// and the CPU time of the whole process (server, dispatcher and workers) per unit.
//
// With sync=always the server fsyncs every JetStream write (sync_interval:
// always), as the bolt store of BenchmarkLocalUnitRun fsyncs every commit; the
// default (sync=2m) leaves that to the OS and, in a cluster, to the replicas.
func BenchmarkDispatchAndAck(b *testing.B) {
	for _, c := range []struct {
		sync    string
		workers int
	}{{"2m", 1}, {"2m", 2}, {"2m", 4}, {"always", 1}, {"always", 4}} {
		workers := c.workers
		b.Run(fmt.Sprintf("sync=%s/workers=%d", c.sync, workers), func(b *testing.B) {
			dir := b.TempDir()
			env := map[string]string{"DIR": dir, "UNITS": strconv.Itoa(max(b.N, 1))}
			p := parsePipeline(b, noopPipeline, env)
			url := natstest.StartServer(b, func(o *server.Options) { o.SyncAlways = c.sync == "always" }).ClientURL()
			var acked atomic.Int64
			for i := range workers {
				startWorker(b, newNode(b, url, QueueOptions{}), WorkerOptions{ID: fmt.Sprint("w", i), Logger: quiet, FetchWait: 200 * time.Millisecond,
					OnRun: func(r Ran) {
						if r.Outcome == "acked" {
							acked.Add(1)
						}
					}}, buildPlans(b, p, 1)...)
			}
			units, err := buildPlans(b, p, 1)[0].Source.Units(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			ctl := newNode(b, url, QueueOptions{})
			d := NewDispatcher(ctl.queue, ctl.store, quiet)
			cpu0 := cpuTime()
			b.ResetTimer()
			start := time.Now()
			if _, err := d.Dispatch(context.Background(), p.Name, units, time.Now()); err != nil {
				b.Fatal(err)
			}
			dispatched := time.Since(start)
			for acked.Load() < int64(len(units)) {
				time.Sleep(time.Millisecond)
			}
			wall := time.Since(start)
			b.StopTimer()
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(len(units))/wall.Seconds(), "units/s")
			b.ReportMetric(float64(len(units))/dispatched.Seconds(), "dispatched/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(len(units)), "cpu-µs/unit")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLocalUnitRun is the baseline of BenchmarkDispatchAndAck: the same
// no-op units run one per plan.Run on one machine with the bolt store, so the
// difference is what the cluster adds per unit (queue, claim, KV round trips).
func BenchmarkLocalUnitRun(b *testing.B) {
	dir := b.TempDir()
	p := parsePipeline(b, noopPipeline, map[string]string{"DIR": dir, "UNITS": strconv.Itoa(max(b.N, 1))})
	pl := buildPlans(b, p, 1)[0]
	units, err := pl.Source.Units(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	st, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cpu0 := cpuTime()
	b.ResetTimer()
	for _, u := range units {
		if _, err := pl.Run(context.Background(), core.RunOptions{Store: st, Units: []string{u}, Scope: u}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(len(units)), "cpu-µs/unit")
}
