package plugintest_test

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/plugins/plugintest"
)

// A sink plugin's own test builds the plugin and runs etl's conformance suite
// against the program, each subtest with a fresh output directory.
func ExampleSink() {
	testConformance := func(t *testing.T) {
		bin := plugintest.Build(t, ".") // the plugin's main package
		plugintest.Sink(t, bin, func(t *testing.T) string {
			return "path: " + t.TempDir()
		}, coretest.SinkOptions{
			Verify: func(t *testing.T, s core.Sink, committed []arrow.RecordBatch) {
				where, _ := s.(core.Locator).Location() // the plugin says where it wrote
				_ = where                               // read it back, compare with committed
			},
		})
	}
	_ = testConformance // func TestConformance(t *testing.T) { ... } in your _test.go file
}

// A source plugin's test needs only its config.
func ExampleSource() {
	testConformance := func(t *testing.T) {
		bin := plugintest.Build(t, ".")
		plugintest.Source(t, bin, "{units: 2, rows: 500}", coretest.SourceOptions{})
	}
	_ = testConformance
}
