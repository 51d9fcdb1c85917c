package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/core"
)

func newPluginsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "plugins",
		Short: "List the registered sources, transforms and sinks with their config options",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 8, 2, ' ', 0)
			section := func(kind string, names []string, info func(string) (string, any)) {
				fmt.Fprintf(tw, "%s:\n", kind)
				for _, n := range names {
					doc, opts := info(n)
					fmt.Fprintf(tw, "  %s\t%s\n", n, doc)
					for _, o := range core.Options(opts) {
						def := ""
						if o.Default != "" {
							def = " (default " + o.Default + ")"
						}
						fmt.Fprintf(tw, "    %s\t%s\t%s%s\n", o.Name, o.Type, o.Doc, def)
					}
				}
			}
			section("sources", core.Sources(), func(n string) (string, any) { f, _ := core.LookupSource(n); return f.Doc, f.Options })
			section("transforms", core.Transforms(), func(n string) (string, any) { f, _ := core.LookupTransform(n); return f.Doc, f.Options })
			section("sinks", core.Sinks(), func(n string) (string, any) { f, _ := core.LookupSink(n); return f.Doc, f.Options })
			return tw.Flush()
		},
	}
}

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of pipeline files (for editors), covering every registered plugin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := core.PipelineSchema()
			if err != nil {
				return exitWith(exitFailed, err)
			}
			_, err = cmd.OutOrStdout().Write(s)
			return err
		},
	}
}
