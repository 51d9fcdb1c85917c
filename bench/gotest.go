//go:build linux

package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// benchLine is one result line of `go test -bench`.
type benchLine struct {
	Name    string // without the -GOMAXPROCS suffix
	N       int64
	Metrics map[string]float64 // by unit: "ns/op", "rows/s", ...
}

// goBench runs the benchmarks matching pattern of the module's package pkg
// (no tests), with -benchtime benchtime and the extra environment env, and
// returns their result lines and the whole output (their logs).
func (h *harness) goBench(ctx context.Context, pkg, pattern, benchtime string, env []string) ([]benchLine, string, error) {
	_, out, err := runChild(command(ctx, h.root, env, "go", "test", pkg, "-run", "^$", "-bench", pattern, "-benchtime", benchtime, "-count", "1"))
	if err != nil {
		return nil, string(out), err
	}
	lines := parseBench(string(out))
	if len(lines) == 0 {
		return nil, string(out), fmt.Errorf("go test %s -bench %s printed no results:\n%s", pkg, pattern, tail(out, 4000))
	}
	return lines, string(out), nil
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parseBench reads the result lines of `go test -bench` output: the name, the
// iterations, then pairs of value and unit.
func parseBench(out string) []benchLine {
	var lines []benchLine
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		l := benchLine{Name: procsSuffix.ReplaceAllString(f[0], ""), N: n, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				l.Metrics[f[i+1]] = v
			}
		}
		lines = append(lines, l)
	}
	return lines
}

// liveJob is what BenchmarkLiveLoad says about one of its two pipelines.
type liveJob struct {
	Name                                    string // "1hz", "10hz"
	Devices, Hz                             int
	Sent, Released, Committed, Late, Losses int64
	P50, P99                                float64 // ms, the benchmark's p50-ms-NAME and p99-ms-NAME
	P99Produced                             float64 // ms, p99-produced-ms-NAME where reported (else 0)
}

// liveLog matches the benchmark's line of counts for one pipeline; the counts
// are then read from its rest by their words, so that rewording the line
// around them does not break the harness.
var (
	liveLog       = regexp.MustCompile(`(\w+): (\d+) devices at (\d+) Hz for \S+: ([^\n]*)`)
	liveSent      = regexp.MustCompile(`(\d+) messages sent`)
	liveReleased  = regexp.MustCompile(`(\d+) rows released`)
	liveCommitted = regexp.MustCompile(`(\d+) committed`)
	liveLate      = regexp.MustCompile(`(\d+) dead letters`)
)

// parseLive reads BenchmarkLiveLoad's log lines (counts) and its metrics
// (latencies and losses, from the result line). Losses are the benchmark's
// lost-NAME where it reports it, else the messages sent less the late ones
// (dead letters) less those committed.
func parseLive(out string, metrics map[string]float64) ([]liveJob, error) {
	var jobs []liveJob
	for _, m := range liveLog.FindAllStringSubmatch(out, -1) {
		j := liveJob{Name: m[1]}
		j.Devices, _ = strconv.Atoi(m[2])
		j.Hz, _ = strconv.Atoi(m[3])
		for _, c := range []struct {
			re *regexp.Regexp
			n  *int64
		}{{liveSent, &j.Sent}, {liveReleased, &j.Released}, {liveCommitted, &j.Committed}, {liveLate, &j.Late}} {
			v := c.re.FindStringSubmatch(m[4])
			if v == nil {
				return nil, fmt.Errorf("BenchmarkLiveLoad's line for %s lacks %q: %s", j.Name, c.re, m[0])
			}
			*c.n, _ = strconv.ParseInt(v[1], 10, 64)
		}
		var ok1, ok2 bool
		j.P50, ok1 = metrics["p50-ms-"+j.Name]
		j.P99, ok2 = metrics["p99-ms-"+j.Name]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("BenchmarkLiveLoad reported no p50-ms-%[1]s and p99-ms-%[1]s (got %v)", j.Name, metrics)
		}
		j.P99Produced = metrics["p99-produced-ms-"+j.Name]
		if lost, ok := metrics["lost-"+j.Name]; ok {
			j.Losses = int64(lost)
		} else {
			j.Losses = j.Sent - j.Late - j.Committed
		}
		jobs = append(jobs, j)
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("no pipeline lines in BenchmarkLiveLoad's output:\n%s", tail([]byte(out), 4000))
	}
	return jobs, nil
}

// maxDelay is the reorder max_delay of BenchmarkLiveLoad's pipelines.
const maxDelay = 2 * time.Second

func runP3(ctx context.Context, h *harness) (report, error) {
	seconds := 60
	if h.o.Quick {
		seconds = 4
	}
	var cores, rss sample
	jobs := map[string][]liveJob{}
	var names []string
	for i := range h.o.Runs {
		h.logf("p3: run %d of %d: go test ./sources/asi -bench LiveLoad (%d s)", i+1, h.o.Runs, seconds)
		lines, out, err := h.goBench(ctx, "./sources/asi", "^BenchmarkLiveLoad$", "1x", []string{fmt.Sprintf("ASI_BENCH_SECONDS=%d", seconds)})
		if err != nil {
			return report{}, err
		}
		cores = append(cores, lines[0].Metrics["cores"])
		rss = append(rss, lines[0].Metrics["peak-RSS-MiB"])
		js, err := parseLive(out, lines[0].Metrics)
		if err != nil {
			return report{}, err
		}
		for _, j := range js {
			if _, ok := jobs[j.Name]; !ok {
				names = append(names, j.Name)
			}
			jobs[j.Name] = append(jobs[j.Name], j)
		}
	}
	r := report{
		Title: "P3: live load through reorder into rolling Parquet",
		Setup: fmt.Sprintf("`ASI_BENCH_SECONDS=%d go test ./sources/asi -run '^$' -bench '^BenchmarkLiveLoad$' -benchtime 1x`, once per run: "+
			"two ASI emulators stream live (real time, every fifth message just after its successor) 1,000 devices at 1 Hz and 100 devices at 10 Hz "+
			"over WebSocket into two pipelines of one process: asi source → reorder (max_delay 2s, late → dead letters) → parquet rolling every 10 s. "+
			"Reorder latency is the benchmark's p50-ms/p99-ms: from a message's arrival (the emulator writing it to the socket, so reading it counts too) to its release by reorder towards the sink; "+
			"it includes the up to 2 s reorder holds a row for. Production → release adds the emulator's own send delay (from the message's slot on its timeline). "+
			"CPU is the whole test process, emulators included.", seconds),
		Table: [][]string{{"stream", "messages sent", "committed", "late (dead letters)", "on-time lost", "reorder latency p50 ms", "reorder latency p99 ms", "production → release p99 ms"}},
	}
	var worstP99 float64
	var lost int64
	for _, name := range names {
		js := jobs[name]
		var sent, committed, late, losses, p50, p99, p99p sample
		for _, j := range js {
			sent = append(sent, float64(j.Sent))
			committed = append(committed, float64(j.Committed))
			late = append(late, float64(j.Late))
			losses = append(losses, float64(j.Losses))
			p50 = append(p50, j.P50)
			p99 = append(p99, j.P99)
			p99p = append(p99p, j.P99Produced)
			worstP99 = max(worstP99, j.P99)
			lost += j.Losses
		}
		produced := "not reported"
		if p99p.median() > 0 {
			produced = p99p.spread("%.0f")
		}
		r.Table = append(r.Table, []string{fmt.Sprintf("%s: %d devices at %d Hz", name, js[0].Devices, js[0].Hz),
			sent.spread("%.0f"), committed.spread("%.0f"), late.spread("%.0f"), losses.spread("%.0f"), p50.spread("%.0f"), p99.spread("%.0f"), produced})
	}
	r.Table = append(r.Table, []string{"whole process", fmt.Sprintf("CPU: %s cores", cores.spread("%.2f")), fmt.Sprintf("peak RSS %s MiB", rss.spread("%.0f")), "", "", "", "", ""})
	limit := maxDelay + 50*time.Millisecond
	r.Goals = []goal{
		{"under one core", fmt.Sprintf("%.2f cores (median, emulators included)", cores.median()), cores.median() < 1},
		{fmt.Sprintf("reorder p99 ≤ max_delay + 50 ms = %d ms", limit.Milliseconds()), fmt.Sprintf("worst p99 of any run and stream: %.0f ms", worstP99), worstP99 <= float64(limit.Milliseconds())},
		{"0 on-time loss", fmt.Sprintf("%d messages over all runs", lost), lost == 0},
	}
	r.Notes = []string{"On-time lost is the benchmark's lost-<stream> metric: messages the emulator sent that were neither dead-lettered as late nor in a committed file when the run stopped " +
		"(the benchmark stops the runs by cancelling them after the duration; where it does not report the metric, sent − late − committed). Messages sent is the benchmark's own count (in its newer versions, those sent before the stop)."}
	return r, nil
}

func runP4(ctx context.Context, h *harness) (report, error) {
	bt := fmt.Sprintf("%dx", h.o.Runs)
	h.logf("p4: go test ./plugins -bench BenchmarkSink -benchtime %s", bt)
	lines, _, err := h.goBench(ctx, "./plugins", "^BenchmarkSink$", bt, nil)
	if err != nil {
		return report{}, err
	}
	by := map[string]benchLine{}
	for _, l := range lines {
		by[strings.TrimPrefix(l.Name, "BenchmarkSink/")] = l
	}
	in, ok1 := by["csv"]
	ext, ok2 := by["external:builtin:csv"]
	if !ok1 || !ok2 {
		return report{}, fmt.Errorf("BenchmarkSink printed %v, want csv and external:builtin:csv", lines)
	}
	row := func(name string, l benchLine) []string {
		return []string{name, fmt.Sprintf("%.2f", l.Metrics["rows/s"]/1e6), fmt.Sprintf("%.2f", l.Metrics["best-rows/s"]/1e6), fmt.Sprintf("%.2f", l.Metrics["cpu-s/op"])}
	}
	mean := ext.Metrics["rows/s"] / in.Metrics["rows/s"]
	best := ext.Metrics["best-rows/s"] / in.Metrics["best-rows/s"]
	cpu := ext.Metrics["cpu-s/op"] / in.Metrics["cpu-s/op"]
	var notes []string
	if mean > 1 {
		notes = append(notes, fmt.Sprintf("The external sink is faster than the built-in one here because the plugin process encodes the CSV "+
			"beside the runner, on another core; it costs %s the CPU per run.", ratio(cpu)))
	}
	return report{
		Title: "P4: external-process sink vs built-in",
		Setup: fmt.Sprintf("`go test ./plugins -run '^$' -bench '^BenchmarkSink$' -benchtime %s`: 1 M generated rows (4 units, batches of 65,536) into the csv sink, "+
			"built in (`csv`) and as a separate process over go-plugin gRPC with Arrow IPC batches (`external:builtin:csv`), in one process's runner; "+
			"rows/s is over the run once the components are built (BenchmarkHandshake measures starting a plugin); CPU is both processes'.", bt),
		Table: [][]string{{"sink", "M rows/s (mean)", "M rows/s (best run)", "CPU s per run"}, row("built-in csv", in), row("external:builtin:csv", ext)},
		Goals: []goal{{"external ≥ 0.9 × built-in throughput", fmt.Sprintf("%s (best runs: %s; CPU: %s)", ratio(mean), ratio(best), ratio(cpu)), mean >= 0.9}},
		Notes: notes,
	}, nil
}
