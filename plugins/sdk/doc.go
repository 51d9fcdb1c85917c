// Package sdk is for writing etl plugins: programs of your own that etl runs
// as a source, transform or sink of a pipeline, without changing etl.
//
// A plugin implements the same interfaces as etl's built-in components
// (core.Source, core.Transform, core.Sink) and is built by the same kind of
// factory (core.Factory, whose New decodes the component's config section
// with core.Config.Decode), then serves it from main:
//
//	func main() {
//		sdk.ServeSink("my-sink", core.Factory[core.Sink]{
//			Doc:     "writes rows to my warehouse",
//			Options: Config{},
//			New:     newSink,
//		})
//	}
//
// A pipeline then names the built program:
//
//	sinks:
//	  - plugin: external:./bin/my-sink
//	    config: { table: events }
//
// etl starts one process per component, talks to it over gRPC through
// hashicorp/go-plugin (mutual TLS set up for each start), sends it its config
// section, and from then on treats it like a built-in: batches travel as Arrow
// IPC (a sink borrows each during Write: the SDK reuses their memory), a
// source's core.ReportStatus reaches etl's progress, errors keep their kind
// (return core.Transient for a retry), config problems are reported at their
// line in the pipeline file, rows given to env.DeadLetters reach the
// pipeline's dead-letter file, and what is logged through env.Logger appears
// in etl's logs under the plugin's name.
//
// plugins/plugintest runs etl's conformance suite (core/coretest) against a
// built plugin; plugins/README.md is the guide: write, build, checksum, test,
// ship. plugins/examples/jsonl is a complete plugin.
package sdk
