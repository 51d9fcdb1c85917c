package plugins_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/plugins"
)

// What a plugin logs through its Env.Logger reaches the host's slog logger,
// with its level and attributes and the host's labels for the component;
// go-plugin's own chatter stays at debug level.
func TestPluginLogs(t *testing.T) {
	var buf syncBuffer
	log := textLogger(&buf, slog.LevelInfo).With("component", "source", "plugin", "external:faulty")
	e := env(t, "source.config", "{log: hello from the plugin, generate: {rows: 1}}", nil, nil)
	e.Logger = log
	src, err := plugins.Default.OpenSource(context.Background(), faultyBin, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Units(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	// The line is relayed from the plugin's stderr asynchronously.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "hello from the plugin") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var line string
	for l := range strings.SplitSeq(buf.String(), "\n") {
		if strings.Contains(l, "hello from the plugin") {
			line = l
		}
	}
	for _, want := range []string{"level=INFO", `msg="hello from the plugin"`, "component=source", "plugin=external:faulty", "pid=", "answer=42", "mtls=true"} {
		if !strings.Contains(line, want) {
			t.Errorf("got log line %q, want it to contain %s", line, want)
		}
	}
	for l := range strings.SplitSeq(buf.String(), "\n") {
		if strings.Contains(l, "plugin process exited") || strings.Contains(l, "starting plugin") {
			t.Errorf("got go-plugin's line %q at info level, want it at debug", l)
		}
	}
}
