package flightserve

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// The store is a bbolt file in the output directory (StoreFile) with four
// buckets:
//
//	puts       put id -> commit time (RFC 3339): puts already committed
//	positions  JSON [dir, pipeline, stream, unit] -> the last MaxPositions
//	           positions committed for that key (see addPosition)
//	flights    descriptor directory -> the descriptor (protobuf)
//	pending    put id -> JSON {dir, txn}: a Parquet transaction recorded but
//	           maybe not committed yet (finished when the server starts)
//
// A put's entries are written in one bbolt transaction after its Parquet
// files are prepared (fsynced, hidden) and before they are renamed into
// place, so a crash anywhere leaves either nothing of the put or a pending
// transaction that the next start completes: the put is stored exactly once.
var (
	bucketPuts      = []byte("puts")
	bucketPositions = []byte("positions")
	bucketFlights   = []byte("flights")
	bucketPending   = []byte("pending")
)

// StoreFile is the name of the server's bbolt file in the output directory;
// the leading dot hides it from readers of the Parquet tree.
const StoreFile = ".flight-serve.db"

// MaxPositions is how many positions the store remembers per (descriptor,
// pipeline, stream, unit). A rerun sends again at most the batches of one
// commit of the sink, so this is far more than dedup needs.
const MaxPositions = 4096

// putTTL is how long put ids are remembered: a sink resends a put within its
// retry.max_elapsed, minutes at most.
const putTTL = 7 * 24 * time.Hour

type store struct {
	db *bbolt.DB
}

func openStore(path string) (*store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("flightserve: open %s: %w (is another flight-serve using this directory?)", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketPuts, bucketPositions, bucketFlights, bucketPending} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		// Forget put ids past their time.
		c := tx.Bucket(bucketPuts).Cursor()
		cutoff := time.Now().Add(-putTTL)
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if t, err := time.Parse(time.RFC3339, string(v)); err != nil || t.Before(cutoff) {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("flightserve: %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// posKey identifies the batches whose positions are compared.
type posKey struct {
	Dir, Pipeline, Stream, Unit string
}

func (k posKey) bytes() []byte {
	b, _ := json.Marshal([]string{k.Dir, k.Pipeline, k.Stream, k.Unit})
	return b
}

// putCommitted reports whether the put id was committed.
func (s *store) putCommitted(id string) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		ok = tx.Bucket(bucketPuts).Get([]byte(id)) != nil
		return nil
	})
	return ok, err
}

// Each posKey has a bucket in bucketPositions holding two buckets: "p" maps
// the SHA-256 of a position (positions can be longer than a bbolt key) to its
// sequence number, "s" maps sequence numbers (big-endian) back, so the oldest
// are found and dropped first.
var (
	bucketByPos = []byte("p")
	bucketBySeq = []byte("s")
)

func positionHash(pos []byte) []byte {
	h := sha256.Sum256(pos)
	return h[:]
}

// positionCommitted reports whether a batch with key k and position pos was
// committed.
func (s *store) positionCommitted(k posKey, pos []byte) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		if kb := tx.Bucket(bucketPositions).Bucket(k.bytes()); kb != nil {
			ok = kb.Bucket(bucketByPos).Get(positionHash(pos)) != nil
		}
		return nil
	})
	return ok, err
}

// addPosition remembers pos under k and forgets the oldest positions past
// MaxPositions.
func addPosition(tx *bbolt.Tx, k posKey, pos []byte) error {
	kb, err := tx.Bucket(bucketPositions).CreateBucketIfNotExists(k.bytes())
	if err != nil {
		return err
	}
	byPos, err := kb.CreateBucketIfNotExists(bucketByPos)
	if err != nil {
		return err
	}
	bySeq, err := kb.CreateBucketIfNotExists(bucketBySeq)
	if err != nil {
		return err
	}
	h := positionHash(pos)
	if byPos.Get(h) != nil {
		return nil
	}
	seq, err := kb.NextSequence()
	if err != nil {
		return err
	}
	sk := binary.BigEndian.AppendUint64(nil, seq)
	if err := byPos.Put(h, sk); err != nil {
		return err
	}
	if err := bySeq.Put(sk, h); err != nil {
		return err
	}
	// Sequence numbers are dropped from the oldest only, so the ones kept
	// are contiguous and the count is last - first + 1.
	c := bySeq.Cursor()
	for first, oldest := c.First(); first != nil && seq-binary.BigEndian.Uint64(first)+1 > MaxPositions; first, oldest = c.First() {
		if err := byPos.Delete(oldest); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// committedPosition is one batch's position to remember.
type committedPosition struct {
	key posKey
	pos []byte
}

// pendingTxn is a recorded Parquet transaction.
type pendingTxn struct {
	Dir string `json:"dir"`
	Txn []byte `json:"txn"`
}

// record writes what a put committed, in one transaction: its id, the
// positions of its batches, its descriptor and, if it wrote files, its
// Parquet transaction as pending.
func (s *store) record(id, dir string, desc *aflight.FlightDescriptor, pos []committedPosition, txn []byte) error {
	rawDesc, err := proto.Marshal(desc)
	if err != nil {
		return fmt.Errorf("flightserve: store: encode descriptor: %w", err)
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if id != "" {
			if err := tx.Bucket(bucketPuts).Put([]byte(id), []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
				return err
			}
		}
		for _, p := range pos {
			if err := addPosition(tx, p.key, p.pos); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketFlights).Put([]byte(dir), rawDesc); err != nil {
			return err
		}
		if txn != nil {
			raw, err := json.Marshal(pendingTxn{Dir: dir, Txn: txn})
			if err != nil {
				return err
			}
			return tx.Bucket(bucketPending).Put([]byte(pendingID(id, txn)), raw)
		}
		return nil
	})
}

// pendingID names a pending transaction: the put id, or for a client that
// sent none, the transaction itself (unique: it names new files).
func pendingID(id string, txn []byte) string {
	if id != "" {
		return id
	}
	return "txn:" + string(txn)
}

// done forgets a pending transaction once it is committed.
func (s *store) done(key string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPending).Delete([]byte(key))
	})
}

// pending returns the recorded transactions not known to be committed.
func (s *store) pending() (map[string]pendingTxn, error) {
	out := map[string]pendingTxn{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			var p pendingTxn
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("flightserve: store: pending %q: %w", k, err)
			}
			out[string(k)] = p
			return nil
		})
	})
	return out, err
}

// flights returns every descriptor received, by directory.
func (s *store) flights() (map[string]*aflight.FlightDescriptor, error) {
	out := map[string]*aflight.FlightDescriptor{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketFlights).ForEach(func(k, v []byte) error {
			d := &aflight.FlightDescriptor{}
			if err := proto.Unmarshal(v, d); err != nil {
				return fmt.Errorf("flightserve: store: descriptor of %q: %w", k, err)
			}
			out[string(k)] = d
			return nil
		})
	})
	return out, err
}
