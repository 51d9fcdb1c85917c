package plugintest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/plugins"
)

// Build builds the main package pkg (an import path, or a directory such as
// "." as `go build` takes it, from the test's working directory) into a
// directory of its own under t.TempDir(), records it with its SHA-256 in that
// directory's manifest (so that it starts verified, as a shipped plugin does)
// and returns the executable's path. The Go build cache makes a second build
// of an unchanged package quick.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plugin")
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	cmd := exec.Command(goTool, "build", "-o", out, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	if _, err := plugins.Add(filepath.Dir(out), "plugin", out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Env returns the environment a component is opened in: its config section
// from YAML text (as in a pipeline file, at field path path), allocating from
// mem, rejecting rows to dl (nil: none), logging warnings and errors to
// stderr.
func Env(t testing.TB, path, config string, mem memory.Allocator, dl core.DeadLetters) core.Env {
	t.Helper()
	cfg, err := core.NewConfig("plugintest.yaml", path, []byte(config))
	if err != nil {
		t.Fatalf("config %q: %v", config, err)
	}
	return core.Env{
		Pipeline:    "plugintest",
		Config:      cfg,
		Logger:      Logger(os.Stderr),
		DeadLetters: dl,
		Mem:         mem,
	}
}

// Logger returns a logger of warnings and errors to w, for the plugins that
// tests start.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// ref returns the opener's reference for the executable at path.
func ref(path string) string {
	if filepath.IsAbs(path) || strings.HasPrefix(path, ".") {
		return path
	}
	return "." + string(filepath.Separator) + path
}

// OpenSink starts the plugin at path and opens its sink with the YAML config
// section config, allocating from mem. It fails t if the plugin does not start
// or rejects the config. The test closes the sink.
func OpenSink(t testing.TB, path, config string, mem memory.Allocator) core.Sink {
	t.Helper()
	s, err := plugins.Default.OpenSink(context.Background(), ref(path), Env(t, "sinks[0].config", config, mem, nil))
	if err != nil {
		t.Fatalf("open sink %s: %v", path, err)
	}
	return s
}

// OpenSource starts the plugin at path and opens its source, like OpenSink.
func OpenSource(t testing.TB, path, config string, mem memory.Allocator) core.Source {
	t.Helper()
	s, err := plugins.Default.OpenSource(context.Background(), ref(path), Env(t, "source.config", config, mem, nil))
	if err != nil {
		t.Fatalf("open source %s: %v", path, err)
	}
	return s
}

// OpenTransform starts the plugin at path and opens its transform, like
// OpenSink, with dl as its dead-letter output.
func OpenTransform(t testing.TB, path, config string, mem memory.Allocator, dl core.DeadLetters) core.Transform {
	t.Helper()
	tr, err := plugins.Default.OpenTransform(context.Background(), ref(path), Env(t, "transforms[0].config", config, mem, dl))
	if err != nil {
		t.Fatalf("open transform %s: %v", path, err)
	}
	return tr
}

// Sink runs coretest.Sink against the sink of the plugin at path. config
// returns the config section for each subtest's fresh sink (e.g. with a
// directory of t.TempDir()); Verify reads back what it committed.
func Sink(t *testing.T, path string, config func(t *testing.T) string, opts coretest.SinkOptions) {
	t.Helper()
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
		return OpenSink(t, path, config(t), mem)
	}, opts)
}

// Source runs coretest.Source against the source of the plugin at path,
// configured with config.
func Source(t *testing.T, path, config string, opts coretest.SourceOptions) {
	t.Helper()
	coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
		return OpenSource(t, path, config, mem)
	}, opts)
}

// Transform runs coretest.Transform against the transform of the plugin at
// path, configured with config, fed the batches input builds.
func Transform(t *testing.T, path, config string, input func(mem memory.Allocator) []core.Batch, opts coretest.TransformOptions) {
	t.Helper()
	coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
		return OpenTransform(t, path, config, mem, dl)
	}, input, opts)
}
