package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/plugins/plugintest"
)

// The built plugin passes etl's sink conformance suite, run through the SDK
// and a real plugin process, reading back what it committed.
func TestConformance(t *testing.T) {
	bin := plugintest.Build(t, ".")
	plugintest.Sink(t, bin, func(t *testing.T) string {
		return "path: " + t.TempDir()
	}, coretest.SinkOptions{Verify: verifySample})
}

// The same suite in process, on the factory alone, the quick way to debug.
func TestConformanceInProcess(t *testing.T) {
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
		return newSink(t, "path: "+t.TempDir(), mem)
	}, coretest.SinkOptions{Verify: verifySample})
}

func newSink(t *testing.T, config string, mem memory.Allocator) core.Sink {
	t.Helper()
	s, err := Factory.New(context.Background(), plugintest.Env(t, "sinks[0].config", config, mem, nil))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifySample reads every committed file back with Arrow's JSON reader and
// the sample schema, and compares the rows with what was committed.
func verifySample(t *testing.T, sink core.Sink, committed []arrow.RecordBatch) {
	t.Helper()
	root, _ := sink.(core.Locator).Location()
	got := readTree(t, root, coretest.SampleSchema)
	defer release(got)
	gotTable := array.NewTableFromRecords(coretest.SampleSchema, got)
	defer gotTable.Release()
	wantTable := array.NewTableFromRecords(coretest.SampleSchema, committed)
	defer wantTable.Release()
	if gotTable.NumRows() != wantTable.NumRows() {
		t.Fatalf("got %d committed rows, want %d", gotTable.NumRows(), wantTable.NumRows())
	}
	if !array.TableEqual(gotTable, wantTable) {
		t.Errorf("committed rows differ from what was written:\ngot  %v\nwant %v", got, committed)
	}
}

// readTree reads the committed .jsonl files under root, in name order (which
// is the order one sink wrote them), hidden temp files left out.
func readTree(t *testing.T, root string, schema *arrow.Schema) []arrow.RecordBatch {
	t.Helper()
	var names []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && path == root {
				return filepath.SkipDir
			}
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".jsonl") && !strings.HasPrefix(d.Name(), ".") {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	var out []arrow.RecordBatch
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		r := array.NewJSONReader(f, schema, array.WithChunk(-1))
		for r.Next() {
			rec := r.RecordBatch()
			rec.Retain()
			out = append(out, rec)
		}
		if err := r.Err(); err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		r.Release()
		f.Close()
	}
	return out
}

func release(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// Config problems are reported all at once, each at its line.
func TestConfigErrors(t *testing.T) {
	const config = "path: \"\"\npartition_by: [stream, stream]\nroll: { rows: -1 }\ncolour: blue\n"
	_, err := Factory.New(context.Background(), plugintest.Env(t, "sinks[0].config", config, memory.DefaultAllocator, nil))
	want := []string{
		"plugintest.yaml:1:7: sinks[0].config.path: required",
		"plugintest.yaml:2:24: sinks[0].config.partition_by[1]: partition key \"stream\" repeats",
		"plugintest.yaml:3:15: sinks[0].config.roll.rows: must not be negative, got -1",
		"plugintest.yaml:4:1: sinks[0].config.colour: unknown key",
	}
	if err == nil {
		t.Fatalf("got no error, want %q", want)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems:\n%v\nwant %d", len(lines), err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d: got %q, want it to start with %q", i, lines[i], w)
		}
	}
}
