// Package ratelimit shares one API request budget among all the workers of a
// scale-out run, through a JetStream key-value bucket, so that ten workers of one
// API client do not send ten times the requests the API allows.
//
// Start with New: it returns a core.Limiters to give core.Build with
// core.WithLimiters; every source then paces its requests through the shared
// budget named by its key (API host and client id).
//
//	kv, err := ratelimit.CreateBucket(ctx, js, ratelimit.BucketConfig{})
//	plan, err := core.Build(ctx, pipeline, logger, core.WithLimiters(ratelimit.New(kv, ratelimit.Options{})))
//
// # Design
//
// A budget of R requests per second with burst B is one token bucket kept in one
// KV key: {tokens, at}, at being the bucket's own clock (Unix nanoseconds). A
// worker takes tokens a chunk at a time (R·Options.Chunk tokens, 5 at 50/s with
// the default 100 ms) with one revision-checked update (compare-and-set on the
// key's revision): it refills the bucket by R·(now−at), capped at B, subtracts the
// chunk, and writes {tokens−chunk, max(at, now)} expecting the revision it read.
// A conflicting update (another worker got there first) reads the key again and
// retries. A worker keeps the value it wrote, so it makes one KV round trip per
// chunk, not per request (three when another worker wrote in between: the
// refused update, a read, the update again).
//
// The bucket may go below zero: a chunk is a reservation, as with
// golang.org/x/time/rate's Reserve. Token j of a chunk taken when the bucket held b
// tokens becomes usable (j−b)/R seconds after the take (at once when j ≤ b); the
// worker hands its tokens to Wait callers in that order and sleeps until each is
// due. Tokens are never made by a worker, only taken from the shared key, so a
// worker that dies holding a chunk only wastes that chunk (its debt refills in
// chunk/R seconds) and nothing is leaked. A token unused Options.Hold after it
// became due is dropped, so a worker that was idle cannot add stale tokens to
// another worker's burst.
//
// # Bound
//
// The bucket's clock at only moves forward and every token taken is paid for by
// R times the advance of at, so over any interval of length t all workers together
// pass Wait at most
//
//	B + R·(t + Hold + 2s)
//
// times, s being the largest difference between the workers' wall clocks (a
// worker whose clock is ahead refills the bucket early by at most R·s, once; a
// worker whose clock is behind waits for the bucket's clock). With NTP-synced
// hosts s is milliseconds, so the excess is B + R·Hold (5 tokens at 50/s with the
// default Hold of 100 ms). Below the limit, a worker that waits gives up at most
// one unused chunk when it stops, and contention costs a re-read per conflict.
//
// Each worker refills at the rate and burst its own configuration gives (the
// value records them for people reading it): give every worker the same.
//
// A KV error (the NATS connection is down) fails Wait with that error: a request
// is never sent without a token.
//
// Budget keys are free text (e.g. "api.azumio.com client 1f2e"); a KV key allows
// only [-/_=.a-zA-Z0-9], so the key stored is "rl." followed by the budget key in
// unpadded URL-safe base64, and the value repeats the budget key in clear.
package ratelimit
