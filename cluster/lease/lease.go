package lease

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

var (
	// ErrHeld is returned by Acquire when another lease holds the unit.
	ErrHeld = errors.New("lease: unit held by another lease")
	// ErrLost is returned by Renew (and is the cause of a run's cancelled
	// context) when the lease is no longer held: its TTL passed without a
	// successful renewal, or another lease took the unit.
	ErrLost = errors.New("lease: lost")
)

// BucketConfig configures the bucket CreateBucket makes.
type BucketConfig struct {
	// Name is the bucket's name (default DefaultBucket).
	Name string
	// TTL is how long a lease lives without a renewal (default DefaultTTL): the
	// longest a dead worker's units wait before moving, and the least time a
	// worker cut off from NATS keeps running them. At least one second.
	TTL time.Duration
	// Replicas is its replica count (default 1; 3 on a three-node cluster).
	Replicas int
}

const (
	// DefaultBucket is the leases' bucket name when none is given.
	DefaultBucket = "etl-leases"
	// DefaultTTL is the lease TTL when none is given.
	DefaultTTL = 15 * time.Second
)

// CreateBucket creates the lease bucket, or opens it if it exists with the same
// configuration. A bucket's TTL cannot be changed under running workers: an
// existing bucket with another TTL is an error (delete it while no worker runs).
func CreateBucket(ctx context.Context, js jetstream.JetStream, cfg BucketConfig) (jetstream.KeyValue, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultBucket
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("lease: bucket %s: TTL %v, want at least 1s", cfg.Name, cfg.TTL)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         cfg.Name,
		Description:    "etl: leases on live units",
		History:        1,
		TTL:            cfg.TTL,
		LimitMarkerTTL: cfg.TTL,
		Replicas:       max(cfg.Replicas, 1),
		Storage:        jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		// It exists with another configuration: fine unless the TTL differs.
		if kv, err = js.KeyValue(ctx, cfg.Name); err != nil {
			return nil, fmt.Errorf("lease: bucket %s: %w", cfg.Name, err)
		}
		ttl, err := bucketTTL(ctx, kv)
		if err != nil {
			return nil, err
		}
		if ttl != cfg.TTL {
			return nil, fmt.Errorf("lease: bucket %s exists with TTL %v, want %v (delete it while no worker runs to change it)", cfg.Name, ttl, cfg.TTL)
		}
		return kv, nil
	}
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		return nil, fmt.Errorf("lease: bucket %s: expiry markers need nats-server 2.11 or later: %w", cfg.Name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: %w", cfg.Name, err)
	}
	return kv, nil
}

// bucketTTL reads the lease TTL of kv.
func bucketTTL(ctx context.Context, kv jetstream.KeyValue) (time.Duration, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("lease: bucket %s: %w", kv.Bucket(), err)
	}
	if st.TTL() <= 0 {
		return 0, fmt.Errorf("lease: bucket %s has no TTL, want one (make it with lease.CreateBucket)", kv.Bucket())
	}
	return st.TTL(), nil
}

// Key returns the KV key of unit's lease.
func Key(unit string) string {
	return "u." + base64.RawURLEncoding.EncodeToString([]byte(unit))
}

// Lease is one worker's hold on one unit. Its methods are safe for concurrent use.
type Lease struct {
	kv     jetstream.KeyValue
	unit   string
	key    string
	val    []byte
	token  string
	ttl    time.Duration
	mu     sync.Mutex
	rev    uint64
	expiry time.Time
}

// value is a lease key's value.
type value struct {
	Unit   string `json:"unit"`
	Worker string `json:"worker"`
	Token  string `json:"token"` // this lease's own, unique
}

// Acquire takes the lease on unit for worker, or fails with ErrHeld when another
// lease holds it. The TTL is the bucket's.
func Acquire(ctx context.Context, kv jetstream.KeyValue, unit, worker string) (*Lease, error) {
	ttl, err := bucketTTL(ctx, kv)
	if err != nil {
		return nil, err
	}
	return acquire(ctx, kv, ttl, unit, worker)
}

func acquire(ctx context.Context, kv jetstream.KeyValue, ttl time.Duration, unit, worker string) (*Lease, error) {
	if unit == "" {
		return nil, errors.New("lease: empty unit name")
	}
	token := nuid.Next()
	val, err := json.Marshal(value{Unit: unit, Worker: worker, Token: token})
	if err != nil {
		return nil, fmt.Errorf("lease: unit %q: %w", unit, err)
	}
	l := &Lease{kv: kv, unit: unit, key: Key(unit), val: val, token: token, ttl: ttl}
	sent := time.Now()
	rev, err := kv.Create(ctx, l.key, val)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("%w: unit %q", ErrHeld, unit)
	}
	if err != nil {
		return nil, fmt.Errorf("lease: unit %q: acquire: %w", unit, err)
	}
	l.rev, l.expiry = rev, l.deadlineFrom(sent)
	return l, nil
}

// deadlineFrom is the deadline of a write sent at sent: TTL less a tenth of it
// for the holder's timers to fire late.
func (l *Lease) deadlineFrom(sent time.Time) time.Time {
	return sent.Add(l.ttl - l.ttl/10)
}

// Unit returns the leased unit's name.
func (l *Lease) Unit() string { return l.unit }

// Deadline returns the time (on this process's monotonic clock) from which the
// lease must be taken as lost unless renewed before.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expiry
}

// Renew extends the lease by its TTL from now. It fails with ErrLost when the
// deadline has passed or another lease took the unit; with another error (the
// connection) the lease may still be held until Deadline and Renew may be tried
// again.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for adopted := false; ; adopted = true {
		sent := time.Now()
		if !sent.Before(l.expiry) {
			return fmt.Errorf("%w: unit %q: not renewed within its TTL", ErrLost, l.unit)
		}
		rev, err := l.kv.Update(ctx, l.key, l.val, l.rev)
		if err == nil {
			l.rev, l.expiry = rev, l.deadlineFrom(sent)
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("lease: unit %q: renew: %w", l.unit, err)
		}
		// Refused: a renewal whose reply was lost may have been stored. The
		// key still holding this lease's token means nobody took the unit since.
		if adopted {
			return fmt.Errorf("%w: unit %q: revision changed twice", ErrLost, l.unit)
		}
		e, err := l.kv.Get(ctx, l.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return fmt.Errorf("%w: unit %q: lease expired", ErrLost, l.unit)
		}
		if err != nil {
			return fmt.Errorf("lease: unit %q: renew: %w", l.unit, err)
		}
		var v value
		if json.Unmarshal(e.Value(), &v) != nil || v.Token != l.token {
			return fmt.Errorf("%w: unit %q: taken by worker %q", ErrLost, l.unit, v.Worker)
		}
		l.rev = e.Revision()
	}
}

// Release gives the lease up (deletes its key if it still holds it), so another
// worker may take the unit at once. The caller must have stopped the unit's work.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		return fmt.Errorf("lease: unit %q: release: %w", l.unit, err)
	}
	l.expiry = time.Time{}
	return nil
}
