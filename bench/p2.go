//go:build linux

package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// p2Sizes shape P2: Users with Checkins steps check-ins each, read in pages of
// PageSize, at most Rate requests per second, Latency added to every answer,
// Concurrency users at once.
type p2Sizes struct {
	Users, Checkins, PageSize, Concurrency int
	Rate                                   float64
	Latency                                time.Duration
}

func (h *harness) p2Sizes() p2Sizes {
	s := p2Sizes{Users: 1000, Checkins: 200, PageSize: 100, Concurrency: 16, Rate: 200, Latency: 20 * time.Millisecond}
	if h.o.Quick {
		s.Users, s.Rate = 20, 100
	}
	return s
}

// slowAPI serves the emulator with a fixed latency added to every request
// and notes when requests arrive.
type slowAPI struct {
	api     http.Handler
	latency time.Duration

	mu          sync.Mutex
	n           int64
	first, last time.Time
}

func (s *slowAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	if s.n == 0 {
		s.first = now
	}
	s.n++
	s.last = now
	s.mu.Unlock()
	time.Sleep(s.latency)
	s.api.ServeHTTP(w, r)
}

// take returns what was counted since the last take and starts again.
func (s *slowAPI) take() (n int64, span time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, span = s.n, s.last.Sub(s.first)
	s.n = 0
	return n, span
}

func runP2(ctx context.Context, h *harness) (report, error) {
	s := h.p2Sizes()
	srv := azumiotest.New(azumiotest.Options{Seed: 1, Users: s.Users, Checkins: s.Checkins, Types: []string{"steps"}, NoFragments: true})
	api := &slowAPI{api: srv, latency: s.Latency}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return report{}, err
	}
	hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	dir := filepath.Join(h.work, "p2-run")
	tokens := filepath.Join(h.work, "p2-tokens.json")
	if err := srv.WriteTokens(tokens); err != nil {
		return report{}, err
	}
	pipeline := emulatorPipeline("bench-p2", filepath.Join(dir, "state"), s.Concurrency, "http://"+ln.Addr().String(), srv.ClientID(), tokens,
		fmt.Sprintf("requests_per_second: %g\nburst: 1\napi: { page_size: %d }", s.Rate, s.PageSize),
		fmt.Sprintf("  - plugin: parquet\n    config: { path: %q, partition_by: [stream], compression: zstd }\n", filepath.Join(dir, "parquet")))

	var runs measures
	var requests, sustained, overall, vsIdeal sample
	for i := range h.o.Runs {
		h.logf("p2: run %d of %d: %d users at %g requests/s", i+1, h.o.Runs, s.Users, s.Rate)
		api.take()
		m, err := h.etlRun(ctx, dir, pipeline, "BENCH_CLIENT_SECRET="+srv.ClientSecret())
		if err != nil {
			return report{}, err
		}
		n, span := api.take()
		rows, _, err := parquetRows(filepath.Join(dir, "parquet"))
		if err != nil {
			return report{}, err
		}
		if want := int64(s.Users * s.Checkins); rows != want {
			return report{}, fmt.Errorf("run %d wrote %d rows, want %d", i+1, rows, want)
		}
		runs = append(runs, m)
		requests = append(requests, float64(n))
		sustained = append(sustained, float64(n-1)/span.Seconds()/s.Rate)
		overall = append(overall, float64(n)/m.Wall.Seconds()/s.Rate)
		vsIdeal = append(vsIdeal, m.Wall.Seconds()/(float64(n)/s.Rate))
	}
	ideal := requests.median() / s.Rate
	r := report{
		Title: "P2: Azumio users through the emulator with added latency, under a request-rate limit",
		Setup: fmt.Sprintf("%d users × %d steps check-ins, pages of %d, served by the Azumio emulator in the harness's process over loopback HTTP with %s added to every request; "+
			"`etl run` (a child process) reads them with `requests_per_second: %g` (R, with `burst: 1` so that no burst above R is allowed), concurrency %d users, into zstd Parquet. "+
			"Sustained rate: requests between the first and the last one the emulator received, over that span; overall: requests over the run's whole wall time (start-up and the last commit included). "+
			"Ideal wall time: requests / R.",
			s.Users, s.Checkins, s.PageSize, s.Latency, s.Rate, s.Concurrency),
		Table: [][]string{
			{"requests", "wall s", "ideal s", "wall / ideal", "sustained rate / R", "overall rate / R", "CPU s (etl)", "peak RSS MiB"},
			{requests.spread("%.0f"), runs.wall().spread("%.2f"), fmt.Sprintf("%.2f", ideal), vsIdeal.spread("%.3f"),
				sustained.spread("%.3f"), overall.spread("%.3f"), runs.cpu().spread("%.2f"), runs.rss().spread("%.0f")},
		},
		Goals: []goal{{"sustained request rate ≥ 90% of R", fmt.Sprintf("%s of R = %g/s", percent(sustained.median()), s.Rate), sustained.median() >= 0.9}},
	}
	return r, nil
}

// emulatorPipeline is a pipeline reading the steps check-ins of every user of
// the Azumio emulator at url (client clientID, tokens in the file tokens, the
// client secret from the environment: BENCH_CLIENT_SECRET) with the source options extra (YAML
// lines) into sinks (the YAML list's lines).
func emulatorPipeline(name, state string, concurrency int, url, clientID, tokens, extra, sinks string) string {
	return fmt.Sprintf(`version: 1
name: %s
state: %q
concurrency: %d
source:
  plugin: azumio
  config:
    base_url: %q
    client_id: %q
    client_secret: ${BENCH_CLIENT_SECRET}
    tokens: %q
    types: [steps]
    profile: false
    %s
sinks:
%s`, name, state, concurrency, url, clientID, tokens, strings.ReplaceAll(extra, "\n", "\n    "), sinks)
}
