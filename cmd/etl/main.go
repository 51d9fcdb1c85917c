// Command etl runs declarative pipelines that export fitness and sports-sensor data
// (Azumio, ASI) to Parquet, CSV and Arrow Flight. See the README for a tour.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"
)

// Exit codes, documented in `etl --help`.
const (
	exitOK          = 0
	exitFailed      = 1   // the run failed (sink, transform or state error)
	exitInvalid     = 2   // bad command line or invalid pipeline file
	exitUnitsFailed = 3   // the run finished but some units failed
	exitSIGINT      = 130 // stopped by SIGINT after committing what was read
	exitSIGTERM     = 143 // stopped by SIGTERM after committing what was read
)

const exitHelp = `Exit codes:
  0    success
  1    the run failed (a sink, transform or state store error); nothing committed is lost
  2    bad command line or invalid pipeline file (every problem is printed as file:line:col)
  3    the run finished but some units failed (they are listed; the others were exported)
  130  stopped by SIGINT (Ctrl-C): what was read was committed; run again to resume
  143  stopped by SIGTERM: as for 130
A second SIGINT/SIGTERM aborts at once; the next run finishes any half-done commit.`

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

var version = "dev"

func main() {
	os.Exit(execute(os.Args[1:]))
}

func execute(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "etl: "+strings.TrimPrefix(ee.err.Error(), "etl: "))
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "etl:", err)
	return exitInvalid // cobra's own errors are usage errors
}

type globalFlags struct {
	logLevel    string
	logFormat   string
	memoryLimit string
}

func newRoot() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "etl",
		Short: "Export fitness and sports-sensor data to Parquet, CSV and Arrow Flight",
		Long: `etl runs declarative pipeline files: a source (Azumio, ASI, generate) emits Arrow
record batches, transforms normalise them, sinks write Parquet, CSV or Arrow Flight.
Positions are saved only after every sink has durably committed, so a rerun after
any crash exports every record exactly once.

` + exitHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	root.PersistentFlags().StringVar(&g.memoryLimit, "memory-limit", "160MiB",
		"soft memory limit of the Go runtime (GC works harder near it; \"off\" for none); GOMEMLIMIT, if set, wins")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error { return g.applyMemoryLimit() }
	emulate := &cobra.Command{
		Use:   "emulate",
		Short: "Serve an in-memory emulator of an API on loopback (no account needed)",
	}
	emulate.AddCommand(newEmulateAzumioCmd(), newEmulateASICmd())
	auth := &cobra.Command{
		Use:   "auth",
		Short: "Sign in to an API in the browser and store the tokens (files created 0600)",
	}
	auth.AddCommand(newAuthAzumioCmd(), newAuthASICmd())
	root.AddCommand(newRunCmd(g), newValidateCmd(g), newStateCmd(g), newPluginsCmd(), newSchemaCmd(),
		newServeCmd(), emulate, auth, newAzumioCmd(), newASICmd(), newFlightServeCmd(), newPluginCmd(), newVersionCmd(), newWorkerCmd(g), newDispatchCmd(g))
	return root
}

// applyMemoryLimit sets the runtime's soft memory limit. Without one the heap may
// grow to twice the live data before a collection (measured: a 1 M-row Parquet
// export peaked at 215 MiB, with the limit at 177 MiB, at no CPU cost). It is soft:
// a run that needs more still gets it, with more GC work.
func (g *globalFlags) applyMemoryLimit() error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set || g.memoryLimit == "off" {
		return nil
	}
	n, err := humanize.ParseBytes(g.memoryLimit)
	if err != nil || n == 0 || n > math.MaxInt64 {
		return exitWith(exitInvalid, fmt.Errorf("--memory-limit: invalid size %q (want e.g. 160MiB, 1GiB or off)", g.memoryLimit))
	}
	debug.SetMemoryLimit(int64(n))
	return nil
}

func (g *globalFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, exitWith(exitInvalid, fmt.Errorf("--log-level: %w", err))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, exitWith(exitInvalid, fmt.Errorf("--log-format: unknown value %q (want text or json)", g.logFormat))
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "etl", version)
		},
	}
}
