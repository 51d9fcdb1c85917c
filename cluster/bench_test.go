package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster/natstest"
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
func BenchmarkDispatchAndAck(b *testing.B) {
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			dir := b.TempDir()
			env := map[string]string{"DIR": dir, "UNITS": strconv.Itoa(max(b.N, 1))}
			p := parsePipeline(b, noopPipeline, env)
			url := natstest.Start(b)
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
