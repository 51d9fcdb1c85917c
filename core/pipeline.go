package core

import "time"

// Pipeline is a parsed pipeline file, made by LoadPipeline or ParsePipeline with
// every default applied. Components are not built yet: their configs are kept
// undecoded, with positions, until Build hands them to their factories.
type Pipeline struct {
	// File is the path the pipeline was loaded from ("" if parsed from memory).
	File    string
	Version int
	Name    string
	// State is the directory of the local state store (default ".etl-state"),
	// or a nats:// URL for the JetStream store of a cluster (see IsStateURL).
	State string
	// Source, Transforms and Sinks name registered plugins with their configs.
	Source     Component
	Transforms []Component
	Sinks      []Component
	// DeadLetter is the JSON Lines file rejected rows go to
	// (default STATE/NAME.deadletter.jsonl).
	DeadLetter string
	// Concurrency is how many units are read at once (default 4).
	Concurrency int
	// Tick is how often, in a run with live units, the runner ticks the
	// transforms that release rows on processing time (reorder; see Ticker):
	// the resolution of their release. 0: RunOptions.Tick, or DefaultTick.
	Tick time.Duration
	// Commit says when the runner commits besides the end of the run and the
	// sinks' own rolls.
	Commit CommitPolicy
}

// CommitPolicy says when the runner commits on its own.
type CommitPolicy struct {
	// Interval commits at least this often while a run goes on (default 1m).
	Interval time.Duration
	// Rows commits after this many rows have been written since the last commit
	// (0: no row limit).
	Rows int64
}

// Component is one `plugin:` + `config:` entry of a pipeline file.
type Component struct {
	// Plugin is the registered name (or "external:PATH" for an external plugin).
	Plugin string
	// Path is the entry's field path in the file, e.g. "sinks[1]".
	Path string
	// Config is the undecoded config section.
	Config Config
}
