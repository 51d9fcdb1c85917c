package plugins_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins"
	"github.com/etl-toolkit/etl/plugins/plugintest"
)

// env returns the Env of a component whose config section is config (YAML) at
// path, e.g. "sinks[0].config".
func env(t testing.TB, path, config string, mem memory.Allocator, dl core.DeadLetters) core.Env {
	t.Helper()
	return plugintest.Env(t, path, config, mem, dl)
}

func openSink(t testing.TB, ref, config string, mem memory.Allocator) core.Sink {
	t.Helper()
	s, err := plugins.Default.OpenSink(context.Background(), ref, env(t, "sinks[0].config", config, mem, nil))
	if err != nil {
		t.Fatalf("OpenSink(%s): %v", ref, err)
	}
	return s
}

func openSource(t testing.TB, ref, config string, mem memory.Allocator) core.Source {
	t.Helper()
	s, err := plugins.Default.OpenSource(context.Background(), ref, env(t, "source.config", config, mem, nil))
	if err != nil {
		t.Fatalf("OpenSource(%s): %v", ref, err)
	}
	return s
}

func openTransform(t testing.TB, ref, config string, mem memory.Allocator, dl core.DeadLetters) core.Transform {
	t.Helper()
	tr, err := plugins.Default.OpenTransform(context.Background(), ref, env(t, "transforms[0].config", config, mem, dl))
	if err != nil {
		t.Fatalf("OpenTransform(%s): %v", ref, err)
	}
	return tr
}

// collect gathers emitted batches.
type collect struct {
	mu      sync.Mutex
	batches []core.Batch
}

func (c *collect) emit(_ context.Context, b core.Batch) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b)
	return nil
}

func (c *collect) release() {
	for _, b := range c.batches {
		b.Release()
	}
}

// deadLetters keeps what it is given.
type deadLetters struct {
	mu   sync.Mutex
	rows []core.DeadLetter
}

func (d *deadLetters) Reject(_ context.Context, l core.DeadLetter) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows = append(d.rows, l)
	return nil
}

// syncBuffer is a bytes.Buffer safe for the log handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func textLogger(w *syncBuffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// readJSONLines reads every committed .jsonl file under dir, in name order.
func readJSONLines(t testing.TB, dir string) []map[string]any {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".jsonl") && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(files, func(i, j int) bool { return filepath.Base(files[i]) < filepath.Base(files[j]) })
	var rows []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		for dec.More() {
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			rows = append(rows, row)
		}
	}
	return rows
}
