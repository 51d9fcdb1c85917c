package duckdbtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// installTimeout bounds `npm ci`; the modules are about 70 MB.
const installTimeout = 10 * time.Minute

// markerName is written into node_modules after a successful install; it holds
// the SHA-256 of the package-lock.json that was installed, so that a changed lock
// file triggers a new install.
const markerName = ".duckdbtest-installed"

var install struct {
	once sync.Once
	err  error
}

// ensureInstalled installs node/node_modules with `npm ci` unless the installed
// modules match package-lock.json. Test processes running at the same time take
// turns through a lock file, so only the first one installs.
func ensureInstalled(dir string) error {
	install.once.Do(func() { install.err = installModules(dir) })
	return install.err
}

func installModules(dir string) error {
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("read the pinned versions: %w", err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	marker := filepath.Join(dir, "node_modules", markerName)
	if installed(marker, want) {
		return nil
	}

	unlock, err := lockFile(filepath.Join(dir, ".install.lock"))
	if err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	defer unlock()
	if installed(marker, want) { // another process installed it while we waited
		return nil
	}

	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm is needed to install DuckDB (@duckdb/node-api) and is not on PATH: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %s", installTimeout)
		}
		return fmt.Errorf("install DuckDB with `npm ci` in %s failed (%v); is the npm registry reachable? npm said:\n%s",
			dir, err, out.Bytes())
	}
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		return fmt.Errorf("mark the install done: %w", err)
	}
	return nil
}

func installed(marker, want string) bool {
	got, err := os.ReadFile(marker)
	return err == nil && string(got) == want
}
