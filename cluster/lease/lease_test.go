package lease_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/cluster/lease"
	"github.com/etl-toolkit/etl/cluster/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const ttl = time.Second

// connect connects to the NATS server at addr as a worker of its own and
// returns its lease bucket (TTL 1s) and connection.
func connect(t testing.TB, addr string) (jetstream.KeyValue, *nats.Conn) {
	t.Helper()
	nc, js := natstest.Connect(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := lease.CreateBucket(ctx, js, lease.BucketConfig{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return kv, nc
}

// benchBucket starts a NATS server and returns a lease bucket on it.
func benchBucket(b *testing.B) jetstream.KeyValue {
	kv, _ := connect(b, natstest.Start(b))
	return kv
}

func hostPort(t *testing.T, natsURL string) string {
	t.Helper()
	u, err := url.Parse(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// twoWorkers starts a NATS server and returns the lease bucket as two workers
// (two connections) see it.
func twoWorkers(t *testing.T) (kv1, kv2 jetstream.KeyValue) {
	addr := natstest.Start(t)
	kv1, _ = connect(t, addr)
	kv2, _ = connect(t, addr)
	return kv1, kv2
}

// unit is a name with the characters real unit names have.
const unit = "asi/device:7f.3 (lab)"

func TestAcquireRenewRelease(t *testing.T) {
	kv1, kv2 := twoWorkers(t)
	ctx := context.Background()

	l1, err := lease.Acquire(ctx, kv1, unit, "w1")
	if err != nil {
		t.Fatalf("acquire a free unit: %v", err)
	}
	if _, err := lease.Acquire(ctx, kv2, unit, "w2"); !errors.Is(err, lease.ErrHeld) {
		t.Fatalf("acquire a held unit: got %v, want ErrHeld", err)
	}
	before := l1.Deadline()
	time.Sleep(50 * time.Millisecond)
	if err := l1.Renew(ctx); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if !l1.Deadline().After(before) {
		t.Errorf("renew did not move the deadline: %v, was %v", l1.Deadline(), before)
	}
	e, err := kv2.Get(ctx, lease.Key(unit))
	if err != nil {
		t.Fatal(err)
	}
	if got := string(e.Value()); !strings.Contains(got, `"unit":"`+unit+`"`) || !strings.Contains(got, `"worker":"w1"`) {
		t.Errorf("lease value %s, want the unit and worker in clear", got)
	}
	if err := l1.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	l2, err := lease.Acquire(ctx, kv2, unit, "w2")
	if err != nil {
		t.Fatalf("acquire a released unit: %v", err)
	}
	if err := l1.Renew(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("renew a released lease: got %v, want ErrLost", err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A lease taken over (here: deleted behind its back and acquired by another)
// is lost at its next renewal, before its deadline.
func TestRenewRefusedWhenTaken(t *testing.T) {
	kv1, kv2 := twoWorkers(t)
	ctx := context.Background()
	l1, err := lease.Acquire(ctx, kv1, unit, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv2.Delete(ctx, lease.Key(unit)); err != nil {
		t.Fatal(err)
	}
	if _, err := lease.Acquire(ctx, kv2, unit, "w2"); err != nil {
		t.Fatal(err)
	}
	err = l1.Renew(ctx)
	if !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), `taken by worker "w2"`) {
		t.Fatalf("renew a lease taken by w2: got %v, want ErrLost naming w2", err)
	}
}

// A renewal stored whose reply was lost (here: the same value written again)
// leaves the lease held: the next renewal adopts the new revision.
func TestRenewAdoptsItsOwnLostWrite(t *testing.T) {
	addr := natstest.Start(t)
	kv, _ := connect(t, addr)
	ctx := context.Background()
	l, err := lease.Acquire(ctx, kv, unit, "w1")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, lease.Key(unit))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Update(ctx, lease.Key(unit), e.Value(), e.Revision()); err != nil {
		t.Fatal(err)
	}
	if err := l.Renew(ctx); err != nil {
		t.Fatalf("renew after its own write: %v, want it kept", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release after adopting: %v", err)
	}
}

// A lease not renewed is lost at its deadline and taken by another only after
// the TTL, counted from before it was acquired.
func TestLeaseExpires(t *testing.T) {
	kv1, kv2 := twoWorkers(t)
	ctx := context.Background()
	sent := time.Now()
	l1, err := lease.Acquire(ctx, kv1, unit, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if d := l1.Deadline().Sub(sent); d <= 0 || d > ttl {
		t.Errorf("deadline %v after acquiring, want within the TTL %v", d, ttl)
	}
	var taken time.Time
	for {
		_, err := lease.Acquire(ctx, kv2, unit, "w2")
		if err == nil {
			taken = time.Now()
			break
		}
		if !errors.Is(err, lease.ErrHeld) {
			t.Fatal(err)
		}
		if time.Since(sent) > 5*ttl {
			t.Fatalf("lease not expired %v after acquiring (TTL %v)", time.Since(sent), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := taken.Sub(sent); got < ttl {
		t.Errorf("taken by another %v after acquiring, want no sooner than the TTL %v", got, ttl)
	}
	if !taken.After(l1.Deadline()) {
		t.Errorf("taken by another at %v, before the holder's deadline %v", taken, l1.Deadline())
	}
	t.Logf("expired lease taken %v after it was acquired (TTL %v)", taken.Sub(sent), ttl)
	if err := l1.Renew(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("renew after the deadline: got %v, want ErrLost", err)
	}
}

func TestCreateBucketRefusesAnotherTTL(t *testing.T) {
	addr := natstest.Start(t)
	_, nc := connect(t, addr)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lease.CreateBucket(context.Background(), js, lease.BucketConfig{TTL: 2 * ttl})
	if err == nil || !strings.Contains(err.Error(), "exists with TTL 1s, want 2s") {
		t.Fatalf("bucket with another TTL: got %v, want an error naming both TTLs", err)
	}
	if _, err := lease.CreateBucket(context.Background(), js, lease.BucketConfig{TTL: ttl, Replicas: 1}); err != nil {
		t.Fatalf("bucket again with the same TTL: %v", err)
	}
}
