package coretest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

func TestSourcePasses(t *testing.T) {
	for _, live := range []bool{false, true} {
		name := map[bool]string{false: "finite", true: "live"}[live]
		t.Run(name, func(t *testing.T) {
			coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
				return newGenerate(t, mem, live)
			}, coretest.SourceOptions{Live: live})
		})
	}
}

func TestSinkPasses(t *testing.T) {
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
		return newMemSink("good")
	}, coretest.SinkOptions{Verify: verifyMemSink})
}

func TestTransformPasses(t *testing.T) {
	for _, mode := range []string{"pass", "hold", "reject"} {
		t.Run(mode, func(t *testing.T) {
			coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
				return newMemTransform(mode, dl)
			}, transformInput, coretest.TransformOptions{})
		})
	}
}

// brokenEnv selects the broken component TestBrokenComponent runs the suite on.
const brokenEnv = "CORETEST_BROKEN"

// brokenCases are broken components, each with the subtest of the suite that
// must fail and a part of its message.
var brokenCases = []struct {
	name    string
	subtest string
	want    string
}{
	{"source/unstable-units", "units", "second Units: got"},
	{"source/resume-off-by-one", "resume", "rows, want"},
	{"source/ignores-cancel", "cancel/before-read", "still running after"},
	{"source/leaks", "read", "invalid memory size"},
	{"source/ignores-emit-error", "emit-error", "called emit"},
	{"source/nil-position", "read", "got nil Position"},
	{"sink/no-retain", "commit", "visible rows: got 300 rows, want 300 (first got \"{}\""},
	{"sink/commit-not-idempotent", "commit", "visible rows: got 600 rows, want 300"},
	{"sink/visible-on-write", "close-discards", "visible rows: got 300 rows, want 0"},
	{"sink/leak-on-close", "close-discards", "invalid memory size"},
	{"sink/hang-when-cancelled", "cancelled", "Write(batch 0): still running after"},
	{"transform/lose-on-flush", "accounting", "unit unit-a: got 80 rows out (80 emitted, 0 dead-lettered), want the 120 rows in"},
	{"transform/early-position", "accounting", "with 0 rows accounted for, want at least the 40 rows up to it"},
	{"transform/leak-on-close", "close-without-flush", "invalid memory size"},
}

// TestSuitesCatchBrokenComponents runs the subtest of a suite that must catch
// a broken component in a child process (a failing suite fails its test, which
// cannot be observed from inside) and checks that it fails with the right
// message.
func TestSuitesCatchBrokenComponents(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range brokenCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			run := "^TestBrokenComponent$/^" + strings.ReplaceAll(c.subtest, "/", "$/^") + "$"
			cmd := exec.Command(exe, "-test.run="+run, "-test.v", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), brokenEnv+"="+c.name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("suite passed the broken component, want subtest %s to fail\n%s", c.subtest, out)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenComponent/"+c.subtest+" ") {
				t.Errorf("got output\n%s\nwant subtest %s to fail", out, c.subtest)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("got output\n%s\nwant it to contain %q", out, c.want)
			}
		})
	}
}

// TestBrokenComponent is the child process of TestSuitesCatchBrokenComponents;
// run directly (without CORETEST_BROKEN) it has nothing to check.
func TestBrokenComponent(t *testing.T) {
	name := os.Getenv(brokenEnv)
	if name == "" {
		return
	}
	kind, mode, _ := strings.Cut(name, "/")
	switch kind {
	case "source":
		opts := coretest.SourceOptions{Timeout: 300 * time.Millisecond}
		coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
			return &brokenSource{Source: newGenerate(t, mem, mode == "ignores-cancel"), mode: mode}
		}, opts)
	case "sink":
		coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink {
			return newMemSink(mode)
		}, coretest.SinkOptions{Verify: verifyMemSink, Timeout: 300 * time.Millisecond})
	case "transform":
		coretest.Transform(t, func(t *testing.T, mem memory.Allocator, dl core.DeadLetters) core.Transform {
			return newMemTransform(mode, dl)
		}, transformInput, coretest.TransformOptions{})
	default:
		t.Fatalf("unknown %s=%q", brokenEnv, name)
	}
}
