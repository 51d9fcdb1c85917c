package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/etl-toolkit/etl/cluster"
	"github.com/etl-toolkit/etl/core"
)

// Options tune a Server.
type Options struct {
	// Logger logs triggers, runs and refused calls (default slog.Default()).
	Logger *slog.Logger
	// Clock drives the schedules (default the real clock).
	Clock Clock
	// Metrics receives the counters (default NewMetrics()).
	Metrics *Metrics
	// Cluster, if set, makes the server a planner (etl serve --cluster):
	// schedules and webhooks queue units on the cluster's work queue for `etl
	// worker` processes instead of running them here, and no local state store
	// is opened. A full run queues every unit the source lists.
	Cluster *cluster.Dispatcher
}

// Server runs the pipelines of a Config. Make it with New, run it with Serve.
type Server struct {
	cfg     *Config
	log     *slog.Logger
	clock   Clock
	metrics *Metrics
	cluster *cluster.Dispatcher
	pipes   map[string]*pipe
	order   []*pipe
	mux     *http.ServeMux

	ready    atomic.Bool
	stopping atomic.Bool
}

// pipe is one served pipeline: its plan, its one open store (shared by every
// run of the pipeline, schedule or webhook), its queue and its triggers.
type pipe struct {
	cfg      PipelineConfig
	name     string
	plan     *core.Plan
	store    *core.BoltStore // nil under --cluster
	q        *queue
	sched    cron.Schedule
	asi      string // the ASI webhook secret ("" when the receiver is off)
	schedule bool   // the pending work includes a schedule firing
	schedMu  sync.Mutex
	runs     atomic.Int64
}

// New loads and builds every pipeline of cfg and opens its state store. The
// caller must call Serve (which closes everything when it returns) or Close.
// Pipeline names must be unique: they name the webhook routes.
func New(ctx context.Context, cfg *Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics()
	}
	s := &Server{cfg: cfg, log: opts.Logger, clock: opts.Clock, metrics: opts.Metrics, cluster: opts.Cluster, pipes: map[string]*pipe{}}
	files := map[string]string{}
	for _, pc := range cfg.Pipelines {
		pf, err := core.LoadPipeline(pc.File)
		if err != nil {
			s.Close()
			return nil, err
		}
		if other, dup := files[pf.Name]; dup {
			s.Close()
			return nil, fmt.Errorf("serve: pipelines %s and %s are both named %q (names must be unique: they name the webhook routes)", other, pc.File, pf.Name)
		}
		files[pf.Name] = pc.File
		p, err := s.open(ctx, pc, pf)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.pipes[p.name] = p
		s.order = append(s.order, p)
		s.metrics.Touch(p.name)
	}
	s.routes()
	return s, nil
}

func (s *Server) open(ctx context.Context, pc PipelineConfig, p *core.Pipeline) (*pipe, error) {
	plan, err := core.Build(ctx, p, s.log.With("pipeline", p.Name))
	if err != nil {
		return nil, err
	}
	out := &pipe{cfg: pc, name: p.Name, plan: plan, q: newQueue(s.cfg.Queue)}
	if s.cluster == nil {
		if out.store, err = core.OpenBoltStore(p.StatePath()); err != nil {
			plan.Close()
			return nil, fmt.Errorf("serve: pipeline %s: %w", p.Name, err)
		}
	}
	if pc.Schedule != "" {
		if out.sched, err = ParseSchedule(pc.Schedule); err != nil {
			out.close()
			return nil, fmt.Errorf("serve: pipeline %s: %w", p.Name, err)
		}
	}
	if pc.ASI != nil {
		// LoadConfig checked that the variable is set.
		out.asi = lookupSecret(pc.ASI.SecretEnv)
	}
	return out, nil
}

func (p *pipe) close() error {
	if p.store == nil {
		return p.plan.Close()
	}
	return errors.Join(p.plan.Close(), p.store.Close())
}

// Close releases every pipeline. Serve calls it on its way out.
func (s *Server) Close() error {
	var errs []error
	for _, p := range s.order {
		errs = append(errs, p.close())
	}
	s.order = nil
	return errors.Join(errs...)
}

// Handler returns the server's HTTP routes: the receivers under /hooks/,
// /metrics, /healthz and /readyz.
func (s *Server) Handler() http.Handler { return s.mux }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Serve answers HTTP on ln, fires the schedules and runs the pulls until ctx
// ends. Then it shuts down gracefully: the listener closes (receivers stop
// accepting), running pulls may finish for up to Config.ShutdownGrace and are
// then told to stop, which commits what they read; queued work that did not
// start is dropped and logged (the cursors still cover it: the next run picks
// it up). Serve closes the pipelines and returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- hs.Serve(ln) }()

	// Runs get their own context: cancelled only after the grace period.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	trigCtx, stopTriggers := context.WithCancel(ctx)
	defer stopTriggers()
	var workers, scheds sync.WaitGroup
	for _, p := range s.order {
		workers.Add(1)
		go func() { defer workers.Done(); s.work(trigCtx, runCtx, p) }()
		if p.sched != nil {
			scheds.Add(1)
			go func() {
				defer scheds.Done()
				runSchedule(trigCtx, s.clock, p.sched, func(at time.Time) { s.fire(p, at) })
			}()
		}
	}
	if s.cluster != nil {
		go s.cluster.Run(trigCtx)
	}
	s.ready.Store(true)
	s.log.Info("serve: listening", "addr", ln.Addr().String(), "pipelines", len(s.order))

	var err error
	select {
	case <-ctx.Done():
	case err = <-httpErr:
		err = fmt.Errorf("serve: http: %w", err)
	}
	s.stopping.Store(true)
	s.ready.Store(false)
	s.log.Info("serve: stopping: no new calls, running pulls finish and commit")
	stopTriggers()
	// Handlers only queue work, so in-flight calls end at once; what remains
	// after a second are connections that never sent a request.
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	if hs.Shutdown(shutCtx) != nil {
		hs.Close()
	}
	cancel()
	scheds.Wait()
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownGrace):
		s.log.Warn("serve: shutdown grace over: stopping running pulls (what they read is committed)", "grace", s.cfg.ShutdownGrace)
		cancelRuns()
		<-done
	}
	for _, p := range s.order {
		if w, ok := p.q.take(); ok {
			s.log.Info("serve: dropped queued work at shutdown; the next run picks it up from the cursors", "pipeline", p.name, "full", w.full, "units", len(w.units))
		}
	}
	s.log.Info("serve: stopped")
	return err
}

// fire queues a full run of p for a schedule firing.
func (s *Server) fire(p *pipe, at time.Time) {
	s.log.Info("serve: schedule fired", "pipeline", p.name, "at", at)
	p.schedMu.Lock()
	p.schedule = true
	p.schedMu.Unlock()
	p.q.addFull(s.clock.Now())
	s.metrics.Pending(p.name, p.q.pending())
}

// enqueue asks for a pull of unit of p and reports the webhook result.
func (s *Server) enqueue(p *pipe, unit string) string {
	if p.q.addUnit(unit, time.Now()) {
		s.log.Warn("serve: queue full: the next pull is a full incremental run", "pipeline", p.name, "queue", s.cfg.Queue)
		s.metrics.Pending(p.name, p.q.pending())
		return ResultOverflow
	}
	s.metrics.Pending(p.name, p.q.pending())
	return ResultAccepted
}

// work runs p's pulls one at a time until trig ends; run is the context of the
// pulls themselves. A pull that is running when trig ends finishes.
func (s *Server) work(trig, run context.Context, p *pipe) {
	for {
		select {
		case <-trig.Done():
			return
		case <-p.q.wake:
		}
		if trig.Err() != nil {
			return // stopping: what is queued is left to the cursors
		}
		w, ok := p.q.take()
		if !ok {
			continue
		}
		s.metrics.Pending(p.name, 0)
		p.schedMu.Lock()
		trigger := "webhook"
		if p.schedule {
			trigger = "schedule"
		}
		p.schedule = false
		p.schedMu.Unlock()
		s.pull(run, p, w, trigger)
	}
}

// pull runs p once for w (queues w's units under --cluster).
func (s *Server) pull(ctx context.Context, p *pipe, w work, trigger string) {
	if s.cluster != nil {
		s.dispatch(ctx, p, w, trigger)
		return
	}
	units := w.unitList()
	log := s.log.With("pipeline", p.name, "trigger", trigger)
	if w.full {
		log.Info("serve: run: every unit")
	} else {
		log.Info("serve: run", "units", units)
	}
	prog := core.NewProgress()
	s.metrics.Start(p.name, prog)
	s.metrics.StartCounters(p.name, p.plan.Counters())
	sum, err := p.plan.Run(ctx, core.RunOptions{Store: p.store, Units: units, Progress: prog})
	p.runs.Add(1)
	r := Run{Pipeline: p.name, Trigger: trigger, Summary: sum, Progress: prog, Err: err, Ended: time.Now()}
	if !w.full {
		r.Asked = w.units
	}
	s.metrics.ObserveRun(r)
	switch {
	case err != nil:
		log.Error("serve: run failed", "err", err)
	case sum != nil:
		log.Info("serve: run done", "rows", sum.Rows(), "units", sum.Units, "duration", sum.Duration, "interrupted", sum.Interrupted)
	}
}

// dispatch queues w's units (every unit the source lists for a full run) on
// the cluster's work queue.
func (s *Server) dispatch(ctx context.Context, p *pipe, w work, trigger string) {
	defer p.runs.Add(1)
	log := s.log.With("pipeline", p.name, "trigger", trigger)
	units := w.unitList()
	if w.full {
		var err error
		if units, err = p.plan.Source.Units(ctx); err != nil {
			log.Error("serve: listing units to queue failed", "err", err)
			return
		}
	}
	res, err := s.cluster.Dispatch(ctx, p.name, units, time.Now())
	if err != nil {
		log.Error("serve: queueing units failed", "err", err, "queued", res.Queued)
		return
	}
	log.Info("serve: units queued for workers", "queued", res.Queued, "already_queued", res.Coalesced, "running_queued_after", res.Deferred)
}

// Runs returns how many pulls of the named pipeline have ended (dispatches
// under --cluster).
func (s *Server) Runs(pipeline string) int64 {
	if p, ok := s.pipes[pipeline]; ok {
		return p.runs.Load()
	}
	return 0
}
