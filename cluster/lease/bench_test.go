package lease_test

import (
	"context"
	"testing"

	"github.com/etl-toolkit/etl/cluster/lease"
)

// BenchmarkRenew measures one renewal (one revision-checked KV update). A
// worker holding N units makes 3N of them per TTL.
func BenchmarkRenew(b *testing.B) {
	kv := benchBucket(b)
	ctx := context.Background()
	l, err := lease.Acquire(ctx, kv, unit, "w1")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := l.Renew(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAcquireRelease measures taking a free unit's lease and giving it
// back: what moving a unit between workers costs in KV calls.
func BenchmarkAcquireRelease(b *testing.B) {
	kv := benchBucket(b)
	ctx := context.Background()
	for b.Loop() {
		l, err := lease.Acquire(ctx, kv, unit, "w1")
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Release(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
