package serve

import (
	"errors"
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

	rows, batches, bytes *prometheus.CounterVec // pipeline, stream
	errors               *prometheus.CounterVec // pipeline, kind (unit, run)
	retries, rateWaits   *prometheus.CounterVec // pipeline
	deadLetters          *prometheus.CounterVec // pipeline
	runs                 *prometheus.CounterVec // pipeline, trigger, result
	duration             *prometheus.HistogramVec
	lag                  *prometheus.GaugeVec   // pipeline, unit
	events               *prometheus.CounterVec // receiver, pipeline, result
	pending              *prometheus.GaugeVec   // pipeline

	mu       sync.Mutex
	lastDead map[string]int64
}

// NewMetrics returns metrics registered on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), lastDead: map[string]int64{}}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etl", Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.rows = cv("rows_total", "Rows written to the sinks, by pipeline and stream.", "pipeline", "stream")
	m.batches = cv("batches_total", "Record batches written to the sinks.", "pipeline", "stream")
	m.bytes = cv("bytes_total", "Arrow buffer bytes written to the sinks.", "pipeline", "stream")
	m.errors = cv("errors_total", "Failed units (kind=unit) and failed runs (kind=run).", "pipeline", "kind")
	m.retries = cv("retries_total", "Transient errors retried after a backoff.", "pipeline")
	m.rateWaits = cv("rate_limit_waits_total", "Waits for an API rate limit.", "pipeline")
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
	m.reg.MustRegister(m.duration, m.lag, m.pending,
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

// ObserveRun adds a finished run to the counters.
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
		for _, c := range s.Streams {
			m.rows.WithLabelValues(r.Pipeline, c.Stream).Add(float64(c.Rows))
			m.batches.WithLabelValues(r.Pipeline, c.Stream).Add(float64(c.Batches))
			m.bytes.WithLabelValues(r.Pipeline, c.Stream).Add(float64(c.Bytes))
		}
		m.errors.WithLabelValues(r.Pipeline, "unit").Add(float64(len(s.Failed)))
		m.mu.Lock()
		// The plan's dead-letter count grows over its life; count what is new.
		d := s.DeadLetters - m.lastDead[r.Pipeline]
		if d < 0 {
			d = s.DeadLetters
		}
		m.lastDead[r.Pipeline] = s.DeadLetters
		m.mu.Unlock()
		m.deadLetters.WithLabelValues(r.Pipeline).Add(float64(d))
		for u, at := range r.Asked {
			if _, failed := s.Failed[u]; !failed && !s.Interrupted {
				m.lag.WithLabelValues(r.Pipeline, u).Set(r.Ended.Sub(at).Seconds())
			}
		}
	}
	if r.Progress != nil {
		retries, rate := r.Progress.Waits()
		m.retries.WithLabelValues(r.Pipeline).Add(float64(retries))
		m.rateWaits.WithLabelValues(r.Pipeline).Add(float64(rate))
	}
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
	m.retries.WithLabelValues(pipeline)
	m.rateWaits.WithLabelValues(pipeline)
	m.deadLetters.WithLabelValues(pipeline)
	m.pending.WithLabelValues(pipeline)
}
