package files

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"
)

// Roll says when a Sink closes a file and asks for a commit (config key `roll`).
// A zero field sets no limit; a zero Roll keeps one file per partition and
// stream until the runner commits on its own.
//
// Batches are never split across files to meet a limit: a file is closed
// after the batch that reaches it, so it holds at least Rows rows (or Bytes
// bytes) and at most one batch more.
type Roll struct {
	// Rows closes a file once it holds this many rows.
	Rows int64 `yaml:"rows" doc:"close a file once it holds this many rows (0: no limit)"`
	// Bytes closes a file once this many encoded bytes have been written to it.
	// In YAML it is a number of bytes or a size with a unit: "128MiB", "1GB".
	// Formats that buffer (Parquet row groups) reach the file in steps.
	Bytes ByteSize `yaml:"bytes" doc:"close a file once this many bytes are encoded into it, e.g. 128MiB or 1GB (0: no limit)"`
	// Interval closes a file once it has been open this long, e.g. "5m".
	Interval time.Duration `yaml:"interval" doc:"close a file once it has been open this long, e.g. 5m (0: no limit)"`
}

// ByteSize is a number of bytes, written in a config as an integer or a size with
// a unit, parsed by go-humanize ("128MiB" is 128<<20, "1GB" is 10^9). It decodes
// from text so that the pipeline decoder reports a bad size at its own line.
type ByteSize int64

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := string(text)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*b = ByteSize(n)
		return nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		// A bare number that is not a whole one: bytes do not come in fractions.
		return fmt.Errorf("invalid size %q (want a whole number of bytes or a size like 128MiB or 1GB)", s)
	}
	n, err := humanize.ParseBytes(s)
	if err != nil || n > math.MaxInt64 {
		return fmt.Errorf("invalid size %q (want a number of bytes or a size like 128MiB or 1GB)", s)
	}
	*b = ByteSize(n)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return strconv.AppendInt(nil, int64(b), 10), nil }
