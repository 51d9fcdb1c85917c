package plugins_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/plugins"
)

// test-status is a source of the test binary, served out of process as
// builtin:test-status: its one unit reports statuses around its one batch.
func init() {
	core.RegisterSource("test-status", core.Factory[core.Source]{
		Doc: "reports statuses around one batch (the plugins tests')",
		New: func(_ context.Context, env core.Env) (core.Source, error) { return statusSource{mem: env.Mem}, nil },
	})
}

type statusSource struct{ mem memory.Allocator }

func (statusSource) Units(context.Context) ([]string, error) { return []string{"unit-a"}, nil }

func (s statusSource) Read(ctx context.Context, unit string, _ core.Position, emit core.Emit) error {
	core.ReportStatus(ctx, "waiting 1s: rate limited")
	core.ReportStatus(ctx, "waiting 1s: rate limited") // unchanged: not sent again
	core.ReportStatus(ctx, "")
	if err := emit(ctx, coretest.SampleBatches(s.mem, unit, 1, 10)[0]); err != nil {
		return err
	}
	core.ReportStatus(ctx, "done")
	return nil
}

func (statusSource) Ack(context.Context, string, core.Position) error { return nil }
func (statusSource) Close() error                                     { return nil }

// protocolOpener serves built-ins from the test binary speaking only the
// protocol versions listed ("": every version).
func protocolOpener(t *testing.T, protocols string) *plugins.Opener {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &plugins.Opener{Self: func(name string) *exec.Cmd {
		cmd := exec.Command(exe, "plugin", "serve", name)
		if protocols != "" {
			cmd.Env = append(os.Environ(), protocolsEnv+"="+protocols)
		}
		return cmd
	}}
}

// A source plugin's statuses reach the host's core.ReportStatus, in order with
// its batches, from protocol version 2 on; a plugin that speaks only version 1
// still works (without them); one that speaks no version the host does is
// refused with a clear error.
func TestProtocolVersions(t *testing.T) {
	for _, c := range []struct {
		name, protocols string
		want            []string
	}{
		{"latest", "", []string{"status: waiting 1s: rate limited", "status: ", "batch unit-a", "status: done"}},
		{"version-2", "1,2", []string{"status: waiting 1s: rate limited", "status: ", "batch unit-a", "status: done"}},
		{"version-1", "1", []string{"batch unit-a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			src, err := protocolOpener(t, c.protocols).OpenSource(context.Background(), "builtin:test-status", env(t, "source.config", "", mem, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var got []string
			ctx := core.WithStatus(context.Background(), func(s string) { got = append(got, "status: "+s) })
			err = src.Read(ctx, "unit-a", nil, func(_ context.Context, b core.Batch) error {
				got = append(got, "batch "+b.Unit)
				b.Release()
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	t.Run("mismatch", func(t *testing.T) {
		_, err := protocolOpener(t, "99").OpenSource(context.Background(), "builtin:test-status", env(t, "source.config", "", nil, nil))
		want := "it speaks none of the plugin protocol versions this etl speaks ([1 2])"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Plugin version: 99") {
			t.Errorf("got %v, want an error saying %q and naming version 99", err, want)
		}
	})
}
