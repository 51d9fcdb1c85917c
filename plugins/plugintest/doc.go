// Package plugintest tests external plugins as etl runs them: it builds a
// plugin's main package with `go build`, starts the executable through the
// same opener a pipeline uses (go-plugin handshake, AutoMTLS, config section
// sent as YAML) and runs core/coretest's conformance suite against the
// component it serves, so a plugin author checks the contracts etl relies on
// (two-phase commit, resume from a position, cancellation, release of memory)
// against the real program.
//
// A sink plugin's test:
//
//	func TestConformance(t *testing.T) {
//		bin := plugintest.Build(t, ".")
//		dirs := map[*testing.T]string{}
//		plugintest.Sink(t, bin, func(t *testing.T) string {
//			dirs[t] = t.TempDir()
//			return "path: " + dirs[t]
//		}, coretest.SinkOptions{
//			Verify: func(t *testing.T, _ core.Sink, committed []arrow.RecordBatch) {
//				// read dirs[t] back and compare with committed
//			},
//		})
//	}
package plugintest
