package ratelimit

// The shared token bucket is written here rather than taken from a library:
// golang.org/x/time/rate (which core.LocalLimiters uses) keeps its bucket in
// process memory, and no maintained library keeps one in a JetStream KV key.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/nats-io/nats.go/jetstream"
)

// Options tune the shared limiters. The zero value is the default.
type Options struct {
	// Chunk is how many seconds' worth of the rate a worker takes per KV update
	// (default 100 ms: 5 tokens at 50/s; at least 1 token, at most the burst).
	Chunk time.Duration
	// Hold is how long a token taken may wait for a request once due before it is
	// dropped (default 100 ms). It is part of the bound in the package doc.
	Hold time.Duration
}

const (
	defaultChunk = 100 * time.Millisecond
	defaultHold  = 100 * time.Millisecond
)

// New returns the Limiters of budgets kept in kv (a bucket made by CreateBucket
// or one like it). Each call of the returned function makes a limiter of its own
// (safe for concurrent use) that draws from the budget named by key, shared with
// every other limiter of that key on any worker. perSecond <= 0 means no limit.
func New(kv jetstream.KeyValue, opts Options) core.Limiters {
	if opts.Chunk <= 0 {
		opts.Chunk = defaultChunk
	}
	if opts.Hold <= 0 {
		opts.Hold = defaultHold
	}
	return func(key string, perSecond float64, burst int) core.Limiter {
		if perSecond <= 0 {
			return core.LocalLimiters(key, 0, 0)
		}
		if burst <= 0 {
			burst = max(1, int(math.Ceil(perSecond)))
		}
		chunk := int(math.Round(perSecond * opts.Chunk.Seconds()))
		return &limiter{
			kv:     kv,
			budget: key,
			kvKey:  KVKey(key),
			rate:   perSecond,
			burst:  float64(burst),
			chunk:  min(max(chunk, 1), burst),
			hold:   opts.Hold,
		}
	}
}

// KVKey returns the KV key that holds the budget named key.
func KVKey(key string) string {
	return "rl." + base64.RawURLEncoding.EncodeToString([]byte(key))
}

// state is the value of a budget's key.
type state struct {
	Budget string  `json:"budget"`
	Rate   float64 `json:"rate"`
	Burst  float64 `json:"burst"`
	Tokens float64 `json:"tokens"` // after the last take; below zero while reserved ahead
	At     int64   `json:"at"`     // the bucket's clock at the last take, Unix ns
}

type limiter struct {
	kv     jetstream.KeyValue
	budget string
	kvKey  string
	rate   float64
	burst  float64
	chunk  int
	hold   time.Duration

	mu    sync.Mutex
	ch    chunk       // the chunk being handed out
	back  []time.Time // tokens given back by cancelled Waits, by due time (ascending)
	cur   state       // the key's value as last read or written
	rev   uint64      // its revision; 0 with known false: read before writing
	known bool
}

// chunk is a chunk of tokens taken, described rather than listed (a chunk may
// hold thousands): token j (1-based) is due at base + max(0, j−avail)/rate.
type chunk struct {
	base    time.Time
	avail   float64 // tokens in the bucket when the chunk was taken
	next, n int     // the next token to hand out, and the chunk's size
}

func (l *limiter) due(j int) time.Time {
	if w := float64(j) - l.ch.avail; w > 0 {
		return l.ch.base.Add(time.Duration(w / l.rate * 1e9))
	}
	return l.ch.base
}

// pop hands out the earliest token not dropped as stale (due more than Hold
// before now); false when there is none. l.mu is held.
func (l *limiter) pop(now time.Time) (time.Time, bool) {
	cutoff := now.Add(-l.hold)
	for len(l.back) > 0 && l.back[0].Before(cutoff) {
		l.back = l.back[1:]
	}
	if x := cutoff.Sub(l.ch.base); x > 0 {
		// Tokens j < avail + rate·x are due before cutoff.
		l.ch.next = max(l.ch.next, int(math.Ceil(l.ch.avail+l.rate*x.Seconds())))
	}
	inChunk := l.ch.next <= l.ch.n
	if len(l.back) > 0 && (!inChunk || !l.due(l.ch.next).Before(l.back[0])) {
		t := l.back[0]
		l.back = l.back[1:]
		return t, true
	}
	if inChunk {
		t := l.due(l.ch.next)
		l.ch.next++
		return t, true
	}
	return time.Time{}, false
}

// Wait blocks until a request may be sent, or ctx ends (its error), or the
// budget's key cannot be read or written (that error).
func (l *limiter) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		if t, ok := l.pop(now); ok {
			l.mu.Unlock()
			if d := t.Sub(now); d > 0 {
				if err := core.SleepReporting(ctx, d, "waiting: shared request rate limit"); err != nil {
					l.giveBack(t)
					return err
				}
			}
			return nil
		}
		err := l.take(ctx)
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// giveBack keeps an unused token (its Wait was cancelled) for the next Wait.
func (l *limiter) giveBack(t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, _ := slices.BinarySearchFunc(l.back, t, time.Time.Compare)
	l.back = slices.Insert(l.back, i, t)
}

// take reserves one chunk of tokens from the shared bucket as l.ch. l.mu is held.
func (l *limiter) take(ctx context.Context) error {
	for {
		if !l.known {
			if err := l.read(ctx); err != nil {
				return err
			}
		}
		now := time.Now()
		wall := now.UnixNano()
		at := max(l.cur.At, wall)
		tokens := math.Min(l.burst, l.cur.Tokens+l.rate*float64(at-l.cur.At)/1e9)
		next := state{Budget: l.budget, Rate: l.rate, Burst: l.burst, Tokens: tokens - float64(l.chunk), At: at}
		val, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("ratelimit: budget %q: %w", l.budget, err)
		}
		rev, err := l.kv.Update(ctx, l.kvKey, val, l.rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			l.known = false // another worker took tokens first: read again
			continue
		}
		if err != nil {
			l.known = false
			return fmt.Errorf("ratelimit: budget %q: take tokens: %w", l.budget, err)
		}
		l.cur, l.rev = next, rev
		// The bucket's clock may be ahead of ours (another worker's clock): the
		// tokens are due by the bucket's clock, so wait for it too.
		l.ch = chunk{base: now.Add(time.Duration(at - wall)), avail: tokens, next: 1, n: l.chunk}
		return nil
	}
}

// read loads the budget's key; a missing key is a full bucket never taken from.
func (l *limiter) read(ctx context.Context) error {
	e, err := l.kv.Get(ctx, l.kvKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		l.cur = state{Tokens: l.burst, At: time.Now().UnixNano()}
		l.rev = 0
	case err != nil:
		return fmt.Errorf("ratelimit: budget %q: read: %w", l.budget, err)
	default:
		var s state
		if err := json.Unmarshal(e.Value(), &s); err != nil {
			return fmt.Errorf("ratelimit: budget %q: key %s revision %d: %w", l.budget, l.kvKey, e.Revision(), err)
		}
		l.cur, l.rev = s, e.Revision()
	}
	l.known = true
	return nil
}

// BucketConfig configures the bucket CreateBucket makes.
type BucketConfig struct {
	// Name is the bucket's name (default DefaultBucket).
	Name string
	// Replicas is its replica count (default 1; 3 on a three-node cluster).
	Replicas int
	// Idle is how long a budget nobody takes from stays stored (default 1 h). It
	// must be longer than any budget's burst/rate: a budget forgotten starts full.
	Idle time.Duration
}

// DefaultBucket is the budgets' bucket name when none is given.
const DefaultBucket = "etl-ratelimit"

// CreateBucket creates (or updates) the bucket that holds the budgets.
func CreateBucket(ctx context.Context, js jetstream.JetStream, cfg BucketConfig) (jetstream.KeyValue, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultBucket
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Hour
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Name,
		Description: "etl: API request budgets shared by workers",
		History:     1,
		TTL:         cfg.Idle,
		Replicas:    max(cfg.Replicas, 1),
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("ratelimit: bucket %s: %w", cfg.Name, err)
	}
	return kv, nil
}
