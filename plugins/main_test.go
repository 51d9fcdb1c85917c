package plugins_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins"
	"github.com/etl-toolkit/etl/plugins/internal/server"
	"github.com/etl-toolkit/etl/plugins/sdk"

	_ "github.com/etl-toolkit/etl/core/siunits"
	_ "github.com/etl-toolkit/etl/sinks/csv"
	_ "github.com/etl-toolkit/etl/sinks/discard"
	_ "github.com/etl-toolkit/etl/sources/generate"
)

// Executables the tests run, built once by TestMain.
var (
	faultyBin string // plugins/internal/faulty
	jsonlBin  string // plugins/examples/jsonl
)

// TestMain builds the test plugins once. The test binary also plays etl for
// `external:builtin:NAME`: the opener runs this executable with the arguments
// "plugin serve NAME", which serves the built-in as `etl plugin serve` does.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "plugin" && os.Args[2] == "serve" {
		profilePlugin()
		p, err := sdk.Builtin(os.Args[3], "test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if v := os.Getenv(protocolsEnv); v != "" {
			serveProtocols(p, v) // never returns
		}
		sdk.Serve(p)
	}
	if plugin, ok := os.LookupEnv(hostEnv); ok {
		host(plugin, os.Getenv(hostDirEnv)) // never returns
	}
	os.Exit(run(m))
}

// protocolsEnv, set to a comma-separated list of protocol versions, makes a
// built-in served by the test binary speak only those (TestProtocolVersions).
const protocolsEnv = "PLUGINS_TEST_PROTOCOLS"

func serveProtocols(p sdk.Plugin, list string) {
	var versions []int
	for _, f := range strings.Split(list, ",") {
		v, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", protocolsEnv, err)
			os.Exit(2)
		}
		versions = append(versions, v)
	}
	server.Serve(server.Plugin{Name: p.Name, Version: p.Version, Source: p.Source, Transform: p.Transform, Sink: p.Sink, Protocols: versions})
}

// profileEnv, set to a file name prefix, makes every plugin process this
// test binary serves write a CPU profile of its whole life to PREFIX.PID: the
// plugin's side of BenchmarkSink, which -cpuprofile does not see.
//
//	PLUGINS_TEST_PLUGIN_CPUPROFILE=/tmp/plugin go test -run - -bench Sink/external ./plugins
//	go tool pprof -top /tmp/plugin.*
//
// The server stops the profile when the host is done with the plugin, just
// before the process exits.
const profileEnv = "PLUGINS_TEST_PLUGIN_CPUPROFILE"

func profilePlugin() {
	prefix := os.Getenv(profileEnv)
	if prefix == "" {
		return
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", prefix, os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		f.Close()
	}
	// f stays open: the process exits after the server stops the profile.
}

// hostEnv makes the test binary a host that opens the sink of the plugin the
// variable names (writing under the directory hostDirEnv names), says "ready"
// and waits to be killed (TestPluginExitsWithHost).
const (
	hostEnv    = "PLUGINS_TEST_HOST"
	hostDirEnv = "PLUGINS_TEST_HOST_DIR"
)

func host(plugin, dir string) {
	_, err := plugins.Default.OpenSink(context.Background(), plugin, core.Env{Config: mustConfig("inner: csv\nconfig: {path: " + dir + "}")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	select {}
}

func mustConfig(src string) core.Config {
	cfg, err := core.NewConfig("host.yaml", "sinks[0].config", []byte(src))
	if err != nil {
		panic(err)
	}
	return cfg
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "plugins-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, b := range []struct {
		out *string
		pkg string
	}{
		{&faultyBin, "./internal/faulty"},
		{&jsonlBin, "./examples/jsonl"},
	} {
		*b.out = filepath.Join(dir, filepath.Base(b.pkg))
		if out, err := exec.Command("go", "build", "-o", *b.out, b.pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
		if _, err := plugins.Add(dir, filepath.Base(b.pkg), *b.out); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
