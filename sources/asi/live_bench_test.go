package asi

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// latencies records, for every row the probe transform right after reorder
// sees (the row emitted by reorder towards the sinks: on the run goroutine,
// before the queue to the sink goroutine), how long after its message
// arrived it got there: arrival is when the emulator wrote the message to the
// socket (asitest.Live.Sent), so the time our side took to read it counts
// too. It also records the time since the message's slot on the emulator's
// timeline (production), which adds the emulator's own send delay, and, from
// a probe sink placed after the Parquet sink, the time from arrival until the
// Parquet sink's Write of the row returned (written: encoded into the open
// roll, not yet committed; that happens at the next commit, every 10 s).
type latencies struct {
	mu        sync.Mutex
	emu       *asitest.Server
	sent      map[sentKey]time.Time
	arrival   []time.Duration
	produced  []time.Duration
	written   []time.Duration
	unmatched int64 // rows whose message was not seen sent before the stop
	// stopped is set as the run is stopped; sentBefore counts the messages
	// sent until then.
	stopped    atomic.Bool
	sentBefore int64
}

type sentKey struct {
	unit string
	ms   int64
}

// sentHook returns the emulator hook that notes each message's arrival.
func (l *latencies) sentHook() func(path string, t time.Time) {
	return func(path string, t time.Time) {
		now := time.Now()
		if l.stopped.Load() {
			return
		}
		dev := strings.TrimSuffix(strings.TrimPrefix(path, "/ws/v1/preprocessed-data/"), "/")
		l.mu.Lock()
		l.sent[sentKey{unitLiveDevicePrefix + dev, t.UnixMilli()}] = now
		l.sentBefore++
		l.mu.Unlock()
	}
}

type latencyTransform struct{ l *latencies }

func (t latencyTransform) Apply(ctx context.Context, b core.Batch, emit core.Emit) error {
	if b.Record != nil && b.Record.NumRows() > 0 {
		if idx := b.Record.Schema().FieldIndices("timestamp"); len(idx) > 0 {
			now := time.Now()
			sim, real := t.l.emu.Timeline()
			ts := b.Record.Column(idx[0]).(*array.Timestamp)
			t.l.mu.Lock()
			for i := range ts.Len() {
				ms := int64(ts.Value(i))
				produced := real.Add(time.UnixMilli(ms).Sub(sim))
				t.l.produced = append(t.l.produced, now.Sub(produced))
				k := sentKey{b.Unit, ms}
				if at, ok := t.l.sent[k]; ok {
					t.l.arrival = append(t.l.arrival, now.Sub(at))
				} else {
					t.l.unmatched++
				}
			}
			t.l.mu.Unlock()
		}
	}
	return emit(ctx, b)
}
func (latencyTransform) Flush(context.Context, string, core.Emit) error { return nil }
func (latencyTransform) Close() error                                   { return nil }

// writtenSink is the probe sink after the Parquet sink: it notes when each
// row's Write reached it.
type writtenSink struct{ l *latencies }

func (s writtenSink) Write(ctx context.Context, b core.Batch) error {
	if b.Record == nil || b.Record.NumRows() == 0 {
		return nil
	}
	idx := b.Record.Schema().FieldIndices("timestamp")
	if len(idx) == 0 {
		return nil
	}
	now := time.Now()
	ts := b.Record.Column(idx[0]).(*array.Timestamp)
	s.l.mu.Lock()
	for i := range ts.Len() {
		if at, ok := s.l.sent[sentKey{b.Unit, int64(ts.Value(i))}]; ok {
			s.l.written = append(s.l.written, now.Sub(at))
		}
	}
	s.l.mu.Unlock()
	return nil
}
func (writtenSink) Prepare(context.Context) ([]byte, error) { return nil, nil }
func (writtenSink) Commit(context.Context, []byte) error    { return nil }
func (writtenSink) Close() error                            { return nil }

var benchLatencies = map[string]*latencies{"1hz": {}, "10hz": {}}

func init() {
	for name, l := range benchLatencies {
		core.RegisterTransform("bench_latency_"+name, core.Factory[core.Transform]{Doc: "benchmark probe", Options: struct{}{},
			New: func(context.Context, core.Env) (core.Transform, error) { return latencyTransform{l}, nil }})
		core.RegisterSink("bench_written_"+name, core.Factory[core.Sink]{Doc: "benchmark probe", Options: struct{}{},
			New: func(context.Context, core.Env) (core.Sink, error) { return writtenSink{l}, nil }})
	}
}

// BenchmarkLiveLoad streams 1,000 devices at 1 Hz and 100 devices at 10 Hz
// (real time, ASI_BENCH_SECONDS long, default 60) from two emulators through
// reorder (max_delay 2s, ticked every 10ms) into Parquet rolling every 10 s,
// and reports the CPU used (the whole process: emulators included), the
// latency from a message's arrival (written to the socket) to its release by
// reorder towards the sinks (p50, p99; the goal is p99 <= max_delay + 50ms;
// see latencies for exactly what is timed), the same from the message's
// production (its slot on the emulator's timeline), the p99 from arrival
// until the Parquet sink's Write returned, messages lost and the peak RSS. Every fifth message arrives just after its
// successor (ASI_BENCH_OUT_OF_ORDER_EVERY, 0: none). The devices send in step,
// a burst at each slot, unless ASI_BENCH_STAGGER=1 spreads them over the
// interval (asitest.Live.Stagger; production latency then includes each
// device's phase). ASI_BENCH_TICK sets RunOptions.Tick (-1ns: no ticks, as
// before reorder had them). It also reports how long runnable goroutines waited for a
// CPU (the machine's load shows there) and the load average.
// Run: go test ./sources/asi -run ^$ -bench LiveLoad -benchtime 1x
func BenchmarkLiveLoad(b *testing.B) {
	seconds, ooo := 60, 5
	if v := os.Getenv("ASI_BENCH_SECONDS"); v != "" {
		fmt.Sscan(v, &seconds)
	}
	stagger := os.Getenv("ASI_BENCH_STAGGER") == "1"
	var tick time.Duration // 0: the runner's default
	if v := os.Getenv("ASI_BENCH_TICK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("ASI_BENCH_TICK: %v (want a duration; negative: no ticks)", err)
		}
		tick = d
	}
	if v := os.Getenv("ASI_BENCH_OUT_OF_ORDER_EVERY"); v != "" {
		fmt.Sscan(v, &ooo)
	}
	dir := b.TempDir()
	type job struct {
		name    string
		devices int
		rate    int
		emu     *asitest.Server
		sum     *core.Summary
		err     error
	}
	jobs := []*job{{name: "1hz", devices: 1000, rate: 1}, {name: "10hz", devices: 100, rate: 10}}
	for _, j := range jobs {
		opts := asitest.DefaultOptions()
		opts.Devices, opts.Athletes, opts.Activities, opts.Rate = j.devices, j.devices, 1, j.rate
		opts.Now = opts.Start.Add(5 * time.Minute)
		j.emu = asitest.NewServer(b, opts)
		l := benchLatencies[j.name]
		l.emu, l.sent, l.arrival, l.produced, l.written, l.unmatched, l.sentBefore = j.emu, map[sentKey]time.Time{}, nil, nil, nil, 0, 0
		l.stopped.Store(false)
		j.emu.SetLive(asitest.Live{Rate: j.rate, Speed: 1, OutOfOrderEvery: ooo, Stagger: stagger, Sent: l.sentHook()})
		j.emu.SetTokenLifetime(time.Hour)
	}
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	schedBefore, loadBefore := schedLatencies(), loadAverage()
	start := time.Now()
	var wg sync.WaitGroup
	for _, j := range jobs {
		c := j.emu.Credentials()
		pipeline := fmt.Sprintf(`version: 1
name: bench-%[1]s
state: %[2]s/state-%[1]s
concurrency: %[3]d
dead_letter: { path: %[2]s/dead-%[1]s.jsonl }
commit: { interval: 10s }
source:
  plugin: asi
  config:
    base_url: %[4]s
    client_id: %[5]s
    client_secret: ${ASI_CLIENT_SECRET}
    username: %[6]s
    password: ${ASI_PASSWORD}
    streams: [live_preprocessed]
    groups: [gnss]
    page_size: 3000
transforms:
  - plugin: reorder
    config: { time: timestamp, max_delay: 2s, flush_timeout: 10s, late: dead_letter }
  - plugin: bench_latency_%[1]s
sinks:
  - plugin: parquet
    config:
      path: %[2]s/out-%[1]s
      partition_by: [stream]
      roll: { interval: 10s, rows: 500000 }
  - plugin: bench_written_%[1]s
`, j.name, dir, j.devices, c.BaseURL, c.ClientID, c.Managers[0].Username)
		p, err := core.ParsePipeline(filepath.Join(dir, j.name+".yaml"), []byte(pipeline), func(k string) (string, bool) {
			v, ok := testEnv[k]
			return v, ok
		})
		if err != nil {
			b.Fatal(err)
		}
		pl, err := core.Build(context.Background(), p, testLogger())
		if err != nil {
			b.Fatal(err)
		}
		defer pl.Close()
		store, err := core.OpenBoltStore(p.StatePath())
		if err != nil {
			b.Fatal(err)
		}
		defer store.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(time.Duration(seconds)*time.Second, func() {
				benchLatencies[j.name].stopped.Store(true)
				cancel()
			})
			j.sum, j.err = pl.Run(ctx, core.RunOptions{Store: store, MaxTries: 3, Tick: tick})
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(after.Maxrss)/1024, "peak-RSS-MiB")
	for _, j := range jobs {
		l := benchLatencies[j.name]
		pa, pp, pw := quantiles(l.arrival), quantiles(l.produced), quantiles(l.written)
		sent := j.emu.LiveStats().Sent
		var rows int64
		for _, s := range j.sum.Streams {
			rows += s.Rows
		}
		// Lost: sent before the stop, yet neither released nor dead-lettered
		// (read off the socket by nobody, or not handed on, as the stop came).
		lost := l.sentBefore - int64(len(l.arrival)) - j.sum.DeadLetters
		b.Logf("%s: %d devices at %d Hz for %s: %d messages sent before the stop (%d in all), %d rows released by reorder (%d of messages sent after the stop), %d committed, %d dead letters (late), %d lost at the stop; counts %v",
			j.name, j.devices, j.rate, wall.Round(time.Second), l.sentBefore, sent, len(l.produced), l.unmatched, rows, j.sum.DeadLetters, lost, j.sum.Counts)
		b.Logf("%s: latency arrival→release p50 %s p99 %s max %s; production→release p50 %s p99 %s max %s; arrival→written by the Parquet sink p50 %s p99 %s max %s; run error %v",
			j.name, pa(0.5), pa(0.99), pa(1), pp(0.5), pp(0.99), pp(1), pw(0.5), pw(0.99), pw(1), j.err)
		b.ReportMetric(pa(0.5).Seconds()*1000, "p50-ms-"+j.name)
		b.ReportMetric(pa(0.99).Seconds()*1000, "p99-ms-"+j.name)
		b.ReportMetric(pp(0.99).Seconds()*1000, "p99-produced-ms-"+j.name)
		b.ReportMetric(pw(0.99).Seconds()*1000, "p99-written-ms-"+j.name)
		b.ReportMetric(float64(lost), "lost-"+j.name)
	}
	// How long runnable goroutines waited for a CPU: on a loaded machine this,
	// not our work, is what stretches the latency's tail.
	sched := schedLatencies().sub(schedBefore)
	b.Logf("goroutine scheduling latency p50 %s p99 %s p99.9 %s; load average before and after: %s → %s",
		sched.quantile(0.5), sched.quantile(0.99), sched.quantile(0.999), loadBefore, loadAverage())
	b.ReportMetric(sched.quantile(0.99).Seconds()*1000, "sched-p99-ms")
	b.Logf("CPU %s (user %s, sys %s) over %s wall (%.2f cores, emulators included), peak RSS %d MiB",
		cpu.Round(time.Millisecond), time.Duration(after.Utime.Nano()-before.Utime.Nano()).Round(time.Millisecond),
		time.Duration(after.Stime.Nano()-before.Stime.Nano()).Round(time.Millisecond),
		wall.Round(time.Millisecond), cpu.Seconds()/wall.Seconds(), after.Maxrss/1024)
}

// quantiles sorts d and returns its quantile function (0 for no data).
func quantiles(d []time.Duration) func(f float64) time.Duration {
	slices.Sort(d)
	return func(f float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[int(f*float64(len(d)-1))]
	}
}

// histogram is a runtime/metrics histogram of seconds.
type histogram struct {
	counts  []uint64
	buckets []float64
}

// schedLatencies returns the histogram of how long goroutines waited
// runnable before they ran, since the process started.
func schedLatencies() histogram {
	sample := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(sample)
	h := sample[0].Value.Float64Histogram()
	return histogram{counts: slices.Clone(h.Counts), buckets: h.Buckets}
}

// sub returns h less an earlier reading.
func (h histogram) sub(earlier histogram) histogram {
	out := histogram{counts: slices.Clone(h.counts), buckets: h.buckets}
	for i := range out.counts {
		out.counts[i] -= earlier.counts[i]
	}
	return out
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h histogram) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	want := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= want && c > 0 {
			upper := h.buckets[i+1]
			if math.IsInf(upper, 1) {
				upper = h.buckets[i]
			}
			return time.Duration(upper * float64(time.Second))
		}
	}
	return 0
}

// loadAverage returns the first three fields of /proc/loadavg ("" where
// there is none).
func loadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	return strings.Join(f[:min(3, len(f))], " ")
}
