package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// KVStore is a core.Store on a JetStream key-value bucket. A key's revision is
// the stream sequence of its last write, so revisions only grow and a key
// deleted and written again never reuses one.
//
// Update sends its writes as one JetStream atomic batch (the bucket's stream has
// AllowAtomicPublish), each write carrying the revision it expects
// (Nats-Expected-Last-Subject-Sequence): the server applies all of them or none,
// like the bolt store. A batch holds at most maxBatch writes; a larger Update is
// applied in batches of that size, in order, and stops at the first stale batch
// (the weaker ordered semantic core.Store allows).
type KVStore struct {
	nc      *nats.Conn
	ownConn bool
	kv      jetstream.KeyValue
	stream  jetstream.Stream
	subject string // "$KV.<bucket>."
	timeout time.Duration
}

// maxBatch is the server's default limit of messages in one atomic batch.
const maxBatch = 1000

// KVOptions configure the bucket OpenKVStore creates when it is missing.
type KVOptions struct {
	// Bucket is the KV bucket's name (default "etl").
	Bucket string
	// Replicas is the bucket's replica count (default 1; 3 on a three-node cluster).
	Replicas int
}

// DefaultBucket is the state bucket's name when none is given.
const DefaultBucket = "etl"

// OpenKVStore opens the state bucket on the JetStream of nc, creating it (with
// atomic batch publishing) if it does not exist. The store does not close nc.
func OpenKVStore(ctx context.Context, nc *nats.Conn, opts KVOptions) (*KVStore, error) {
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: state: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      opts.Bucket,
		Description: "etl state: unit positions, commit records, run records",
		Replicas:    max(opts.Replicas, 1),
		Storage:     jetstream.FileStorage,
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: state: bucket %s: %w", opts.Bucket, err)
	}
	stream, err := js.Stream(ctx, "KV_"+opts.Bucket)
	if err != nil {
		return nil, fmt.Errorf("cluster: state: bucket %s: %w", opts.Bucket, err)
	}
	if cfg := stream.CachedInfo().Config; !cfg.AllowAtomicPublish {
		cfg.AllowAtomicPublish = true
		if stream, err = js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("cluster: state: bucket %s: enable atomic batches (needs nats-server 2.12 or later): %w", opts.Bucket, err)
		}
	}
	return &KVStore{nc: nc, kv: kv, stream: stream, subject: "$KV." + opts.Bucket + ".", timeout: 10 * time.Second}, nil
}

// Dial connects to the NATS servers at url (comma-separated nats:// URLs) and
// opens the state bucket; Close closes the connection too.
func Dial(ctx context.Context, url string, opts KVOptions) (*KVStore, error) {
	nc, err := Connect(url)
	if err != nil {
		return nil, err
	}
	s, err := OpenKVStore(ctx, nc, opts)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.ownConn = true
	return s, nil
}

// Connect connects to the NATS servers at url (comma-separated nats:// URLs),
// reconnecting for ever when a server goes away. The error never holds the
// URL's credentials.
func Connect(url string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name("etl"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %s: %w", redact(url), err)
	}
	return nc, nil
}

// redact drops user information from NATS URLs for messages.
func redact(url string) string {
	parts := strings.Split(url, ",")
	for i, p := range parts {
		if at := strings.LastIndexByte(p, '@'); at >= 0 {
			if s := strings.Index(p, "://"); s >= 0 && s < at {
				parts[i] = p[:s+3] + "***@" + p[at+1:]
			} else {
				parts[i] = "***@" + p[at+1:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// Conn returns the store's NATS connection.
func (s *KVStore) Conn() *nats.Conn { return s.nc }

// Get implements core.Store.
func (s *KVStore) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	if key == "" {
		return nil, 0, errors.New("cluster: state: empty key")
	}
	e, err := s.kv.Get(ctx, kvKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: state: get %s: %w", key, err)
	}
	return e.Value(), e.Revision(), nil
}

// Update implements core.Store (see KVStore for atomicity).
func (s *KVStore) Update(ctx context.Context, writes ...core.Write) ([]uint64, error) {
	return s.update(ctx, writes, nil)
}

// fence is a write added to every batch of an Update: the key is rewritten only
// if it is still at rev, and rev is moved to its new revision.
type fence struct {
	key   string
	value []byte
	rev   uint64
}

func (s *KVStore) update(ctx context.Context, writes []core.Write, f *fence) ([]uint64, error) {
	if len(writes) < maxBatch {
		return s.batch(ctx, writes, f)
	}
	revs := make([]uint64, 0, len(writes))
	for start := 0; start < len(writes); start += maxBatch - 1 {
		got, err := s.batch(ctx, writes[start:min(start+maxBatch-1, len(writes))], f)
		if err != nil {
			return nil, err
		}
		revs = append(revs, got...)
	}
	return revs, nil
}

// batch applies up to maxBatch writes (plus the fence) as one atomic batch.
func (s *KVStore) batch(ctx context.Context, writes []core.Write, f *fence) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	all := writes
	if len(all) == 0 && f == nil {
		return []uint64{}, nil
	}
	if f != nil {
		all = append(slices.Clip(writes), core.Write{Key: f.key, Value: f.value, Rev: f.rev})
	}
	msgs := make([]*nats.Msg, len(all))
	for i, w := range all {
		if w.Key == "" {
			return nil, errors.New("cluster: state: empty key")
		}
		m := nats.NewMsg(s.subject + kvKey(w.Key))
		expect := w.Rev
		if expect == 0 {
			// "Must not exist": a deleted key still has its delete marker
			// as the subject's last message, so expect that.
			marker, err := s.absentRev(ctx, w.Key)
			if err != nil {
				return nil, err
			}
			expect = marker
		}
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
		if w.Value == nil {
			m.Header.Set("KV-Operation", "DEL")
		} else {
			m.Data = w.Value
		}
		msgs[i] = m
	}
	last, err := s.publishBatch(ctx, msgs)
	if err != nil {
		return nil, s.staleOr(err, all)
	}
	revs := make([]uint64, len(writes))
	first := last - uint64(len(all)) + 1
	for i, w := range writes {
		if w.Value != nil {
			revs[i] = first + uint64(i)
		}
	}
	if f != nil {
		f.rev = last
	}
	return revs, nil
}

// absentRev returns the revision a write expecting key to be absent must name:
// 0 if the key was never written, its delete marker's sequence if it was
// deleted, and ErrStale if it exists.
func (s *KVStore) absentRev(ctx context.Context, key string) (uint64, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, s.subject+kvKey(key))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("cluster: state: get %s: %w", key, err)
	}
	switch m.Header.Get("KV-Operation") {
	case "DEL", "PURGE":
		return m.Sequence, nil
	}
	return 0, fmt.Errorf("cluster: state: %w: %s exists (revision %d), the write expected it absent", core.ErrStale, key, m.Sequence)
}

// staleOr turns the server's wrong-last-sequence answer into core.ErrStale.
func (s *KVStore) staleOr(err error, writes []core.Write) error {
	var api *jetstream.APIError
	if errors.As(err, &api) && (api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		keys := make([]string, len(writes))
		for i, w := range writes {
			keys[i] = w.Key
		}
		return fmt.Errorf("cluster: state: %w: one of %s was written since it was read (%s)", core.ErrStale, strings.Join(keys, ", "), api.Description)
	}
	return fmt.Errorf("cluster: state: %w", err)
}

// pubAck is the server's answer to a batch commit.
type pubAck struct {
	Seq   uint64              `json:"seq"`
	Count int                 `json:"count"`
	Error *jetstream.APIError `json:"error"`
}

// publishBatch sends msgs as one atomic batch (Nats-Batch-Id/-Sequence, the last
// with Nats-Batch-Commit) and returns the stream sequence of the last message.
// The messages before the commit are plain publishes on the same connection, so
// the server sees them in order before the commit request.
func (s *KVStore) publishBatch(ctx context.Context, msgs []*nats.Msg) (uint64, error) {
	id := nuid.Next()
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(msgs)-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return 0, err
			}
		}
	}
	commit := msgs[len(msgs)-1]
	commit.Header.Set("Nats-Batch-Commit", "1")
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	resp, err := s.nc.RequestMsgWithContext(ctx, commit)
	if err != nil {
		return 0, err
	}
	var ack pubAck
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return 0, fmt.Errorf("batch commit: bad answer %q: %w", resp.Data, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Count != len(msgs) {
		return 0, fmt.Errorf("batch commit: server stored %d of %d writes", ack.Count, len(msgs))
	}
	return ack.Seq, nil
}

// List implements core.Store.
func (s *KVStore) List(ctx context.Context, prefix string) ([]core.Entry, error) {
	w, err := s.kv.WatchFiltered(ctx, []string{prefixFilter(prefix)}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("cluster: state: list %s: %w", prefix, err)
	}
	defer w.Stop()
	var out []core.Entry
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				slices.SortFunc(out, func(a, b core.Entry) int { return strings.Compare(a.Key, b.Key) })
				return out, nil
			}
			k, err := storeKey(e.Key())
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(k, prefix) {
				out = append(out, core.Entry{Key: k, Value: e.Value(), Rev: e.Revision()})
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close implements core.Store; it closes the connection if Dial made it.
func (s *KVStore) Close() error {
	if s.ownConn {
		s.nc.Close()
	}
	return nil
}

// Claim writes value at key whatever its revision and returns the new revision:
// the key's earlier holders, fenced on an older revision (Fenced), can no longer
// write. A worker claims a unit this way when it starts running it.
func (s *KVStore) Claim(ctx context.Context, key string, value []byte) (uint64, error) {
	if key == "" {
		return 0, errors.New("cluster: state: empty key")
	}
	rev, err := s.kv.Put(ctx, kvKey(key), value)
	if err != nil {
		return 0, fmt.Errorf("cluster: state: claim %s: %w", key, err)
	}
	return rev, nil
}

// Fenced returns a view of the store whose every Update also rewrites key (with
// value) in the same atomic batch, expecting it at rev, and moves rev on. Once
// somebody else writes key (a Claim by the worker a unit was redelivered to),
// every further Update of the view fails with core.ErrStale and writes nothing:
// the runner's commit record is refused before any sink makes its files visible.
// Get and List read the store; Close does not close it.
func (s *KVStore) Fenced(key string, value []byte, rev uint64) core.Store {
	return &fencedStore{s: s, f: fence{key: key, value: value, rev: rev}}
}

type fencedStore struct {
	s  *KVStore
	mu sync.Mutex
	f  fence
}

func (v *fencedStore) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	return v.s.Get(ctx, key)
}

func (v *fencedStore) List(ctx context.Context, prefix string) ([]core.Entry, error) {
	return v.s.List(ctx, prefix)
}

func (v *fencedStore) Update(ctx context.Context, writes ...core.Write) ([]uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.s.update(ctx, writes, &v.f)
}

func (v *fencedStore) Close() error { return nil }
