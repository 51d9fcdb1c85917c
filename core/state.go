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
	// Update applies writes, each only if its key's current revision is the one
	// it names, and returns each key's new revision (0 for a deletion). The local
	// store applies them atomically: all or none. A distributed store may apply
	// them in order and stop at the first stale one, so callers keep writes
	// idempotent (the runner's commit record makes them so).
	Update(ctx context.Context, writes ...Write) (revs []uint64, err error)
	// List returns the keys under prefix, sorted, with their values and revisions.
	List(ctx context.Context, prefix string) ([]Entry, error)
	// Close releases the store.
	Close() error
}

// Write is one revision-checked write of an Update. A nil Value deletes Key.
type Write struct {
	Key   string
	Value []byte
	Rev   uint64
}

// Entry is one key of a Store listing.
type Entry struct {
	Key   string
	Value []byte
	Rev   uint64
}
