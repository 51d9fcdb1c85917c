// Package cluster runs pipelines across many machines on NATS JetStream: the
// state store on a key-value bucket (KVStore), the dispatch of units through a
// work-queue stream (Dispatcher) and the workers that run them (Worker).
//
// Start with KVStore: a core.Store whose revisions are JetStream stream sequences,
// every write checked by the server against the revision it names. Claim and
// Fenced make a unit's run refusable: a worker claims the unit it starts and runs
// it with a fenced view of the store; once the unit is redelivered to (and
// claimed by) another worker, the first one's commit fails with core.ErrStale
// before any file of it becomes visible. Then Queue (queue.go: the stream, its
// subjects and the delivery settings), Dispatcher and Worker: Serve runs queued
// units, ServeLive holds live units with the leases of cluster/lease. OpenStore
// picks a pipeline's store: bbolt file or KV bucket. docs/cluster.md describes
// the deployment and the guarantees.
//
// Replication, consensus and delivery are JetStream's; nothing here is
// home-made clustering. Tests run the server in-process (cluster/natstest).
package cluster
