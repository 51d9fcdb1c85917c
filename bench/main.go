//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the harness's flags.
type options struct {
	Runs       int      // runs of each side of a workload
	Quick      bool     // tiny sizes, for the test and a first look
	Write      bool     // write the tables into Doc
	Doc        string   // docs/benchmarks.md ("": in the module root)
	Work       string   // work directory for datasets, binaries and outputs
	Only       []string // workloads to run ("p1" ...); empty: all
	CPUProfile string   // P1: also run our side once in-process under the CPU profiler, into this file
	Log        io.Writer
}

// workload is one of P1 ... P5.
type workload struct {
	id  string
	run func(ctx context.Context, h *harness) (report, error)
}

var workloads = []workload{
	{"p1", runP1},
	{"p2", runP2},
	{"p3", runP3},
	{"p4", runP4},
	{"p5", runP5},
}

// harness holds what the workloads share.
type harness struct {
	o    options
	root string // the module's root directory
	work string // absolute work directory
	etl  string // the etl binary, built once
	// commit is the module's commit when etl was built.
	commit string
}

// logf tells the person running the harness what it is doing.
func (h *harness) logf(format string, args ...any) {
	if h.o.Log != nil {
		fmt.Fprintf(h.o.Log, "bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

func main() {
	var o options
	var only string
	flag.IntVar(&o.Runs, "runs", 3, "runs of each side of every workload (medians and min–max over them)")
	flag.BoolVar(&o.Quick, "quick", false, "tiny sizes: seconds instead of minutes (the figures mean little)")
	flag.BoolVar(&o.Write, "write", false, "write the tables into docs/benchmarks.md, between its markers")
	flag.StringVar(&o.Doc, "doc", "", "markdown file to write with -write (default: docs/benchmarks.md of the module)")
	flag.StringVar(&o.Work, "work", "", "work directory for datasets and outputs, kept between runs (default: the user cache directory's etl-bench)")
	flag.StringVar(&only, "only", "", "comma-separated workloads to run, e.g. p1,p5 (default: all)")
	flag.StringVar(&o.CPUProfile, "cpuprofile", "", "P1: also run our side once in this process with the CPU profiler on, writing the profile here")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./bench [flags]\n\nRuns the workloads P1-P5 of docs/benchmarks.md and prints their tables (see bench/README.md).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if only != "" {
		o.Only = strings.Split(only, ",")
	}
	o.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reports, err := run(ctx, o)
	for _, r := range reports {
		fmt.Println(r.markdown())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run runs the chosen workloads in order and, with -write, writes the tables
// of each as it ends. A workload that fails is reported in the error and the
// others still run.
func run(ctx context.Context, o options) ([]report, error) {
	if o.Runs < 1 {
		return nil, fmt.Errorf("bench: -runs must be at least 1, got %d", o.Runs)
	}
	var chosen []workload
	for _, id := range o.Only {
		i := slices.IndexFunc(workloads, func(w workload) bool { return w.id == strings.ToLower(strings.TrimSpace(id)) })
		if i < 0 {
			return nil, fmt.Errorf("bench: -only: unknown workload %q (want some of p1, p2, p3, p4, p5)", id)
		}
		chosen = append(chosen, workloads[i])
	}
	if len(chosen) == 0 {
		chosen = workloads
	}
	h, err := newHarness(ctx, o)
	if err != nil {
		return nil, err
	}
	if h.o.Write {
		if _, err := os.Stat(h.o.Doc); err != nil {
			return nil, fmt.Errorf("bench: -write: %w", err)
		}
	}
	var reports []report
	var errs []error
	for _, w := range chosen {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		h.logf("%s: start", w.id)
		load := loadAverage()
		r, err := w.run(ctx, h)
		if err != nil {
			h.logf("%s: failed: %v", w.id, err)
			errs = append(errs, fmt.Errorf("bench: %s: %w", strings.ToUpper(w.id), err))
			continue
		}
		r.ID, r.Machine, r.Load, r.Runs = w.id, thisMachine(), [2]string{load, loadAverage()}, o.Runs
		r.Machine.Commit = h.commit
		reports = append(reports, r)
		if h.o.Write {
			if err := writeDoc(h.o.Doc, []report{r}); err != nil {
				return reports, err
			}
		}
	}
	return reports, errors.Join(errs...)
}

// newHarness finds the module, prepares the work directory and builds etl.
func newHarness(ctx context.Context, o options) (*harness, error) {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("bench: go env GOMOD: %w", err)
	}
	h := &harness{o: o, root: filepath.Dir(strings.TrimSpace(string(gomod)))}
	if _, err := os.Stat(filepath.Join(h.root, "cmd", "etl")); err != nil {
		return nil, fmt.Errorf("bench: run from the etl module (no cmd/etl under %s): %w", h.root, err)
	}
	if h.o.Doc == "" {
		h.o.Doc = filepath.Join(h.root, "docs", "benchmarks.md")
	}
	h.work = o.Work
	if h.work == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("bench: no work directory: give -work: %w", err)
		}
		h.work = filepath.Join(cache, "etl-bench")
	}
	if h.work, err = filepath.Abs(h.work); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(h.work, 0o755); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	h.etl = filepath.Join(h.work, "bin", "etl")
	h.commit = commit(h.root)
	if err := h.goBuild(ctx, h.etl, "./cmd/etl"); err != nil {
		return nil, err
	}
	return h, nil
}

// goBuild builds the package pkg of the module into out.
func (h *harness) goBuild(ctx context.Context, out, pkg string) error {
	h.logf("go build -o %s %s", out, pkg)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = h.root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// dir returns a directory of the work directory, emptied.
func (h *harness) dir(name string) (string, error) {
	d := filepath.Join(h.work, name)
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o755)
}

// etlRun runs `etl run` of the pipeline text in a child process (state and
// outputs under dir, emptied first) and measures it.
func (h *harness) etlRun(ctx context.Context, dir, pipeline string, env ...string) (measure, error) {
	if err := os.RemoveAll(dir); err != nil {
		return measure{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return measure{}, err
	}
	file := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(file, []byte(pipeline), 0o644); err != nil {
		return measure{}, err
	}
	m, _, err := runChild(command(ctx, dir, env, h.etl, "run", "--progress", "none", "--log-level", "warn", file))
	return m, err
}
