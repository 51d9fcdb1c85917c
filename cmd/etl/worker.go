package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/cluster"
	"github.com/etl-toolkit/etl/cluster/lease"
	"github.com/etl-toolkit/etl/cluster/ratelimit"
	"github.com/etl-toolkit/etl/core"
)

// clusterFlags are the flags every command speaking to a NATS cluster shares.
type clusterFlags struct {
	url      string
	replicas int
	ackWait  time.Duration // workers only
}

func (f *clusterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "cluster", "", "NATS server URLs (nats://host:4222, comma-separated); default: the pipeline files' state: when it is a nats:// URL")
	cmd.Flags().IntVar(&f.replicas, "replicas", 1, "replicas of the state bucket and the work queue when this command creates them (3 on a three-node cluster)")
}

// resolve returns the cluster URL: the flag, else the pipelines' common state URL.
func (f *clusterFlags) resolve(pipelines []*core.Pipeline) (string, error) {
	if f.url != "" {
		if !core.IsStateURL(f.url) {
			return "", exitWith(exitInvalid, fmt.Errorf("--cluster: want nats://HOST:PORT (or tls://), got %q", cluster.RedactURL(f.url)))
		}
		return f.url, nil
	}
	url := ""
	for _, p := range pipelines {
		if !core.IsStateURL(p.State) {
			return "", exitWith(exitInvalid, fmt.Errorf("%s: state %q is not a NATS URL: give --cluster nats://HOST:PORT or set state: to one", p.File, p.State))
		}
		if url != "" && url != p.State {
			return "", exitWith(exitInvalid, fmt.Errorf("%s: state %s differs from the other pipelines' %s: give --cluster", p.File, cluster.RedactURL(p.State), cluster.RedactURL(url)))
		}
		url = p.State
	}
	return url, nil
}

// connect opens the state bucket and the work queue.
func (f *clusterFlags) connect(ctx context.Context, url string) (*cluster.KVStore, *cluster.Queue, error) {
	st, err := cluster.Dial(ctx, url, cluster.KVOptions{Replicas: f.replicas})
	if err != nil {
		return nil, nil, exitWith(exitFailed, err)
	}
	q, err := cluster.OpenQueue(ctx, st.Conn(), cluster.QueueOptions{Replicas: f.replicas, AckWait: f.ackWait})
	if err != nil {
		st.Close()
		return nil, nil, exitWith(exitFailed, err)
	}
	return st, q, nil
}

// newWorkerCmd is `etl worker --cluster nats://… PIPELINE.yaml…`.
func newWorkerCmd(g *globalFlags) *cobra.Command {
	var cf clusterFlags
	var concurrency int
	var id string
	var ackWait, leaseTTL time.Duration
	var live bool
	cmd := &cobra.Command{
		Use:   "worker --cluster nats://HOST:PORT PIPELINE.yaml...",
		Short: "Run units queued on a NATS JetStream cluster (scale-out: start any number, on any machine)",
		Long: `Worker takes units of the given pipelines from the cluster's work queue (queued by
etl serve --cluster or etl dispatch), runs each from its saved position with the
state in the cluster's key-value bucket, and acknowledges it after the commit.
--concurrency N runs N units of each pipeline at once. Every worker writes its own
files (unique names, the same partition layout), so the lake is the one a single
machine would write.

With --live, the pipelines' units (ASI devices or time frames: units that read until
stopped) are not queued: each worker holds leases on its share of them (the units
divided by the workers running), runs them until it stops, and a dead worker's
units move to the others about a lease TTL (--lease-ttl) after it died. A live
worker holds at most --concurrency units of each pipeline: workers x concurrency
must reach the number of live units.

Rejected rows go to one dead-letter file per worker slot: the pipeline's path with
ID-SLOT before the extension (NAME.deadletter.host-123-0.jsonl).

Every worker takes its API requests from one budget per API client, kept in the
cluster (cluster/ratelimit), so N workers together stay within the client's limit.

A worker that dies loses its units to other workers after the ack wait (30 s); a
worker that was only cut off finds its commit refused (the unit moved on) and
writes nothing visible. SIGINT or SIGTERM stops taking units; a unit that is
running stops reading, commits what it read and goes back to the queue at once;
then the worker exits 0. A second signal aborts.

See docs/cluster.md for the NATS cluster, systemd units and containers.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if concurrency < 1 || concurrency > core.MaxConcurrency {
				return exitWith(exitInvalid, fmt.Errorf("--concurrency: must be between 1 and %d, got %d", core.MaxConcurrency, concurrency))
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx, stop, _ := signalContext(cmd.Context())
			defer stop()
			var pipelines []*core.Pipeline
			for _, file := range args {
				p, err := core.LoadPipeline(file)
				if err != nil {
					return exitWith(exitInvalid, err)
				}
				pipelines = append(pipelines, p)
			}
			url, err := cf.resolve(pipelines)
			if err != nil {
				return err
			}
			cf.ackWait = ackWait
			st, q, err := cf.connect(ctx, url)
			if err != nil {
				return err
			}
			defer st.Close()
			js, err := jetstream.New(st.Conn())
			if err != nil {
				return exitWith(exitFailed, err)
			}
			// One request budget per API client, shared by every worker.
			budgets, err := js.KeyValue(ctx, ratelimit.DefaultBucket)
			if errors.Is(err, jetstream.ErrBucketNotFound) {
				// Created only when missing: an existing bucket keeps its replicas.
				budgets, err = ratelimit.CreateBucket(ctx, js, ratelimit.BucketConfig{Replicas: cf.replicas})
			}
			if err != nil {
				return exitWith(exitFailed, err)
			}
			limiters := core.WithLimiters(ratelimit.New(budgets, ratelimit.Options{}))
			var plans []*core.Plan
			defer func() {
				for _, pl := range plans {
					pl.Close()
				}
			}()
			if id == "" {
				host, _ := os.Hostname()
				id = fmt.Sprintf("%s-%d", host, os.Getpid())
			}
			for _, p := range pipelines {
				// One plan per slot: a plan's sinks belong to one run. Each
				// slot appends rejected rows to a dead-letter file of its
				// own (writers sharing one file could interleave lines).
				for slot := range concurrency {
					slotP := *p
					slotP.DeadLetter = slotFile(p.DeadLetterPath(), fmt.Sprintf("%s-%d", id, slot))
					pl, err := core.Build(ctx, &slotP, log, limiters)
					if err != nil {
						return exitWith(exitInvalid, err)
					}
					plans = append(plans, pl)
				}
			}
			w := cluster.NewWorker(q, st, cluster.WorkerOptions{ID: id, Logger: log})
			names := make([]string, len(pipelines))
			for i, p := range pipelines {
				names[i] = p.Name
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "etl worker: running units of %s (%d at once each)\n", strings.Join(names, ", "), concurrency)
			if live {
				leases, err := lease.CreateBucket(ctx, js, lease.BucketConfig{TTL: leaseTTL, Replicas: cf.replicas})
				if err != nil {
					return exitWith(exitFailed, err)
				}
				err = w.ServeLive(ctx, leases, plans...)
			} else {
				err = w.Serve(ctx, plans...)
			}
			if err != nil {
				return exitWith(exitFailed, err)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "etl worker: stopped")
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().IntVar(&concurrency, "concurrency", 1, "units of each pipeline run at once")
	cmd.Flags().StringVar(&id, "id", "", "the worker's name in claims and logs (default HOST-PID)")
	cmd.Flags().BoolVar(&live, "live", false, "hold the pipelines' units with leases (live streams) instead of taking them from the work queue")
	cmd.Flags().DurationVar(&leaseTTL, "lease-ttl", lease.DefaultTTL, "with --live: how long a dead worker's units wait before others take them (the lease bucket's setting: give every worker the same)")
	cmd.Flags().DurationVar(&ackWait, "ack-wait", cluster.DefaultAckWait, "how long a unit whose worker stopped heartbeating waits before another worker gets it (the pipeline consumer's setting: give every worker the same)")
	return cmd
}

// slotFile inserts tag before path's extension: rejects.jsonl -> rejects.TAG.jsonl.
func slotFile(path, tag string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + tag + ext
}

// newDispatchCmd is `etl dispatch --cluster nats://… PIPELINE.yaml…`.
func newDispatchCmd(g *globalFlags) *cobra.Command {
	var cf clusterFlags
	var units []string
	cmd := &cobra.Command{
		Use:   "dispatch --cluster nats://HOST:PORT PIPELINE.yaml...",
		Short: "Queue every unit of pipelines (or --unit U) for etl worker processes, once",
		Long: `Dispatch lists the units of each pipeline (or takes --unit) and queues them on the
cluster's work queue: the cluster's "etl run". A unit already queued is not queued
again; a unit running now is reported and not queued (etl serve --cluster queues
such units again when their run ends). For schedules and webhooks, use
etl serve --cluster.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var plans []*core.Plan
			defer func() {
				for _, pl := range plans {
					pl.Close()
				}
			}()
			var pipelines []*core.Pipeline
			for _, file := range args {
				pl, err := loadAndBuild(ctx, file, log)
				if err != nil {
					return err
				}
				plans = append(plans, pl)
				pipelines = append(pipelines, pl.Pipeline)
			}
			url, err := cf.resolve(pipelines)
			if err != nil {
				return err
			}
			st, q, err := cf.connect(ctx, url)
			if err != nil {
				return err
			}
			defer st.Close()
			d := cluster.NewDispatcher(q, st, log)
			for _, pl := range plans {
				list := units
				if len(list) == 0 {
					if list, err = pl.Source.Units(ctx); err != nil {
						return exitWith(exitFailed, fmt.Errorf("%s: list units: %w", pl.Pipeline.File, err))
					}
				}
				res, err := d.Dispatch(ctx, pl.Pipeline.Name, list, time.Now())
				if err != nil {
					return exitWith(exitFailed, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d units queued, %d already queued, %d running now (not queued again)\n",
					pl.Pipeline.Name, res.Queued, res.Coalesced, res.Deferred)
			}
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringSliceVar(&units, "unit", nil, "queue only this unit (repeatable)")
	return cmd
}

// serveDispatcher connects etl serve --cluster to the cluster; close releases it.
func serveDispatcher(ctx context.Context, cf *clusterFlags, log *slog.Logger) (d *cluster.Dispatcher, close func(), err error) {
	if !core.IsStateURL(cf.url) {
		return nil, nil, exitWith(exitInvalid, errors.New("serve: --cluster: want nats://HOST:PORT (or tls://)"))
	}
	st, q, err := cf.connect(ctx, cf.url)
	if err != nil {
		return nil, nil, err
	}
	return cluster.NewDispatcher(q, st, log), func() { st.Close() }, nil
}
