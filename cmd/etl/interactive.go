package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/core"
)

// signalled returns cmd's context, cancelled by SIGINT or SIGTERM.
func signalled(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// openBrowser asks the desktop to open url, and says nothing if it cannot: the
// URL is printed anyway.
func openBrowser(url string) {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if cmd.Start() == nil {
		go cmd.Wait()
	}
}

// pipelineSourceConfig returns the source config of the pipeline file args[0],
// which must use plugin, decoded by decode; def when no file is given. Problems
// are exit code 2.
func pipelineSourceConfig[T any](args []string, plugin string, def T, decode func(core.Config) (T, error)) (T, error) {
	if len(args) != 1 {
		return def, nil
	}
	p, err := core.LoadPipeline(args[0])
	if err != nil {
		return def, exitWith(exitInvalid, err)
	}
	if p.Source.Plugin != plugin {
		return def, exitWith(exitInvalid, fmt.Errorf("%s: the source is %q, not %s", args[0], p.Source.Plugin, plugin))
	}
	cfg, err := decode(p.Source.Config)
	if err != nil {
		return def, exitWith(exitInvalid, err)
	}
	return cfg, nil
}
