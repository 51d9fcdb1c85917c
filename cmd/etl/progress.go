package main

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/etl-toolkit/etl/core"
)

// display shows a run's progress: mpb bars on a terminal (one for the units, one
// per stream), otherwise a log line every 10 s.
type display struct {
	done chan struct{}
	wg   sync.WaitGroup
}

func startDisplay(mode string, prog *core.Progress, log *slog.Logger) *display {
	d := &display{done: make(chan struct{})}
	if mode == "auto" {
		mode = "log"
		if term.IsTerminal(int(os.Stderr.Fd())) {
			mode = "bars"
		}
	}
	switch mode {
	case "bars":
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.bars(prog) }()
	case "log":
		d.wg.Add(1)
		go func() { defer d.wg.Done(); d.logLines(prog, log, 10*time.Second) }()
	}
	return d
}

func (d *display) stop() {
	close(d.done)
	d.wg.Wait()
}

func (d *display) logLines(prog *core.Progress, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-d.done:
			return
		case <-t.C:
			total, done, failed := prog.Units()
			var rows int64
			for _, s := range prog.Streams() {
				rows += s.Rows
			}
			attrs := []any{"rows", rows, "rows_per_s", int64(float64(rows) / time.Since(start).Seconds()),
				"units_done", done, "units", total, "units_failed", failed}
			if w := waiting(prog); w != "" {
				attrs = append(attrs, "waiting", w)
			}
			log.Info("progress", attrs...)
		}
	}
}

// waiting summarises the units that are not simply reading, e.g.
// "user/7: waiting 2s: 429 too many requests (+3 more)".
func waiting(prog *core.Progress) string {
	var first string
	n := 0
	for _, a := range prog.Active() {
		if a[1] == "reading" || a[1] == "" {
			continue
		}
		if n == 0 {
			first = a[0] + ": " + a[1]
		}
		n++
	}
	if n > 1 {
		first += fmt.Sprintf(" (+%d more)", n-1)
	}
	return first
}

func (d *display) bars(prog *core.Progress) {
	p := mpb.New(mpb.WithOutput(os.Stderr), mpb.WithRefreshRate(200*time.Millisecond))
	start := time.Now()
	units := p.AddBar(0,
		mpb.PrependDecorators(decor.Name("units", decor.WC{C: decor.DindentRight | decor.DextraSpace}), decor.CountersNoUnit("%d / %d")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return waiting(prog) })),
	)
	bars := map[string]*mpb.Bar{}
	update := func() {
		total, done, _ := prog.Units()
		units.SetTotal(int64(total), false)
		units.SetCurrent(int64(done))
		for _, s := range prog.Streams() {
			b, ok := bars[s.Stream]
			if !ok {
				name := s.Stream
				b = p.New(0, mpb.SpinnerStyle(), mpb.BarFillerClearOnComplete(),
					mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace})),
					mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
						for _, c := range prog.Streams() {
							if c.Stream == name {
								secs := max(time.Since(start).Seconds(), 1e-3)
								return fmt.Sprintf("%s rows  %s  %s rows/s", humanize.Comma(c.Rows),
									humanize.IBytes(uint64(c.Bytes)), humanize.Comma(int64(float64(c.Rows)/secs)))
							}
						}
						return ""
					})),
				)
				bars[s.Stream] = b
			}
			b.SetCurrent(s.Rows)
		}
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-d.done:
			update()
			units.SetTotal(-1, true)
			for _, b := range bars {
				b.SetTotal(-1, true)
			}
			p.Wait()
			return
		case <-t.C:
			update()
		}
	}
}
