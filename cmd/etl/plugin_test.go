package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etl-toolkit/etl/plugins"
)

// servePluginEnv makes this test binary serve a built-in, as `etl plugin
// serve NAME` does, when etl runs it for `external:builtin:NAME`.
const servePluginEnv = "ETL_TEST_PLUGIN_SERVE"

// The test binary doubles as etl (see TestMain), so the opener runs it to
// serve built-ins, with servePluginEnv set, and this init (which runs before
// TestMain in every copy of the binary) takes it from there.
func init() {
	if name, ok := os.LookupEnv(servePluginEnv); ok {
		cmd := newPluginServeCmd()
		cmd.SetArgs([]string{name})
		if err := cmd.Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "etl:", err)
			os.Exit(exitInvalid)
		}
		os.Exit(exitOK)
	}
	plugins.Default.Self = func(name string) *exec.Cmd {
		self, err := os.Executable()
		if err != nil {
			panic(err)
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), servePluginEnv+"="+name)
		return cmd
	}
}

// A built-in run out of process (`external:builtin:csv`) writes the same rows
// as the built-in itself.
func TestRunBuiltinOutOfProcess(t *testing.T) {
	for _, sink := range []string{"csv", "external:builtin:csv"} {
		t.Run(sink, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "p.yaml", strings.Replace(smallPipeline, "plugin: csv", "plugin: "+sink, 1))
			stdout, stderr, code := etl(t, dir, "run", "--progress", "none", "p.yaml")
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
			}
			if n := len(committedRows(t, filepath.Join(dir, "out"))); n != 2000 {
				t.Errorf("got %d rows, want 2000", n)
			}
		})
	}
}

func TestPluginServe(t *testing.T) {
	t.Run("unknown", func(t *testing.T) {
		cmd := newPluginServeCmd()
		cmd.SetArgs([]string{"nope"})
		cmd.SetOut(new(bytes.Buffer))
		cmd.SetErr(new(bytes.Buffer))
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), `registered as "nope"`) {
			t.Errorf("got %v, want it to say nothing is registered as nope", err)
		}
	})
	t.Run("by-hand", func(t *testing.T) {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), servePluginEnv+"=csv")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "This binary is a plugin") {
			t.Errorf("got %v:\n%s\nwant exit status 1 and go-plugin's notice", err, out)
		}
	})
}

// plugin runs `etl plugin args...` in this process.
func plugin(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	cmd := newPluginCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), err
}

func TestPluginAddAndDescribe(t *testing.T) {
	dir := t.TempDir()
	exe := writeFile(t, dir, "bin/tool", "#!/bin/sh\n")
	plugDir := filepath.Join(dir, "plugins")
	stdout, err := plugin(t, "add", "--dir", plugDir, "tool", exe)
	if err != nil || !strings.Contains(stdout, "recorded tool in "+plugDir+"/"+plugins.ManifestFile) {
		t.Fatalf("add: %v\n%s", err, stdout)
	}
	m, err := plugins.ReadManifest(filepath.Join(dir, "plugins"))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := plugins.Checksum(exe); m.Plugins["tool"].SHA256 != want {
		t.Errorf("got manifest %+v, want tool with sha256 %s", m, want)
	}

	stdout, err = plugin(t, "describe", "builtin:csv")
	if err != nil {
		t.Fatalf("describe: %v\n%s", err, stdout)
	}
	for _, want := range []string{"external:builtin:csv", "sink", "writes CSV files", "delimiter"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("describe: got\n%s\nwant it to contain %q", stdout, want)
		}
	}

	var out bytes.Buffer
	if err := externalPlugins(context.Background(), &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "external plugins (") {
		t.Errorf("got %q, want the plugins directory's heading", out.String())
	}
}
