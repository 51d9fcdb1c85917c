package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	_ "time/tzdata" // schedules name time zones; a static binary in a scratch image has no zoneinfo

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/cmd/etl/internal/serve"
)

// newServeCmd is `etl serve --config serve.yaml`.
func newServeCmd() *cobra.Command {
	var config, listen string
	var cf clusterFlags
	cmd := &cobra.Command{
		Use:   "serve --config serve.yaml|DIR",
		Short: "Run pipelines on schedules and webhooks, with Prometheus metrics",
		Long: `Serve runs the pipelines a serve file lists, for as long as it runs:
  - on a cron schedule (schedule: "CRON_TZ=Europe/Zurich 0 2 * * *"), a full incremental run;
  - on Azumio webhooks, POST /hooks/azumio/<pipeline>?user=<id>: a pull of that user;
  - on ASI activity webhooks, POST /hooks/asi/<pipeline> with X-Asi-Api-Token: a pull of
    the time frame the event names (a whole run for activity events).
Receivers answer 202 at once and pull afterwards. A pipeline runs one pull at a time;
calls arriving meanwhile are merged into one more pull. Every run of a pipeline shares
one state store, so a scheduled run and a webhook never export the same rows twice.

GET /metrics serves Prometheus metrics, /healthz liveness and /readyz readiness.
SIGINT or SIGTERM stops accepting calls, lets running pulls finish (for up to
shutdown_grace, then they stop and commit what they read) and exits 0; a second
one aborts at once (the next start finishes any half-done commit).

With --config DIR, every pipeline file in DIR is served on webhooks alone: azumio
sources get the Azumio receiver, asi sources the ASI one (secret in $ASI_WEBHOOK_SECRET).

With --cluster nats://HOST:PORT, serve runs nothing itself: schedules and webhooks
queue units on the cluster's work queue for etl worker processes (a unit queued or
running is never queued twice; one arriving while its unit runs is queued once
after it). Run one serve per cluster: schedules fire from one place. See
docs/cluster.md.

See docs/serve.md for the serve file, systemd and containers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if config == "" {
				return exitWith(exitInvalid, errors.New("serve: --config is required"))
			}
			log, err := serveLogger(cmd)
			if err != nil {
				return err
			}
			load := serve.LoadConfig
			if st, err := os.Stat(config); err == nil && st.IsDir() {
				load = serve.ConfigFromDir
			}
			cfg, err := load(config)
			if err != nil {
				return exitWith(exitInvalid, err)
			}
			if listen != "" {
				cfg.Listen = listen
			}
			// As for etl run: the first SIGINT/SIGTERM stops gracefully, a
			// second one aborts (the next start finishes any half-done commit).
			ctx, stop, _ := signalContext(cmd.Context())
			defer stop()
			opts := serve.Options{Logger: log}
			if cf.url != "" {
				d, closeCluster, err := serveDispatcher(ctx, &cf, log)
				if err != nil {
					return err
				}
				defer closeCluster()
				opts.Cluster = d
			}
			srv, err := serve.New(ctx, cfg, opts)
			if err != nil {
				return exitWith(exitInvalid, err)
			}
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				srv.Close()
				return exitWith(exitFailed, fmt.Errorf("serve: %w", err))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "etl serve: listening on http://%s\n", ln.Addr())
			if err := srv.Serve(ctx, ln); err != nil {
				return exitWith(exitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "the serve file (listen, queue, pipelines with schedule and webhooks), or a directory of pipeline files")
	cmd.Flags().StringVar(&listen, "listen", "", "HTTP address, overriding the serve file's listen (e.g. 127.0.0.1:0)")
	cmd.Flags().StringVar(&cf.url, "cluster", "", "queue units on this NATS JetStream cluster (nats://host:4222, comma-separated) for etl worker processes instead of running them")
	cmd.Flags().IntVar(&cf.replicas, "replicas", 1, "with --cluster: replicas of the state bucket and the work queue when serve creates them")
	return cmd
}

// serveLogger builds the logger from the root's --log-level and --log-format
// when the command hangs in the root, else logs text at info to stderr.
func serveLogger(cmd *cobra.Command) (*slog.Logger, error) {
	g := &globalFlags{logLevel: "info", logFormat: "text"}
	if f := cmd.Flag("log-level"); f != nil {
		g.logLevel = f.Value.String()
	}
	if f := cmd.Flag("log-format"); f != nil {
		g.logFormat = f.Value.String()
	}
	return g.logger()
}
