package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

var boltBucket = []byte("state")

// BoltStore is the embedded Store: one bbolt file, one writer process at a time.
// Revisions come from the bucket's sequence, so they only grow: a key deleted and
// written again never reuses a revision another writer may still hold.
type BoltStore struct {
	db *bolt.DB
}

// OpenBoltStore opens (creating if needed) the state file at path. A second
// process opening the same file waits up to 2 s and then fails with an error that
// says the state is in use, rather than hanging.
func OpenBoltStore(path string) (*BoltStore, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("core: state: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("core: state %s is in use by another etl process", path)
		}
		return nil, fmt.Errorf("core: state: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("core: state: %s: %w", path, err)
	}
	return &BoltStore{db: db}, nil
}

// Values are stored as 8 bytes of revision followed by the value.
func decodeBolt(raw []byte) ([]byte, uint64) {
	if len(raw) < 8 {
		return nil, 0
	}
	return append([]byte(nil), raw[8:]...), binary.BigEndian.Uint64(raw[:8])
}

// Get implements Store.
func (s *BoltStore) Get(ctx context.Context, key string) (value []byte, rev uint64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		value, rev = decodeBolt(tx.Bucket(boltBucket).Get([]byte(key)))
		return nil
	})
	return value, rev, err
}

// Update implements Store; the writes are applied atomically in one transaction.
func (s *BoltStore) Update(ctx context.Context, writes ...Write) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	revs := make([]uint64, len(writes))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for i, w := range writes {
			_, cur := decodeBolt(b.Get([]byte(w.Key)))
			if cur != w.Rev {
				return fmt.Errorf("%w: %s is at revision %d, the write expected %d", ErrStale, w.Key, cur, w.Rev)
			}
			if w.Value == nil {
				if err := b.Delete([]byte(w.Key)); err != nil {
					return err
				}
				continue
			}
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			buf := make([]byte, 8+len(w.Value))
			binary.BigEndian.PutUint64(buf, seq)
			copy(buf[8:], w.Value)
			if err := b.Put([]byte(w.Key), buf); err != nil {
				return err
			}
			revs[i] = seq
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("core: state: %w", err)
	}
	return revs, nil
}

// List implements Store.
func (s *BoltStore) List(ctx context.Context, prefix string) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		p := []byte(prefix)
		for k, v := c.Seek(p); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
			val, rev := decodeBolt(v)
			out = append(out, Entry{Key: string(k), Value: val, Rev: rev})
		}
		return nil
	})
	return out, err
}

// Close implements Store.
func (s *BoltStore) Close() error { return s.db.Close() }
