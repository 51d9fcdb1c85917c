package files

import (
	"fmt"
	"math"
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
	Bytes int64 `yaml:"bytes" doc:"close a file once this many bytes are encoded into it, e.g. 128MiB or 1GB (0: no limit)"`
	// Interval closes a file once it has been open this long, e.g. "5m".
	Interval time.Duration `yaml:"interval" doc:"close a file once it has been open this long, e.g. 5m (0: no limit)"`
}

// UnmarshalYAML decodes a Roll, accepting sizes with units for Bytes. Keys
// that are absent keep the values r already has (defaults).
func (r *Roll) UnmarshalYAML(unmarshal func(any) error) error {
	v := struct {
		Rows     int64         `yaml:"rows"`
		Bytes    byteSize      `yaml:"bytes"`
		Interval time.Duration `yaml:"interval"`
	}{r.Rows, byteSize(r.Bytes), r.Interval}
	if err := unmarshal(&v); err != nil {
		return err
	}
	*r = Roll{Rows: v.Rows, Bytes: int64(v.Bytes), Interval: v.Interval}
	return nil
}

// byteSize is a number of bytes written in YAML as an integer or a string with
// a unit, parsed by go-humanize ("128MiB" is 128<<20, "1GB" is 10^9).
type byteSize int64

func (b *byteSize) UnmarshalYAML(unmarshal func(any) error) error {
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	switch v := v.(type) {
	case nil:
		*b = 0
	case int64:
		*b = byteSize(v)
	case uint64:
		if v > math.MaxInt64 {
			return fmt.Errorf("size %d is too large", v)
		}
		*b = byteSize(v)
	case int:
		*b = byteSize(v)
	case float64: // 1e9
		if v != math.Trunc(v) || v < 0 || v >= math.MaxInt64 {
			return fmt.Errorf("invalid size %v (want a whole number of bytes or a size like 128MiB or 1GB)", v)
		}
		*b = byteSize(v)
	case string:
		n, err := humanize.ParseBytes(v)
		if err != nil || n > math.MaxInt64 {
			return fmt.Errorf("invalid size %q (want a number of bytes or a size like 128MiB or 1GB)", v)
		}
		*b = byteSize(n)
	default:
		return fmt.Errorf("invalid size %v (want a number of bytes or a size like 128MiB or 1GB)", v)
	}
	return nil
}
