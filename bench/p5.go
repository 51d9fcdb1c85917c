//go:build linux

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// p5Rows are the two sizes P5 compares.
func (h *harness) p5Rows() [2]int64 {
	if h.o.Quick {
		return [2]int64{50_000, 500_000}
	}
	return [2]int64{1_000_000, 10_000_000}
}

// The lines of bench/parquet's report that P5 reads.
var (
	p5Wall = regexp.MustCompile(`(?m)^\s*wall\s+(\S+) `)
	p5CPU  = regexp.MustCompile(`(?m)^\s*cpu\s+(\S+) `)
	p5RSS  = regexp.MustCompile(`(?m)^\s*peak RSS\s+([\d.]+) MiB`)
)

// parseParquetBench reads the etl child's wall time, CPU time and peak RSS
// from bench/parquet's report.
func parseParquetBench(out string) (measure, error) {
	w, c, r := p5Wall.FindStringSubmatch(out), p5CPU.FindStringSubmatch(out), p5RSS.FindStringSubmatch(out)
	if w == nil || c == nil || r == nil {
		return measure{}, fmt.Errorf("bench/parquet printed no wall, cpu and peak RSS lines:\n%s", out)
	}
	var m measure
	var err error
	if m.Wall, err = time.ParseDuration(w[1]); err != nil {
		return m, err
	}
	if m.CPU, err = time.ParseDuration(c[1]); err != nil {
		return m, err
	}
	mib, err := strconv.ParseFloat(r[1], 64)
	m.RSS = int64(mib * (1 << 20))
	return m, err
}

func runP5(ctx context.Context, h *harness) (report, error) {
	bin := filepath.Join(h.work, "bin", "bench-parquet")
	if err := h.goBuild(ctx, bin, "./bench/parquet"); err != nil {
		return report{}, err
	}
	sizes := h.p5Rows()
	var ms [2]measures
	for i := range h.o.Runs {
		for k, rows := range sizes {
			h.logf("p5: run %d of %d: %d rows", i+1, h.o.Runs, rows)
			_, out, err := runChild(command(ctx, h.work, nil, bin, "-rows", strconv.FormatInt(rows, 10), "-etl", h.etl))
			if err != nil {
				return report{}, err
			}
			m, err := parseParquetBench(string(out))
			if err != nil {
				return report{}, err
			}
			ms[k] = append(ms[k], m)
		}
	}
	r := report{
		Title: "P5: peak RSS of a Parquet export, 10× the rows",
		Setup: fmt.Sprintf("`go run ./bench/parquet -rows N` (built once): `etl run` of a generate → parquet (zstd) pipeline, 25 columns of an Azumio-like schema "+
			"(two of them lists), one unit, batches of 65,536, all cores, the etl binary's default memory limit (160 MiB); "+
			"peak RSS is the etl child's ru_maxrss; the rows are read back from the files' footers. N = %d and %d, alternating.", sizes[0], sizes[1]),
		Table: [][]string{{"rows", "wall s", "CPU s", "M rows per CPU-s", "peak RSS MiB"}},
	}
	for k, rows := range sizes {
		cpu := ms[k].cpu()
		r.Table = append(r.Table, []string{fmt.Sprintf("%d", rows), ms[k].wall().spread("%.2f"), cpu.spread("%.2f"),
			fmt.Sprintf("%.2f", float64(rows)/cpu.median()/1e6), ms[k].rss().spread("%.0f")})
	}
	small, large := ms[0].rss().median(), ms[1].rss().median()
	growth := large/small - 1
	r.Goals = []goal{
		{"peak RSS ≤ 256 MiB", fmt.Sprintf("%.0f MiB at most (any run)", max(maxOf(ms[0].rss()), maxOf(ms[1].rss()))), max(maxOf(ms[0].rss()), maxOf(ms[1].rss())) <= 256},
		{"flat within 20% from 10× the rows", fmt.Sprintf("%+.0f%% (medians %.0f → %.0f MiB)", 100*growth, small, large), growth <= 0.2 && growth >= -0.2},
	}
	return r, nil
}

func maxOf(s sample) float64 { c := s.sorted(); return c[len(c)-1] }
