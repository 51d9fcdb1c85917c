package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/cluster"
	"github.com/etl-toolkit/etl/core"
)

func newStateCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Show or reset a pipeline's saved positions",
	}
	var clusterURL string
	show := &cobra.Command{
		Use:   "show PIPELINE.yaml",
		Short: "Show positions per unit, the last run and its counts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, store, err := openState(cmd.Context(), args[0], clusterURL)
			if err != nil {
				return err
			}
			defer store.Close()
			return showState(cmd, p, store, clusterURL)
		},
	}
	var units []string
	reset := &cobra.Command{
		Use:   "reset PIPELINE.yaml",
		Short: "Forget saved positions (all units, or --unit U): the next run starts those units from the beginning",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, store, err := openState(cmd.Context(), args[0], clusterURL)
			if err != nil {
				return err
			}
			defer store.Close()
			n, err := core.ResetState(context.Background(), store, p.Name, units)
			if err != nil {
				return exitWith(exitFailed, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: reset %d units\n", p.Name, n)
			return nil
		},
	}
	reset.Flags().StringSliceVar(&units, "unit", nil, "reset only this unit (repeatable)")
	for _, c := range []*cobra.Command{show, reset} {
		c.Flags().StringVar(&clusterURL, "cluster", "", "the state bucket on this NATS cluster (nats://host:4222) instead of the pipeline file's state:")
	}
	cmd.AddCommand(show, reset)
	return cmd
}

func openState(ctx context.Context, file, clusterURL string) (*core.Pipeline, core.Store, error) {
	p, err := core.LoadPipeline(file)
	if err != nil {
		return nil, nil, exitWith(exitInvalid, err)
	}
	if clusterURL != "" && !core.IsStateURL(clusterURL) {
		return nil, nil, exitWith(exitInvalid, fmt.Errorf("--cluster: want nats://HOST:PORT (or tls://), got %q", clusterURL))
	}
	store, err := cluster.OpenStore(ctx, p, clusterURL)
	if err != nil {
		return nil, nil, exitWith(exitFailed, err)
	}
	return p, store, nil
}

func showState(cmd *cobra.Command, p *core.Pipeline, store core.Store, clusterURL string) error {
	ctx := context.Background()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "pipeline %s, state %s\n", p.Name, stateWhere(p, clusterURL))
	run, err := core.LastRun(ctx, store, p.Name)
	if err != nil {
		return exitWith(exitFailed, err)
	}
	if run == nil {
		fmt.Fprintln(out, "last run: never")
	} else {
		var total int64
		streams := make([]string, 0, len(run.Rows))
		for s, n := range run.Rows {
			total += n
			streams = append(streams, s+"="+strconv.FormatInt(n, 10))
		}
		status := "ok"
		switch {
		case run.Error != "":
			status = "failed: " + run.Error
		case run.Interrupted:
			status = "stopped by a signal"
		case run.UnitsFailed > 0:
			status = fmt.Sprintf("%d units failed", run.UnitsFailed)
		}
		fmt.Fprintf(out, "last run: %s, took %s, %d rows (%s), %d units, %d commits, %d files, %d dead letters, %s\n",
			run.Started.Format(time.RFC3339), run.Duration.Round(time.Millisecond), total, strings.Join(streams, " "),
			run.Units, run.Commits, run.Files, run.DeadLetters, status)
	}
	units, err := core.UnitStates(ctx, store, p.Name)
	if err != nil {
		return exitWith(exitFailed, err)
	}
	if pending, err := core.HasPendingCommit(ctx, store, p.Name); err != nil {
		return exitWith(exitFailed, err)
	} else if pending {
		fmt.Fprintln(out, "an unfinished commit is recorded: the next run finishes it first")
	}
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "UNIT\tROWS\tUPDATED\tPOSITION\tERROR")
	for _, u := range units {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", u.Unit, u.State.Rows, u.State.Updated.Format(time.RFC3339), formatPosition(u.State.Position), u.State.Error)
	}
	return tw.Flush()
}

// formatPosition shows a position as text when it is printable, else as hex:
// positions are opaque bytes that each source defines.
func formatPosition(p core.Position) string {
	if p == nil {
		return "-"
	}
	if utf8.Valid(p) && strings.IndexFunc(string(p), func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return strconv.Quote(string(p))
	}
	return "0x" + hex.EncodeToString(p)
}

// stateWhere says where p's state is kept: its bbolt file, or the KV bucket on
// the cluster (clusterURL, else a nats:// state: setting), credentials hidden.
func stateWhere(p *core.Pipeline, clusterURL string) string {
	if clusterURL == "" && core.IsStateURL(p.State) {
		clusterURL = p.State
	}
	if clusterURL != "" {
		return "bucket " + cluster.DefaultBucket + " on " + cluster.RedactURL(clusterURL)
	}
	return p.StatePath()
}
