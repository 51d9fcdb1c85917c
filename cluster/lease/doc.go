// Package lease holds live units (a device's socket, a time frame's stream) with
// leases in a JetStream key-value bucket, so that across many workers each unit
// runs on exactly one worker at a time, and a dead worker's units move to the
// survivors about a lease TTL after it died (a little more at most: the server
// looks for expired keys every 250 ms at the most often).
//
// Start with CreateBucket and Run: Run claims free units up to a capacity, runs
// each with a context that is cancelled the moment its lease is lost, renews the
// leases, releases them on a clean stop, and keeps taking units whose leases
// expired. With Options.Balance each worker holds only its share (the units
// divided by the workers running), so units spread as workers join and leave.
// Acquire, Renew and Release are the single-lease steps Run is made of.
//
//	kv, err := lease.CreateBucket(ctx, js, lease.BucketConfig{TTL: 15 * time.Second})
//	err = lease.Run(ctx, kv, workerID, units, func(ctx context.Context, unit string) error {
//		return runLive(ctx, unit) // must stop when ctx is done
//	}, lease.Options{Balance: true})
//
// # Expiry
//
// A lease is one key per unit, written with the bucket's TTL (the stream's
// MaxAge): the server itself removes a key nobody rewrote for TTL and leaves a
// marker, which every runner watching the bucket sees at once. Acquire creates
// the key (only if absent or removed); Renew rewrites it expecting the revision
// it holds (compare-and-set), which starts the TTL again; Release deletes it
// expecting that revision. A bucket-wide TTL was chosen over per-message TTLs
// (Nats-TTL) because plain revision-checked KV updates renew it — nats.go's KV
// Update cannot carry a per-message TTL — and over an expiry time written in the
// value because then no worker's wall clock takes part: expiry is decided by the
// server alone, and holders only measure durations on their own monotonic clock.
//
// # Why a unit is never held twice
//
// A holder takes its lease as lost at Deadline: the moment it sent its last
// successful write (Acquire or Renew) plus TTL less a tenth of the TTL. The
// server stored that write after it was sent, so it removes the key no earlier
// than sent + TTL; no other worker can create the key before then. Run cancels a
// unit's context at its Deadline (or at the first renewal refused for a revision
// mismatch), a tenth of a TTL before anyone else can take it. This holds as long
// as the server's clock and the holder's run at the same rate over one TTL, and
// asks of run only that it stop doing the unit's work once its context is done.
//
// A renewal whose reply was lost may have been stored: a refused renewal reads
// the key and keeps the lease if it still carries this lease's token.
//
// Unit names are free text; a KV key allows only [-/_=.a-zA-Z0-9], so the key
// stored is "u." followed by the unit in unpadded URL-safe base64, and the value
// names the unit and the worker in clear (JSON).
package lease
