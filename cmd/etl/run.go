package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/cluster"
	"github.com/etl-toolkit/etl/cmd/etl/internal/serve"
	"github.com/etl-toolkit/etl/core"
)

type runFlags struct {
	metrics     *serve.Metrics // set when --metrics-addr is given
	metricsAddr string
	dryRun      bool
	duration    time.Duration
	units       []string
	progress    string
}

func newRunCmd(g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run PIPELINE.yaml...",
		Short: "Run pipelines: read every unit from its saved position, write, commit",
		Long: `Run pipeline files, one after the other. Every unit (an Azumio user, an ASI time frame or device)
resumes from the position saved by the last commit. On a terminal, progress bars show
rows, bytes and rates per stream and what each unit is waiting for; otherwise a log
line every 10 s. The run ends with a summary.

With --dry-run, the pipeline is validated, connections are checked, the plan is
printed, and nothing is written.

With several files, each runs in turn with its own summary; a stop signal ends the
one running and skips the rest, and the exit code is the worst of them.

` + exitHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop, sig := signalContext(context.Background())
			defer stop()
			if f.duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.duration)
				defer cancel()
			}
			if f.metricsAddr != "" {
				f.metrics = serve.NewMetrics()
				addr, err := serve.ListenMetrics(ctx, f.metricsAddr, f.metrics)
				if err != nil {
					return exitWith(exitFailed, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "etl: metrics on http://%s/metrics\n", addr)
			}
			var worst *exitError
			failed := 0
			for _, file := range args {
				err := runPipeline(ctx, sig, cmd, g, f, file)
				if err == nil {
					continue
				}
				var ee *exitError
				if !errors.As(err, &ee) {
					ee = &exitError{code: exitFailed, err: err}
				}
				if len(args) > 1 {
					fmt.Fprintf(cmd.ErrOrStderr(), "etl: %s: %v\n", file, ee.err)
				}
				failed++
				if worst == nil || ee.code > worst.code {
					worst = ee
				}
				if ctx.Err() != nil {
					break
				}
			}
			if worst != nil && len(args) > 1 {
				return exitWith(worst.code, fmt.Errorf("%d of %d pipelines did not finish cleanly", failed, len(args)))
			}
			if worst != nil {
				return worst
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "validate, check connections, print the plan; write nothing")
	cmd.Flags().StringSliceVar(&f.units, "unit", nil, "run only these units (repeatable)")
	cmd.Flags().StringVar(&f.progress, "progress", "auto", "progress display: auto (bars on a terminal), bars, log, none")
	cmd.Flags().DurationVar(&f.duration, "duration", 0, "stop reading after this long (e.g. 90m for a match), commit what was read and exit 0; 0: no limit")
	cmd.Flags().StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics (and /healthz) on this address while running, e.g. 127.0.0.1:9464")
	return cmd
}

// loadAndBuild loads a pipeline file and builds its components, turning every
// problem into exit code 2 with all messages.
func loadAndBuild(ctx context.Context, file string, log *slog.Logger) (*core.Plan, error) {
	p, err := core.LoadPipeline(file)
	if err != nil {
		return nil, exitWith(exitInvalid, err)
	}
	pl, err := core.Build(ctx, p, log)
	if err != nil {
		return nil, exitWith(exitInvalid, err)
	}
	return pl, nil
}

func runPipeline(ctx context.Context, sig *os.Signal, cmd *cobra.Command, g *globalFlags, f *runFlags, file string) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	switch f.progress {
	case "auto", "bars", "log", "none":
	default:
		return exitWith(exitInvalid, fmt.Errorf("--progress: unknown value %q (want auto, bars, log or none)", f.progress))
	}
	pl, err := loadAndBuild(ctx, file, log)
	if err != nil {
		return err
	}
	defer pl.Close()
	out := cmd.OutOrStdout()
	if f.dryRun {
		return dryRun(ctx, pl, out)
	}

	store, err := cluster.OpenStore(ctx, pl.Pipeline, "") // state: nats://… is the cluster's KV bucket
	if err != nil {
		return exitWith(exitFailed, err)
	}
	defer store.Close()

	prog := core.NewProgress()
	disp := startDisplay(f.progress, prog, log)
	if f.metrics != nil {
		f.metrics.Start(pl.Pipeline.Name, prog)
		f.metrics.StartCounters(pl.Pipeline.Name, pl.Counters())
	}
	sum, runErr := pl.Run(ctx, core.RunOptions{Store: store, Units: f.units, Progress: prog})
	disp.stop()
	if f.metrics != nil {
		f.metrics.ObserveRun(serve.Run{Pipeline: pl.Pipeline.Name, Trigger: "run", Summary: sum, Progress: prog, Err: runErr, Ended: time.Now()})
	}
	if sum != nil {
		printSummary(out, pl, sum)
	}
	switch {
	case runErr != nil && errors.Is(runErr, core.ErrUnitsFailed):
		return exitWith(exitUnitsFailed, fmt.Errorf("%d of %d units failed (listed above); the others were exported", len(sum.Failed), sum.Units))
	case runErr != nil:
		return exitWith(exitFailed, runErr)
	case sum.Interrupted && *sig == syscall.Signal(0):
		fmt.Fprintf(cmd.ErrOrStderr(), "etl: %s: stopped after --duration %s; what was read is committed\n", pl.Pipeline.Name, f.duration)
	case sum.Interrupted:
		if *sig == syscall.SIGTERM {
			return exitWith(exitSIGTERM, errors.New("stopped by SIGTERM; what was read is committed, run again to resume"))
		}
		return exitWith(exitSIGINT, errors.New("stopped by SIGINT; what was read is committed, run again to resume"))
	}
	return nil
}

// signalContext is cancelled by the first SIGINT or SIGTERM (the run then stops
// reading and commits); a second one exits at once with the matching code.
func signalContext(parent context.Context) (context.Context, func(), *os.Signal) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	var first os.Signal = syscall.Signal(0)
	got := &first
	go func() {
		s, ok := <-ch
		if !ok {
			return
		}
		*got = s
		fmt.Fprintf(os.Stderr, "etl: %v: stopping, committing what was read (again to abort)\n", s)
		cancel()
		s, ok = <-ch
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "etl: %v: aborting; the next run finishes any half-done commit\n", s)
		if s == syscall.SIGTERM {
			os.Exit(exitSIGTERM)
		}
		os.Exit(exitSIGINT)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }, got
}

func dryRun(ctx context.Context, pl *core.Plan, out io.Writer) error {
	p := pl.Pipeline
	fmt.Fprintf(out, "pipeline %s (%s)\n", p.Name, p.File)
	fmt.Fprintf(out, "  source      %s: %s\n", p.Source.Path, p.Source.Plugin)
	for _, t := range p.Transforms {
		fmt.Fprintf(out, "  transform   %s: %s\n", t.Path, t.Plugin)
	}
	for _, s := range p.Sinks {
		fmt.Fprintf(out, "  sink        %s: %s\n", s.Path, s.Plugin)
	}
	fmt.Fprintf(out, "  state       %s\n", stateWhere(p, ""))
	fmt.Fprintf(out, "  dead letter %s\n", p.DeadLetterPath())
	fmt.Fprintf(out, "  concurrency %d, commit every %s", p.Concurrency, p.Commit.Interval)
	if p.Commit.Rows > 0 {
		fmt.Fprintf(out, " or %d rows", p.Commit.Rows)
	}
	if p.Tick != 0 {
		fmt.Fprintf(out, ", tick %s", p.Tick)
	}
	fmt.Fprintln(out)
	if err := pl.Check(ctx); err != nil {
		return exitWith(exitFailed, fmt.Errorf("check failed:\n%w", err))
	}
	units, err := pl.Source.Units(ctx)
	if err != nil {
		return exitWith(exitFailed, fmt.Errorf("%s: list units: %w", p.Source.Path, err))
	}
	fmt.Fprintf(out, "  units       %d", len(units))
	if len(units) > 0 {
		fmt.Fprintf(out, " (%s)", strings.Join(units[:min(len(units), 5)], ", "))
		if len(units) > 5 {
			fmt.Fprint(out, ", ...")
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintln(out, "dry run: checks passed, nothing written")
	return nil
}

func printSummary(w io.Writer, pl *core.Plan, s *core.Summary) {
	state := "finished"
	if s.Interrupted {
		state = "stopped"
	}
	fmt.Fprintf(w, "\n%s %s in %s: %d rows, %d units", pl.Pipeline.Name, state, s.Duration.Round(time.Millisecond), s.Rows(), s.Units)
	if len(s.Failed) > 0 {
		fmt.Fprintf(w, " (%d failed)", len(s.Failed))
	}
	fmt.Fprintf(w, ", %d commits, %d files, %d dead letters\n", s.Commits, s.Files, s.DeadLetters)
	for _, c := range s.Streams {
		fmt.Fprintf(w, "  %-32s %12d rows %12s\n", c.Stream, c.Rows, humanize.IBytes(uint64(c.Bytes)))
	}
	if len(s.Counts) > 0 {
		// What the components counted: live-stream gaps, late rows...
		fmt.Fprintln(w, "events:")
		names := make([]string, 0, len(s.Counts))
		for n := range s.Counts {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(w, "  %-32s %12d\n", n, s.Counts[n])
		}
	}
	if len(s.Failed) > 0 {
		units := make([]string, 0, len(s.Failed))
		for u := range s.Failed {
			units = append(units, u)
		}
		sort.Strings(units)
		fmt.Fprintln(w, "failed units:")
		for _, u := range units {
			fmt.Fprintf(w, "  %s: %v\n", u, s.Failed[u])
		}
	}
	if s.DeadLetters > 0 {
		fmt.Fprintf(w, "dead letters: %s\n", pl.Pipeline.DeadLetterPath())
	}
	for i, sink := range pl.Sinks {
		if l, ok := sink.(core.Locator); ok {
			where, query := l.Location()
			fmt.Fprintf(w, "%s (%s) output: %s\n", pl.Pipeline.Sinks[i].Path, pl.Pipeline.Sinks[i].Plugin, where)
			if query != "" {
				fmt.Fprintf(w, "  look at it with DuckDB:\n    duckdb -c %s\n", shellQuote(query))
			}
		}
	}
}

// shellQuote quotes s for a POSIX shell: in double quotes when nothing in it is
// special there (queries quote their strings with '), else in single quotes.
func shellQuote(s string) string {
	if !strings.ContainsAny(s, "\"$`\\!") {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
