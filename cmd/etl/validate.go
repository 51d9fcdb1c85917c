package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newValidateCmd(g *globalFlags) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "validate PIPELINE.yaml...",
		Short: "Check pipeline files; print every problem as file:line:col (exit 0 valid, 2 invalid)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			ctx := context.Background()
			bad := 0
			for _, file := range args {
				pl, err := loadAndBuild(ctx, file, log)
				if err == nil && check {
					err = pl.Check(ctx)
				}
				if pl != nil {
					pl.Close()
				}
				if err != nil {
					bad++
					var ee *exitError
					if errors.As(err, &ee) {
						err = ee.err
					}
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
			}
			if bad > 0 {
				return exitWith(exitInvalid, fmt.Errorf("%d of %d pipeline files invalid", bad, len(args)))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "also check connections and paths (components implementing core.Checker)")
	return cmd
}
