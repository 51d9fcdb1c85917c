package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// TestServeCommand runs `etl serve` in-process on a loopback port against the
// Azumio emulator: the emulator's webhook is accepted and pulled, /healthz,
// /readyz and /metrics answer, and cancelling stops it with a nil error.
func TestServeCommand(t *testing.T) {
	emu := azumiotest.NewServer(t, azumiotest.Options{Seed: 2, Users: 2, Checkins: 10, Types: []string{"steps"}})
	dir := t.TempDir()
	if err := emu.WriteTokens(filepath.Join(dir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "p.yaml", `version: 1
name: azumio-cmd
state: `+dir+`/state
source:
  plugin: azumio
  config:
    base_url: `+emu.URL()+`
    client_id: `+emu.ClientID()+`
    tokens: `+dir+`/tokens.json
    types: [steps]
    fragments: false
    profile: false
    requests_per_second: 0
sinks:
  - plugin: csv
    config: { path: "`+dir+`/out" }
`)
	serveFile := writeFile(t, dir, "serve.yaml", "listen: 127.0.0.1:0\npipelines:\n  - file: p.yaml\n    azumio: true\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := &cobra.Command{Use: "etl", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newServeCmd())
	root.SetArgs([]string{"serve", "--config", serveFile})
	pr, pw := io.Pipe()
	root.SetOut(pw)
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v", err)
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimSpace(strings.TrimPrefix(line, "etl serve: listening on "))
	if _, err := url.Parse(base); err != nil || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("got %q, want a loopback URL", line)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(base+"/hooks/azumio/azumio-cmd?user=10001", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %v %v", resp, err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `etl_runs_total{pipeline="azumio-cmd",result="ok",trigger="webhook"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run in /metrics:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v, want nil after a stop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve still running 20s after cancel")
	}
}

// TestServeCommandErrors: a bad serve file is exit 2 naming the problem.
func TestServeCommandErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, want string
	}{
		{"unknown key", "pipelines:\n  - file: p.yaml\n    schedul: daily\n", "schedul"},
		{"bad cron", "pipelines:\n  - file: p.yaml\n    schedule: \"61 * * * *\"\n", "pipelines[0].schedule"},
		{"no trigger", "pipelines:\n  - file: p.yaml\n", "no trigger"},
		{"no secret", "pipelines:\n  - file: p.yaml\n    asi: { secret_env: ETL_TEST_UNSET_SECRET }\n", "ETL_TEST_UNSET_SECRET is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFile(t, dir, "serve.yaml", tt.file)
			root := &cobra.Command{Use: "etl", SilenceUsage: true, SilenceErrors: true}
			root.AddCommand(newServeCmd())
			root.SetArgs([]string{"serve", "--config", f})
			root.SetOut(io.Discard)
			err := root.Execute()
			if exitCode(err) != exitInvalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v (exit %d), want exit 2 naming %q", err, exitCode(err), tt.want)
			}
		})
	}
}

// TestServeCommandDirectory: --config DIR serves the pipeline files of DIR.
func TestServeCommandDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", "version: 1\nname: dir-azumio\nstate: "+dir+"/state\nsource:\n  plugin: azumio\n  config: { base_url: http://127.0.0.1:9, client_id: x, tokens: "+dir+"/t.json }\nsinks:\n  - plugin: csv\n    config: { path: "+dir+"/out }\n")
	writeFile(t, dir, "t.json", `{"users": {}}`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := &cobra.Command{Use: "etl", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newServeCmd())
	root.SetArgs([]string{"serve", "--config", dir, "--listen", "127.0.0.1:0"})
	pr, pw := io.Pipe()
	root.SetOut(pw)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no listening line: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	base := strings.TrimSpace(strings.TrimPrefix(line, "etl serve: listening on "))
	resp, err := http.Post(base+"/hooks/azumio/dir-azumio?user=1", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v, want nil", err)
	}
}
