package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/plugins"
	"github.com/etl-toolkit/etl/plugins/sdk"
)

// newPluginCmd is `etl plugin`: external plugins' commands.
func newPluginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Serve a built-in as an external plugin, record plugins' checksums, describe plugins",
		Long: `External plugins are programs of their own that a pipeline names as
plugin: external:REF, where REF is a path (external:./bin/my-sink), a name from the
plugins directory's manifest (external:my-sink; the directory is $` + plugins.DirEnv + `,
default ` + plugins.DefaultDir + `), or builtin:NAME to run one of etl's own components
in a separate process (external:builtin:csv).`,
	}
	cmd.AddCommand(newPluginServeCmd(), newPluginAddCmd(), newPluginDescribeCmd())
	return cmd
}

// newPluginServeCmd is `etl plugin serve NAME`.
func newPluginServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve NAME",
		Short: "Serve a built-in source, transform or sink as an external plugin",
		Long: `Serve the built-in component(s) registered as NAME over etl's plugin protocol.
etl runs this itself for a pipeline entry plugin: external:builtin:NAME, which runs the
same code as plugin: NAME in a process of its own (isolation: a crash or a leak stays
in that process). Started by hand it only says that it is a plugin.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := sdk.Builtin(args[0], version)
			if err != nil {
				return exitWith(exitInvalid, err)
			}
			sdk.Serve(p) // exits the process
			return nil
		},
	}
}

// newPluginAddCmd is `etl plugin add NAME EXECUTABLE`.
func newPluginAddCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "add NAME EXECUTABLE",
		Short: "Record a plugin and its SHA-256 in the plugins directory's manifest",
		Long: `Record EXECUTABLE as plugin NAME, with its SHA-256, in the manifest of the plugins
directory (--dir, else $` + plugins.DirEnv + `, else ` + plugins.DefaultDir + `). Pipelines then name it
plugin: external:NAME, and etl refuses to start it if the file changes. Run it again
after rebuilding the plugin. A manifest beside an executable also verifies the plugin
when a pipeline names it by path.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = (&plugins.Opener{}).Dirname()
			}
			e, err := plugins.Add(dir, args[0], args[1])
			if err != nil {
				return exitWith(exitFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recorded %s in %s/%s: %s sha256:%s\n", args[0], dir, plugins.ManifestFile, e.Path, e.SHA256)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "plugins directory (default $"+plugins.DirEnv+" or "+plugins.DefaultDir+")")
	return cmd
}

// newPluginDescribeCmd is `etl plugin describe [REF...]`.
func newPluginDescribeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "describe [REF...]",
		Short: "Start plugins and show what they serve and their options (default: every plugin in the plugins directory)",
		RunE: func(cmd *cobra.Command, args []string) error {
			o := plugins.Default
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			var specs []plugins.Spec
			var errs []error
			if len(args) == 0 {
				var err error
				specs, errs, err = o.List(cmd.Context(), log)
				if err != nil {
					return exitWith(exitFailed, err)
				}
				if len(specs) == 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "no plugins in %s\n", o.Dirname())
					return nil
				}
			}
			for _, ref := range args {
				s, err := o.Describe(cmd.Context(), ref, log)
				s.Ref = ref
				specs, errs = append(specs, s), append(errs, err)
			}
			failed := writeSpecs(cmd.OutOrStdout(), specs, errs)
			if failed > 0 {
				return exitWith(exitFailed, fmt.Errorf("%d of %d plugins could not be described", failed, len(specs)))
			}
			return nil
		},
	}
}

// writeSpecs prints plugins' specs like `etl plugins` prints built-ins, and
// returns how many failed.
func writeSpecs(w io.Writer, specs []plugins.Spec, errs []error) int {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	failed := 0
	for i, s := range specs {
		if errs[i] != nil {
			failed++
			fmt.Fprintf(tw, "external:%s\t%s\n", s.Ref, strings.ReplaceAll(errs[i].Error(), "\n", " "))
			continue
		}
		fmt.Fprintf(tw, "external:%s\t%s %s\n", s.Ref, s.Name, s.Version)
		for _, c := range s.Components {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Kind, c.Doc)
			for _, o := range c.Options {
				def := ""
				if o.Default != "" {
					def = " (default " + o.Default + ")"
				}
				fmt.Fprintf(tw, "    %s\t%s\t%s%s\n", o.Name, o.Type, o.Doc, def)
			}
		}
	}
	tw.Flush()
	return failed
}

// externalPlugins prints the plugins of the plugins directory, for `etl
// plugins` to show after the built-ins.
func externalPlugins(ctx context.Context, w io.Writer, log *slog.Logger) error {
	specs, errs, err := plugins.Default.List(ctx, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "external plugins (%s):\n", plugins.Default.Dirname())
	writeSpecs(w, specs, errs)
	return nil
}
