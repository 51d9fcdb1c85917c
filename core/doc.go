// Package core is the engine of the toolkit: the batch type that moves data, the
// Source, Transform and Sink interfaces every component implements, the registry that
// names them, pipeline files, the runner with its commit protocol, the state store,
// dead letters and the built-in pure transforms.
//
// core knows nothing of Azumio, ASI, Parquet or gRPC; those live in sources/, sinks/
// and plugins/ and register themselves here from init(), like database/sql drivers.
//
// Where to start reading:
//   - batch.go: Batch and Position, the unit of data flow.
//   - source.go, transform.go, sink.go: the three interfaces and their contracts.
//   - registry.go: RegisterSource/RegisterTransform/RegisterSink and Factory.
//   - pipeline.go, load.go, config.go: pipeline files and component configs, decoded
//     strictly with every problem reported at once as file:line:col.
//   - schema.go: the JSON Schema of pipeline files and the option lists of plugins.
//   - build.go: building a pipeline's components from the registry into a Plan.
//   - runner.go: how batches flow and when positions are saved (the commit protocol).
//   - state.go: the revision-checked state store (bbolt by default).
package core
