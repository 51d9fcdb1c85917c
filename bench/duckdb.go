//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// duckdb runs bench/duckdb/copy.mjs: DuckDB through the npm package
// @duckdb/node-api, pinned in bench/duckdb/package-lock.json (the pin of
// internal/duckdbtest) and installed the way internal/duckdbtest installs it:
// `npm ci` into bench/duckdb/node_modules (gitignored), skipped while the
// marker written after an install holds the lock file's SHA-256.
type duckdb struct {
	dir  string // bench/duckdb
	node string
}

// duckResult is what copy.mjs prints.
type duckResult struct {
	Rows    int64  `json:"rows"`
	Version string `json:"version"`
}

const duckMarker = ".bench-installed"

// duckdb installs DuckDB unless it is installed already.
func (h *harness) duckdb(ctx context.Context) (*duckdb, error) {
	d := &duckdb{dir: filepath.Join(h.root, "bench", "duckdb")}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node (Node.js) runs DuckDB and is not on PATH: %w", err)
	}
	d.node = node
	lock, err := os.ReadFile(filepath.Join(d.dir, "package-lock.json"))
	if err != nil {
		return nil, fmt.Errorf("the pinned DuckDB version: %w", err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	marker := filepath.Join(d.dir, "node_modules", duckMarker)
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		return d, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, fmt.Errorf("npm installs DuckDB (@duckdb/node-api) and is not on PATH: %w", err)
	}
	h.logf("p1: installing DuckDB: npm ci in %s", d.dir)
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = d.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("install DuckDB with `npm ci` in %s (is the npm registry reachable?): %w\n%s", d.dir, err, out)
	}
	return d, os.WriteFile(marker, []byte(want), 0o644)
}

// copy converts the JSON pages matching glob into the Parquet file out, in a
// child process, and measures it.
func (d *duckdb) copy(ctx context.Context, glob, out string) (measure, duckResult, error) {
	if err := os.Remove(out); err != nil && !os.IsNotExist(err) {
		return measure{}, duckResult{}, err
	}
	cmd := command(ctx, d.dir, nil, d.node, "copy.mjs", glob, out)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	m, msg, err := runChild(cmd)
	if err != nil {
		return m, duckResult{}, err
	}
	var r duckResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		return m, r, fmt.Errorf("copy.mjs printed %q (%s): %w", stdout.Bytes(), msg, err)
	}
	return m, r, nil
}
