package core

import (
	"context"
	"errors"
)

// ErrStale is returned by a Store write that names a revision other than the
// current one: somebody else wrote the key since it was read. A unit run twice by
// mistake can therefore never move a cursor backwards or commit twice.
var ErrStale = errors.New("core: stale revision")

// Store keeps positions, commit records and run summaries. Every write names the
// revision it read (0: the key must not exist) and fails with ErrStale otherwise.
// The local implementation is a bbolt file (OpenBoltStore); a distributed one can
// live on a key-value service with the same revision semantics.
type Store interface {
	// Get returns the value and revision of key; rev 0 and a nil value if absent.
	Get(ctx context.Context, key string) (value []byte, rev uint64, err error)
	// Put writes key if its current revision is rev and returns the new revision.
	// A nil value deletes the key.
	Put(ctx context.Context, key string, value []byte, rev uint64) (newRev uint64, err error)
	// List returns the keys under prefix, sorted, with their values and revisions.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Close releases the store.
	Close() error
}

// Entry is one key of a Store listing.
type Entry struct {
	Key   string
	Value []byte
	Rev   uint64
}
