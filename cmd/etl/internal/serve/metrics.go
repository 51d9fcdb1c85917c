package serve

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/etl-toolkit/etl/core"
)

// Webhook event results, the values of the result label of
// etl_webhook_events_total.
const (
	ResultAccepted     = "accepted"      // queued for a pull
	ResultOverflow     = "overflow"      // queued, as part of a full run (queue full)
	ResultUnauthorized = "unauthorized"  // wrong or missing secret: 401
	ResultBadRequest   = "bad_request"   // no unit could be read from the call: 400
	ResultUnknown      = "unknown_route" // no pipeline with that name and receiver: 404
	ResultShutdown     = "shutting_down" // the server is stopping: 503
)

// Metrics are the Prometheus metrics of runs and receivers, on their own
// registry (with the Go and process collectors). It is safe for concurrent use.
// `etl serve` and `etl run --metrics-addr` both use it.
type Metrics struct {
	reg *prometheus.Registry

	errors      *prometheus.CounterVec // pipeline, kind (unit, run)
	deadLetters *prometheus.CounterVec // pipeline
	runs        *prometheus.CounterVec // pipeline, trigger, result
	duration    *prometheus.HistogramVec
	lag         *prometheus.GaugeVec   // pipeline, unit
	events      *prometheus.CounterVec // receiver, pipeline, result
	pending     *prometheus.GaugeVec   // pipeline

	// Rows, batches, bytes, retries, rate-limit waits and the components'
	// events are the counts of finished runs plus those of running ones
	// (their live Progress, and their plan's Counters since the run began),
	// so that a long run shows on /metrics while it goes; see Collect.
	mu         sync.Mutex
	streams    map[[2]string]core.StreamCount // pipeline, stream: finished runs
	waits      map[string][2]int64            // pipeline: retries, rate-limit waits of finished runs
	counts     map[[2]string]int64            // pipeline, name: core.Counters of finished runs
	live       map[string]*core.Progress      // pipeline: the running run's counters
	liveEvents map[string]liveCounters        // pipeline: the running run's plan's Counters
}

// liveCounters are a running plan's Counters and their values as its run began.
type liveCounters struct {
	c    *core.Counters
	base map[string]int64
}

var (
	descRows      = prometheus.NewDesc("etl_rows_total", "Rows written to the sinks, by pipeline and stream (running runs included).", []string{"pipeline", "stream"}, nil)
	descBatches   = prometheus.NewDesc("etl_batches_total", "Record batches written to the sinks.", []string{"pipeline", "stream"}, nil)
	descBytes     = prometheus.NewDesc("etl_bytes_total", "Arrow buffer bytes written to the sinks.", []string{"pipeline", "stream"}, nil)
	descRetries   = prometheus.NewDesc("etl_retries_total", "Transient errors retried after a backoff.", []string{"pipeline"}, nil)
	descRateWaits = prometheus.NewDesc("etl_rate_limit_waits_total", "Waits for an API rate limit.", []string{"pipeline"}, nil)
	descEvents    = prometheus.NewDesc("etl_events_total", "Events the components counted, by name: live-stream gaps (asi.gaps) and reconnects, late, dead-lettered, duplicate and timed-out rows of reorder (reorder.late ...) (running runs included).", []string{"pipeline", "name"}, nil)
)

// progressCollector reports the counters that combine finished and running runs.
type progressCollector struct{ m *Metrics }

func (c progressCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRows
	ch <- descBatches
	ch <- descBytes
	ch <- descRetries
	ch <- descRateWaits
	ch <- descEvents
}

func (c progressCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	streams := maps.Clone(m.streams)
	waits := maps.Clone(m.waits)
	for name, prog := range m.live {
		for _, s := range prog.Streams() {
			k := [2]string{name, s.Stream}
			t := streams[k]
			t.Rows, t.Batches, t.Bytes = t.Rows+s.Rows, t.Batches+s.Batches, t.Bytes+s.Bytes
			streams[k] = t
		}
		r, w := prog.Waits()
		t := waits[name]
		waits[name] = [2]int64{t[0] + r, t[1] + w}
	}
	events := maps.Clone(m.counts)
	for name, lc := range m.liveEvents {
		for k, v := range lc.c.Snapshot() {
			events[[2]string{name, k}] += v - lc.base[k]
		}
	}
	m.mu.Unlock()
	for k, n := range events {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	for k, s := range streams {
		ch <- prometheus.MustNewConstMetric(descRows, prometheus.CounterValue, float64(s.Rows), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(descBatches, prometheus.CounterValue, float64(s.Batches), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.Bytes), k[0], k[1])
	}
	for name, w := range waits {
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(w[0]), name)
		ch <- prometheus.MustNewConstMetric(descRateWaits, prometheus.CounterValue, float64(w[1]), name)
	}
}

// NewMetrics returns metrics registered on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(), streams: map[[2]string]core.StreamCount{}, waits: map[string][2]int64{},
		counts: map[[2]string]int64{}, live: map[string]*core.Progress{}, liveEvents: map[string]liveCounters{},
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etl", Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.errors = cv("errors_total", "Failed units (kind=unit) and failed runs (kind=run).", "pipeline", "kind")
	m.deadLetters = cv("dead_letters_total", "Rows sent to the dead-letter file.", "pipeline")
	m.runs = cv("runs_total", "Runs by trigger (schedule, webhook, run) and result (ok, units_failed, failed, interrupted).", "pipeline", "trigger", "result")
	m.events = cv("webhook_events_total", "Webhook calls by receiver and result.", "receiver", "pipeline", "result")
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "etl", Name: "run_duration_seconds", Help: "Duration of runs.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
	}, []string{"pipeline", "trigger"})
	m.lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etl", Name: "unit_lag_seconds",
		Help: "For the last pull of each unit: seconds from the first trigger asking for it to the end of the pull that exported it.",
	}, []string{"pipeline", "unit"})
	m.pending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etl", Name: "queue_pending_units",
		Help: "Units waiting for a pull (-1: a full run waits).",
	}, []string{"pipeline"})
	m.reg.MustRegister(m.duration, m.lag, m.pending, progressCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry, for callers adding their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Run is what ObserveRun records about one finished run.
type Run struct {
	Pipeline string
	// Trigger is what started the run: "schedule", "webhook", "run".
	Trigger  string
	Summary  *core.Summary // may be nil when the run failed before starting
	Progress *core.Progress
	Err      error
	// Asked says when each unit of the run was first asked for (webhooks); with
	// the run's end it gives the units' lag. Nil for runs not asked by unit.
	Asked map[string]time.Time
	Ended time.Time
}

// Start shows a run's live counters on /metrics until ObserveRun records the
// run; prog must be the Progress the run updates. One run per pipeline at a time.
func (m *Metrics) Start(pipeline string, prog *core.Progress) {
	m.mu.Lock()
	m.live[pipeline] = prog
	m.mu.Unlock()
}

// StartCounters shows, in etl_events_total, what the components add to c (the
// running plan's Counters, core.Plan.Counters) from now until ObserveRun
// records the run, whose Summary.Counts then take over. Call it just before
// the run starts, with Start.
func (m *Metrics) StartCounters(pipeline string, c *core.Counters) {
	lc := liveCounters{c: c, base: c.Snapshot()}
	m.mu.Lock()
	m.liveEvents[pipeline] = lc
	m.mu.Unlock()
}

// ObserveRun adds a finished run to the counters (and ends its Start).
func (m *Metrics) ObserveRun(r Run) {
	result := "ok"
	switch {
	case r.Err != nil && errors.Is(r.Err, core.ErrUnitsFailed):
		result = "units_failed"
	case r.Err != nil:
		result = "failed"
		m.errors.WithLabelValues(r.Pipeline, "run").Inc()
	case r.Summary != nil && r.Summary.Interrupted:
		result = "interrupted"
	}
	m.runs.WithLabelValues(r.Pipeline, r.Trigger, result).Inc()
	if s := r.Summary; s != nil {
		m.duration.WithLabelValues(r.Pipeline, r.Trigger).Observe(s.Duration.Seconds())
		m.errors.WithLabelValues(r.Pipeline, "unit").Add(float64(len(s.Failed)))
		m.mu.Lock()
		for _, c := range s.Streams {
			k := [2]string{r.Pipeline, c.Stream}
			t := m.streams[k]
			t.Stream, t.Rows, t.Batches, t.Bytes = c.Stream, t.Rows+c.Rows, t.Batches+c.Batches, t.Bytes+c.Bytes
			m.streams[k] = t
		}
		m.mu.Unlock()
		m.deadLetters.WithLabelValues(r.Pipeline).Add(float64(s.DeadLetters))
		for u, at := range r.Asked {
			if _, failed := s.Failed[u]; !failed && !s.Interrupted {
				m.lag.WithLabelValues(r.Pipeline, u).Set(r.Ended.Sub(at).Seconds())
			}
		}
	}
	m.mu.Lock()
	if r.Summary != nil {
		for name, n := range r.Summary.Counts {
			m.counts[[2]string{r.Pipeline, name}] += n
		}
	}
	delete(m.liveEvents, r.Pipeline)
	if r.Progress != nil {
		retries, rate := r.Progress.Waits()
		t := m.waits[r.Pipeline]
		m.waits[r.Pipeline] = [2]int64{t[0] + retries, t[1] + rate}
	}
	if m.live[r.Pipeline] == r.Progress {
		delete(m.live, r.Pipeline)
	}
	m.mu.Unlock()
}

// Event counts one webhook call.
func (m *Metrics) Event(receiver, pipeline, result string) {
	m.events.WithLabelValues(receiver, pipeline, result).Inc()
}

// Pending sets a pipeline's queue gauge.
func (m *Metrics) Pending(pipeline string, n int) {
	m.pending.WithLabelValues(pipeline).Set(float64(n))
}

// Touch makes a pipeline's counters appear (at zero) before its first run, so
// that dashboards and alerts see them from the start.
func (m *Metrics) Touch(pipeline string) {
	m.errors.WithLabelValues(pipeline, "unit")
	m.errors.WithLabelValues(pipeline, "run")
	m.mu.Lock()
	if _, ok := m.waits[pipeline]; !ok {
		m.waits[pipeline] = [2]int64{}
	}
	m.mu.Unlock()
	m.deadLetters.WithLabelValues(pipeline)
	m.pending.WithLabelValues(pipeline)
}

// ListenMetrics serves m on addr (GET /metrics, and /healthz) until ctx ends,
// for `etl run --metrics-addr`. It returns the address it listens on (useful
// with port 0) once it accepts connections.
func ListenMetrics(ctx context.Context, addr string, m *Metrics) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("serve: metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	return ln.Addr().String(), nil
}
