// Package serve is the engine of `etl serve`: one long-running process that runs
// many pipelines on cron schedules and on webhooks, sharing one open state store
// per pipeline between both, so that a scheduled run and a webhook-triggered pull
// never export the same rows twice.
//
// Start with Config (the serve.yaml file, LoadConfig), then Server: New loads and
// builds every pipeline and opens its store; Serve listens, fires schedules and
// runs pulls until its context ends, then shuts down gracefully.
//
// Each pipeline has one worker and one coalescing queue (queue.go): a trigger
// names units (a webhook: one unit) or the whole pipeline (a schedule). While a
// pull runs, further triggers only mark units as pending, so a burst of
// notifications for one unit leads to one more pull, not many; a pipeline runs
// one pull at a time, so a unit never runs twice at once. The queue holds at most
// Config.Queue distinct units; beyond that it turns into one full incremental run
// of the pipeline (logged).
//
// Receivers (receivers.go) answer within milliseconds and only enqueue: the pull
// happens afterwards. A crash after the answer loses nothing, because the change
// is behind the unit's saved cursor and the next run of that unit exports it.
//
// With Options.Cluster (etl serve --cluster) the server only plans: a pull
// queues its units on the cluster's work queue (package cluster) for `etl
// worker` processes, a full run queues every unit the source lists, and no local
// state store is opened. The cluster then coalesces: a unit is never queued
// twice, and one asked for while it runs is queued once after it.
//
// Metrics (metrics.go) are Prometheus collectors served on /metrics, beside
// /healthz (the process is up) and /readyz (every pipeline is built and its store
// open, and the server is not shutting down).
package serve
